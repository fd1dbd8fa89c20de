"""The TSM step graph through the FINN front end: only HW layers (+ our TemporalShift) remain, and
the HW graph executed in Python equals the QONNX golden on whole clips, frame by frame."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_zoo import export_random_tsm

T_FRAMES, N_CLIPS, SIZE = 8, 4, 16


@pytest.fixture(scope="module")
def step_graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("tsm") / "step.onnx"
    net = export_random_tsm(path, SIZE, (8, 16), T_FRAMES, num_classes=10, seed=0)
    return path, net.state_shapes()


@pytest.fixture(scope="module")
def hw_graph(step_graph, tmp_path_factory):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.flow.steps import front_end as to_hw_graph

    toolenv.prepare_finn_env(tmp_path_factory.mktemp("finn"))
    return to_hw_graph(ModelWrapper(str(step_graph[0])))


def _clips(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (N_CLIPS, T_FRAMES, 1, SIZE, SIZE)).astype(np.float32)


def test_temporal_shift_numpy_state():
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import qonnx_make_model

    from tsmfpga.hw.ops import DOMAIN, make_temporal_shift_node, reset_state

    h, w, c, k = 2, 3, 8, 2
    node = make_temporal_shift_node("x", "y", c, k, (h, w), "NHWC", "UINT4", name="ts")
    assert node.domain == DOMAIN
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, h, w, c])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, h, w, c])])
    model = ModelWrapper(qonnx_make_model(g))
    model.set_tensor_datatype("x", DataType["UINT4"])
    op = getCustomOp(model.graph.node[0])
    assert op.get_normal_input_shape() == (1, h, w, c)
    assert op.get_folded_input_shape() == (1, h, w, c, 1)
    assert op.get_instream_width() == 4 and op.buffer_bits() == h * w * k * 4
    assert op.verify_node() == ["TemporalShift attributes OK"]

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 16, (4, 1, h, w, c)).astype(np.float32)
    reset_state()
    outs = [execute_onnx(model, {"x": f})["y"] for f in frames]
    assert np.array_equal(outs[0][..., :k], np.zeros((1, h, w, k)))  # clip start: zeros
    for t in range(len(frames)):
        assert np.array_equal(outs[t][..., k:], frames[t][..., k:])
        if t:
            assert np.array_equal(outs[t][..., :k], frames[t - 1][..., :k])
    reset_state(model)  # clip start again: the buffer is cleared
    again = execute_onnx(model, {"x": frames[1]})["y"]
    assert np.array_equal(again[..., :k], np.zeros((1, h, w, k)))


def test_insert_temporal_shift_keeps_function(step_graph, tmp_path):
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from tsmfpga.core import toolenv
    from tsmfpga.flow.transforms.io_prep import AnnotateNCHWInputs, NormalizeTruncRounding
    from tsmfpga.flow.transforms.temporal_shift import InsertTemporalShift
    from tsmfpga.core.clip import run_clip as run_hw_clip
    from tsmfpga.flow.transforms.tsm_frontend import tidy_steps
    from tsmfpga.hw.ops import reset_state

    toolenv.prepare_finn_env(tmp_path)
    before = ModelWrapper(str(step_graph[0]))
    for t in tidy_steps() + [NormalizeTruncRounding(), AnnotateNCHWInputs(), ConvertQONNXtoFINN()]:
        before = before.transform(t)
    after = before.transform(InsertTemporalShift())
    records = json.loads(after.get_metadata_prop("tsmfpga.temporal_shift"))
    assert len(records) == len(step_graph[1]) == 2
    assert [n.op_type for n in after.graph.node].count("TemporalShift") == 2
    assert len(after.graph.input) == 1 and len(after.graph.output) == 1

    clip = _clips(1)[0] / 255.0
    frame_in, logits = before.graph.input[0].name, before.graph.output[0].name
    states = {r["state_in"]: np.zeros(before.get_tensor_shape(r["state_in"]), np.float32) for r in records}
    ref = []
    for f in clip:
        out = execute_onnx(before, {frame_in: f[None], **states})
        states = {r["state_in"]: out[r["state_out"]] for r in records}
        ref.append(out[logits])
    reset_state()
    got = run_hw_clip(after, [f[None] for f in clip])
    assert np.array_equal(np.stack(got), np.stack(ref))


def test_tsm_step_graph_to_hw_layers(hw_graph):
    from tsmfpga.core.graph import non_hw_nodes, op_histogram, postproc_nodes

    hist = op_histogram(hw_graph)
    print("HW graph:", hist)
    assert non_hw_nodes(hw_graph) == [], f"non-HW nodes left: {non_hw_nodes(hw_graph)}; graph: {hist}"
    assert hist.get("TemporalShift") == 2
    assert [n.op_type for n in postproc_nodes(hw_graph)] == ["Mul", "Add", "Reshape"]
    inp = hw_graph.graph.input[0].name
    assert hw_graph.get_tensor_datatype(inp).name == "UINT8"
    assert hw_graph.get_tensor_shape(inp) == [1, SIZE, SIZE, 1]
    meta = json.loads(hw_graph.get_metadata_prop("tsmfpga.hw_input"))
    assert meta["zero_point"] == 0 and abs(meta["scale"] - 1 / 255) < 1e-9 and meta["layout"] == "NHWC"
    assert len(hw_graph.graph.input) == 1 and len(hw_graph.graph.output) == 1


def test_hw_graph_equals_golden_on_clips(step_graph, hw_graph):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from tsmfpga.core.clip import run_clip as run_hw_clip
    from tsmfpga.core.float64 import float64_golden
    from tsmfpga.core.graph import postproc_nodes, split_postproc

    path, state_shapes = step_graph
    golden_model = float64_golden(ModelWrapper(str(path)))  # the quantized model without float32 noise
    hw, post = split_postproc(hw_graph)
    mul, add = postproc_nodes(hw_graph)[:2]
    scale = float(hw_graph.get_initializer(mul.input[1]).flatten()[0])
    bias = hw_graph.get_initializer(add.input[1]).reshape(-1)
    cut = hw.graph.output[0].name

    mismatches, total, worst_logit, worst_acc = 0, 0, 0.0, 0.0
    for clip in _clips(0):
        golden = np.stack([o.reshape(-1) for o in run_hw_clip(golden_model, [f[None] for f in (clip / 255.0)])])
        accs = run_hw_clip(hw, [f.transpose(1, 2, 0)[None] for f in clip])  # NHWC pixel codes
        for t, acc in enumerate(accs):
            acc = acc.reshape(-1)
            assert np.array_equal(acc, np.round(acc)), "HW accumulator is not integer"
            logits = execute_onnx(post, {cut: accs[t]})[post.graph.output[0].name].reshape(-1)
            worst_logit = max(worst_logit, float(np.abs(logits - golden[t]).max()))
            implied = (golden[t] - bias) / scale  # the golden's accumulator, up to float error
            worst_acc = max(worst_acc, float(np.abs(implied - acc).max()))
            mismatches += int((np.round(implied) != acc).sum())
            total += acc.size
    print(f"{mismatches} mismatches of {total} accumulator values; max |acc diff| {worst_acc:.3g}, "
          f"max |logit diff| {worst_logit:.3g}")
    assert mismatches == 0
    assert worst_logit < 1e-4


def test_thresholds_are_decided_in_float64(step_graph, tmp_path_factory):
    """qonnx_to_finn .. streamline run on a float64 graph; streamline hands over a float32 graph
    whose integer-input thresholds are integers (and says so in its record)."""
    from onnx import TensorProto
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.core.records import get_meta
    from tsmfpga.flow.steps import front_end

    toolenv.prepare_finn_env(tmp_path_factory.mktemp("finn64"))
    seen = {}

    def log(step, model):
        if step in ("qonnx_to_finn", "temporal_shift", "streamline"):
            seen[step] = (model.graph.input[0].type.tensor_type.elem_type,
                          {i.data_type for i in model.graph.initializer} - {TensorProto.INT64},
                          ModelWrapper(model.model))

    front_end(ModelWrapper(str(step_graph[0])), log)
    assert seen["qonnx_to_finn"][:2] == (TensorProto.DOUBLE, {TensorProto.DOUBLE})
    assert seen["temporal_shift"][:2] == (TensorProto.DOUBLE, {TensorProto.DOUBLE})
    assert seen["streamline"][:2] == (TensorProto.FLOAT, {TensorProto.FLOAT})
    model = seen["streamline"][2]
    mts = [n for n in model.graph.node if n.op_type == "MultiThreshold"
           and model.get_tensor_datatype(n.input[0]).is_integer()]
    assert mts
    for n in mts:
        t = model.get_initializer(n.input[1])
        assert np.array_equal(t, np.round(t)), n.name
    record = get_meta(model, "tsmfpga.integer_thresholds")
    assert record.nodes == len(mts) and record.thresholds == sum(model.get_initializer(n.input[1]).size for n in mts)
