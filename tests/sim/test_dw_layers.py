"""Depthwise and strided convs (issue #12): small Brevitas CNNs (tests/model_zoo.make_dw_cnn) with
(a) a stride-2 regular 3x3 conv, (b) a depthwise 3x3 stride 1, (c) a depthwise 3x3 stride 2 with
per-channel weight scales, (d) a depthwise conv on signed (INT4 HardTanh) activations, and a MobileNetV2-style inverted residual block
(model_zoo.make_inverted_residual), compiled with the real flow: the depthwise convs become
depthwise SWG + VVAU (hw/ops/vvau.py, hw/rtl/vvau.sv), the HW graph in Python is bit-exact with
the QONNX golden, and the stitched RTL simulated with Verilator is bit-exact with the HW graph
(every inter-layer stream tapped) at a fixed latency.

Fast tier: the front end and the folder (no RTL simulation), the VVAU backend's memories against
the graph's weights, the refusal of grouped convs. Slow tier: compile + `tsmfpga sim`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_zoo import DW_KINDS, make_dw_cnn, make_inverted_residual, run_cli


def _export(kind: str, path):
    import torch
    from brevitas.export import export_qonnx

    model, shape = make_inverted_residual() if kind == "inverted_residual" else make_dw_cnn(kind)
    export_qonnx(model, torch.rand(1, *shape), export_path=str(path))
    return path


def _compile(kind: str, tmp_path, stop_step=None, target_fps=None):
    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig

    path = _export(kind, tmp_path / f"{kind}.onnx")
    out = tmp_path / "build"
    report = run_compile(CompileConfig(model_path=path, out=out, target_fps=target_fps, verify_images=16,
                                       stop_step=stop_step), log=lambda *_: None)
    return report, out


def _folded(out):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(sorted((out / "steps").glob("*_fold.onnx"))[0]))


#: (kind, target fps) of the compiled cases: dw_s2 at a target that folds the VVAU to PE 2 < C
CASES = {"conv_s2": None, "dw_s1": None, "dw_s2": 160_000.0, "dw_signed": None, "inverted_residual": None}


# ----------------------------------------------------------------------------- fast tier
@pytest.mark.parametrize("kind", ["dw_s1", "dw_s2"])
def test_depthwise_maps_to_swg_and_vvau_folded_together(kind, tmp_path):
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.hw.ops import owner_for

    _, out = _compile(kind, tmp_path, stop_step="fold", target_fps=CASES[kind])
    m = _folded(out)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("VVAU") == 1 and "MatMul" not in ops, ops
    vvau = next(n for n in m.graph.node if n.op_type == "VVAU")
    v = getCustomOp(vvau)
    swg = m.find_producer(vvau.input[0])
    s = getCustomOp(swg)
    assert swg.op_type == "ConvolutionInputGenerator" and s.get_nodeattr("depthwise") == 1
    stride = 2 if kind == "dw_s2" else 1
    assert list(s.get_nodeattr("Stride")) == [stride, stride]
    assert list(v.get_nodeattr("Kernel")) == [3, 3] and v.get_nodeattr("Channels") == 8
    assert list(v.get_nodeattr("Dim")) == [8 // stride] * 2
    # the folder set the VVAU's PE and the window generator's SIMD together; VVAU SIMD stays 1
    assert v.get_nodeattr("SIMD") == 1 and s.get_nodeattr("SIMD") == v.get_nodeattr("PE")
    assert owner_for(swg).options(m, swg) is None
    fold = json.loads(m.get_metadata_prop("tsmfpga.folding"))
    row = next(r for r in fold["layers"] if r["name"] == vvau.name)
    assert row["pe"] == v.get_nodeattr("PE") and row["cycles"] <= fold["ideal_ii_cycles"]
    assert row["cycles"] == 8 * 9 * (8 // stride) ** 2 // row["pe"]
    assert row["source"] == "analytical" and row["mac_impl"] in ("dsp", "lut")
    assert row["ram_style"] in ("block", "distributed") and v.get_nodeattr("resType") == row["mac_impl"]
    assert row["resources"]["DSP"] == (row["pe"] if row["mac_impl"] == "dsp" else 0)
    if CASES[kind] is not None:  # folded to the target: the least parallel PE where VVAU and SWG meet it
        import copy

        target = fold["target_cycles"]
        assert 1 < row["pe"] < 8
        work = copy.deepcopy(m)
        wv = next(n for n in work.graph.node if n.name == vvau.name)
        assert owner_for(wv).apply(work, wv, {"PE": row["pe"], "SIMD": 1}) <= target
        smaller = max(p for p in (1, 2, 4) if p < row["pe"])
        assert owner_for(wv).apply(work, wv, {"PE": smaller, "SIMD": 1}) > target


def test_vvau_backend_memories_hold_the_graph_weights(tmp_path):
    """The VVAU RTL instance: weight words hold W[g*PE+p, k] of the graph's initializer, the
    accumulator holds the real range, thresholds clipped into it, latency KERNEL + 4."""
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.hw.ops import owner_for
    from tsmfpga.hw.ops.owner import bits_signed
    from tsmfpga.hw.ops.vvau import vvau_accumulator_range, vvau_latency, vvau_weights

    _, out = _compile("dw_s2", tmp_path, stop_step="fold", target_fps=CASES["dw_s2"])
    m = _folded(out)
    node = next(n for n in m.graph.node if n.op_type == "VVAU")
    inst = owner_for(node).rtl(m, node, {})
    prm = inst.params
    pe, k, ch = prm["PE"], prm["KERNEL"], prm["CHANNELS"]
    assert (pe, k, ch) == (getCustomOp(node).get_nodeattr("PE"), 9, 8) and pe < ch
    w = vvau_weights(m, node).astype(np.int64)
    words = [int(x, 16) for x in inst.files[prm["WEIGHT_FILE"]].split()]
    assert len(words) == ch // pe * k
    wb, mask = prm["W_BITS"], (1 << prm["W_BITS"]) - 1
    for g in range(ch // pe):
        for kk in range(k):
            lanes = [(words[g * k + kk] >> (q * wb)) & mask for q in range(pe)]
            lanes = [v - (1 << wb) if prm["W_SIGNED"] and v >> (wb - 1) else v for v in lanes]
            assert lanes == [w[g * pe + q, kk] for q in range(pe)]
    # per-channel weight scales were folded into the thresholds: channels really differ
    assert len({tuple(r) for r in np.asarray(m.get_initializer(node.input[2]))}) > 1
    lo, hi = vvau_accumulator_range(w, m.get_tensor_datatype(node.input[0]))
    assert prm["ACC_BITS"] >= bits_signed(lo, hi) and prm["NSTEPS"] == 15
    assert inst.latency_cycles == vvau_latency(9) == 13
    assert inst.inputs[0].lanes == pe and inst.outputs[0].lanes == pe
    # the declared decisions reach the RTL; an invalid one names the node and the field
    from tsmfpga.hw.backend import BackendError

    op = getCustomOp(node)
    for res_type, ram_style in (("lut", "block"), ("dsp", "distributed")):
        op.set_nodeattr("resType", res_type)
        op.set_nodeattr("ram_style", ram_style)
        p2 = owner_for(node).rtl(m, node, {}).params
        assert (p2["MAC_IMPL"], p2["RAM_STYLE"]) == (res_type, ram_style)
    for a in node.attribute:
        if a.name == "ram_style":
            a.s = b"ultra_fast"
    with pytest.raises(BackendError, match=rf"node {node.name} .*ram_style = 'ultra_fast'"):
        owner_for(node).rtl(m, node, {})


def test_grouped_conv_is_refused_by_name(tmp_path):
    import torch
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.export import export_qonnx
    from brevitas.quant import Uint8ActPerTensorFloat

    from tsmfpga.core.errors import UserFacingError
    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(1, 8, 3, padding=1, bias=False, weight_bit_width=4)
            self.act1 = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.conv2 = qnn.QuantConv2d(8, 8, 3, padding=1, groups=2, bias=False, weight_bit_width=4)
            self.act2 = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)

        def forward(self, x):
            return self.act2(self.conv2(self.act1(self.conv1(self.inp(x)))))

    path = tmp_path / "grouped.onnx"
    export_qonnx(M().eval(), torch.rand(1, 1, 8, 8), export_path=str(path))
    with pytest.raises(UserFacingError, match=r"Conv.*groups=2.*depthwise"):
        run_compile(CompileConfig(model_path=path, out=tmp_path / "b"), log=lambda *_: None)


def test_unquantized_depthwise_input_gets_depthwise_advice(tmp_path):
    """A depthwise conv fed by a float BatchNorm output (no activation quantizer): check_mapped
    names its MatMul as a depthwise conv and says what to add."""
    import torch
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.export import export_qonnx
    from brevitas.quant import Uint8ActPerTensorFloat

    from tsmfpga.core.errors import UserFacingError
    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(1, 8, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn1 = nn.BatchNorm2d(8)
            self.dw = qnn.QuantConv2d(8, 8, 3, padding=1, groups=8, bias=False, weight_bit_width=4)
            self.act = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)

        def forward(self, x):
            return self.act(self.dw(self.bn1(self.conv1(self.inp(x)))))

    torch.manual_seed(0)
    model = M().train()
    with torch.no_grad():  # non-trivial BN statistics: the BN stays a float affine op
        for _ in range(3):
            model(torch.rand(8, 1, 8, 8))
    path = tmp_path / "unquantized_dw.onnx"
    export_qonnx(model.eval(), torch.rand(1, 1, 8, 8), export_path=str(path))
    with pytest.raises(UserFacingError) as exc:
        run_compile(CompileConfig(model_path=path, out=tmp_path / "b", stop_step="check_mapped"), log=lambda *_: None)
    line = next(ln for ln in str(exc.value).splitlines() if "(MatMul)" in ln)
    assert "depthwise conv" in line and "QuantReLU / QuantIdentity right before it" in line
    assert "float input tensor" in line


# ----------------------------------------------------------------------------- slow tier
@pytest.mark.slow
@pytest.mark.parametrize("kind", list(CASES))
def test_compile_and_stitched_rtl_bit_exact(kind, tmp_path):
    report, out = _compile(kind, tmp_path, target_fps=CASES[kind])
    pe = report["python_exec"]
    assert pe["bit_exact"] is True and pe["mismatches"] == 0 and pe["values"] > 0, pe["traces"][:5]
    ops = report["ops"]
    if kind == "conv_s2":
        assert "VVAU" not in ops and ops.get("MVAU", 0) >= 3
    else:
        assert ops.get("VVAU") == 1, ops
    if kind == "dw_signed":  # the VVAU really takes signed activations
        from qonnx.core.modelwrapper import ModelWrapper

        hw = ModelWrapper(str(out / "model_hw.onnx"))
        vvau = next(n for n in hw.graph.node if n.op_type == "VVAU")
        assert hw.get_tensor_datatype(vvau.input[0]).signed()
    if kind == "inverted_residual":
        assert {"DuplicateStreams", "ElementwiseAdd"} <= set(ops), ops
    proc = run_cli("sim", str(out), "--clips", "6")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads((out / "sim" / "report.json").read_text())
    assert r["source"] == "rtl_sim" and r["bit_exact"] is True and r["mismatches"] == 0 and r["values"] > 0
    assert r["golden"]["hw_graph_vs_qonnx_mismatches"] == 0
    lat = r["latency_cycles"]
    assert lat["max"] - lat["min"] == 0, lat
    assert r["taps"]["first_divergence"] is None and r["taps"]["mismatching_streams"] == 0
    assert not r["timeout"] and r["efficiency"] >= 0.9, (r["ii_cycles"], r["ideal_ii_cycles"])
