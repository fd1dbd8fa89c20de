"""Diagnostic (not part of the tests): is a HW-graph-vs-golden mismatch float32 rounding in the golden?

Runs the QONNX golden of ``out/camera/qat`` in float64 (Conv and AveragePool through torch, since
onnxruntime has no float64 kernels for them on CPU) beside the float32 golden and a compiled HW
graph, clip by clip with state, and counts mismatching output values against each:

    .venv/bin/python scripts/diag_golden_f64.py out/camera/compile/steps/10_fold.onnx 16 [clip,clip,...]

Found with it (2026-12-01): with HalfEvenTies' tolerance off, the camera HW graph equals the float64
golden on all 1,280 values; the float32 golden differs on 50.
"""
import json, sys
import numpy as np, onnx
from onnx import TensorProto, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from tsmfpga.core.clip import run_clip, to_nhwc, dequantize, load_codes
from tsmfpga.core.graph import hw_core, output_affine
from tsmfpga.core.records import HwInput, get_meta

gold32 = ModelWrapper("out/camera/qat/model.onnx")
m = onnx.load("out/camera/qat/model.onnx")
for init in m.graph.initializer:
    if init.data_type == TensorProto.FLOAT:
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float64), init.name))
for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
    if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
        vi.type.tensor_type.elem_type = TensorProto.DOUBLE
for n in m.graph.node:
    if n.op_type == "Constant":
        for a in n.attribute:
            if a.t and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float64)))
gold64 = ModelWrapper(m)
import torch
import qonnx.core.onnx_exec as oe
from onnx import helper
_orig = oe.execute_node
MODE = [False]
def patched(node, ctx, graph, *a, **k):
    if node.op_type == "Conv" and MODE[0]:
        at = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        x = torch.from_numpy(np.asarray(ctx[node.input[0]], np.float64)); w = torch.from_numpy(np.asarray(ctx[node.input[1]], np.float64))
        b = torch.from_numpy(ctx[node.input[2]]) if len(node.input) > 2 and node.input[2] else None
        p = at.get("pads", [0, 0, 0, 0]); assert p[0] == p[2] and p[1] == p[3], p
        y = torch.nn.functional.conv2d(x, w, b, stride=tuple(at.get("strides", [1, 1])), padding=(p[0], p[1]),
                                       dilation=tuple(at.get("dilations", [1, 1])), groups=at.get("group", 1))
        ctx[node.output[0]] = y.numpy(); return
    if MODE[0] and node.op_type == "AveragePool":
        at = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        x = torch.from_numpy(np.asarray(ctx[node.input[0]], np.float64))
        p = at.get("pads", [0, 0, 0, 0]); assert not any(p), p
        ctx[node.output[0]] = torch.nn.functional.avg_pool2d(x, tuple(at["kernel_shape"]), tuple(at.get("strides", at["kernel_shape"]))).numpy()
        return
    if MODE[0]:
        for i in node.input:
            if i and isinstance(ctx.get(i), np.ndarray) and ctx[i].dtype == np.float32:
                ctx[i] = ctx[i].astype(np.float64)
    r = _orig(node, ctx, graph, *a, **k)
    if MODE[0]:
        for o in node.output:
            if isinstance(ctx.get(o), np.ndarray) and ctx[o].dtype == np.float32:
                ctx[o] = ctx[o].astype(np.float64)
    return r
oe.execute_node = patched
hw = ModelWrapper(sys.argv[1])
meta = get_meta(hw, "tsmfpga.hw_input") or HwInput()
core, pp = hw_core(hw), output_affine(hw)
frames = json.loads(gold32.get_metadata_prop("tsmfpga.frames") or "8")
shape = tuple(gold32.get_tensor_shape(gold32.graph.input[0].name)[1:])
codes = load_codes("out/camera/qat/test_clips.npy", (frames, *shape))
nclips = int(sys.argv[2])

def run64(model, clip):
    name, out = model.graph.input[0].name, model.graph.output[0].name
    s_in = [i.name for i in model.graph.input[1:]]; s_out = [o.name for o in model.graph.output[1:]]
    st = {n: np.zeros(model.get_tensor_shape(n), np.float64) for n in s_in}
    res = []
    MODE[0] = True
    for f in clip:
        ctx = execute_onnx(model, {name: dequantize(f, meta.scale, meta.zero_point)[None].astype(np.float64), **st})
        st = {a: ctx[b] for a, b in zip(s_in, s_out)}
        res.append(np.asarray(ctx[out], np.float64))
    MODE[0] = False
    return res

tot = {"32": 0, "64": 0}
for c in [int(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 else range(nclips):
    clip = codes[c]
    h = run_clip(core, [to_nhwc(f, meta.layout) for f in clip])
    g32 = run_clip(gold32, [dequantize(f, meta.scale, meta.zero_point)[None] for f in clip])
    g64 = run64(gold64, clip)
    for t in range(len(clip)):
        got = h[t].reshape(-1).astype(np.float64)
        for k, g in (("32", g32[t]), ("64", g64[t])):
            imp = (g.reshape(-1).astype(np.float64) - pp[1]) / pp[0]
            bad = int((np.round(imp) != got).sum()); tot[k] += bad
            if bad: print("clip", c, "frame", t, "golden", k, "mismatches", bad, flush=True)
print("total", tot, "of", nclips * frames * 10)
