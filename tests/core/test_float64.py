"""The float64 golden: a QONNX graph retyped to float64, with the ops that run in float32 only
(onnxruntime Conv/AveragePool, qonnx Quant's output cast) executed by float64 stand-ins of the
same semantics."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper


def _graph(node, x_shape, y_shape, inits):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)])
    model = ModelWrapper(qonnx_make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    for name, value in inits.items():
        model.set_initializer(name, value)
    return model


def _both(model, x):
    """(float32 execution by onnxruntime/qonnx, float64 golden execution)."""
    from qonnx.core.onnx_exec import execute_onnx

    from tsmfpga.core.float64 import float64_golden

    y32 = execute_onnx(model, {"x": x.astype(np.float32)})["y"]
    gold = float64_golden(model)
    y64 = execute_onnx(gold, {"x": x.astype(np.float64)})["y"]
    return y32, y64, gold


CONVS = [
    dict(pads=[1, 1, 1, 1], strides=[1, 1], group=1, cin=3, cout=5),
    dict(pads=[0, 1, 2, 1], strides=[2, 2], group=1, cin=3, cout=4),    # asymmetric padding, stride 2
    dict(pads=[1, 1, 1, 1], strides=[2, 2], group=6, cin=6, cout=6),    # depthwise
]


@pytest.mark.parametrize("case", CONVS)
def test_conv_float64_equals_onnxruntime(case):
    rng = np.random.default_rng(0)
    cin, cout, g = case["cin"], case["cout"], case["group"]
    w = rng.normal(size=(cout, cin // g, 3, 3)).astype(np.float32)
    b = rng.normal(size=(cout,)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=case["pads"],
                            strides=case["strides"], group=g, name="conv")
    x = rng.normal(size=(1, cin, 9, 9))
    p = case["pads"]
    s = case["strides"][0]
    oh, ow = (9 + p[0] + p[2] - 3) // s + 1, (9 + p[1] + p[3] - 3) // s + 1
    y32, y64, gold = _both(_graph(node, [1, cin, 9, 9], [1, cout, oh, ow], {"w": w, "b": b}), x)
    assert gold.graph.node[0].domain == "tsmfpga.core.f64ops"
    assert y64.dtype == np.float64 and y64.shape == y32.shape
    np.testing.assert_allclose(y64, y32, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pads,include", [([0, 0, 0, 0], 0), ([1, 1, 1, 1], 0), ([1, 1, 1, 1], 1), ([0, 0, 1, 1], 0)])
def test_average_pool_float64_equals_onnxruntime(pads, include):
    rng = np.random.default_rng(1)
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=pads,
                            count_include_pad=include, name="pool")
    oh = (8 + pads[0] + pads[2] - 2) // 2 + 1
    ow = (8 + pads[1] + pads[3] - 2) // 2 + 1
    y32, y64, _ = _both(_graph(node, [1, 3, 8, 8], [1, 3, oh, ow], {}), rng.normal(size=(1, 3, 8, 8)))
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y64, y32, rtol=1e-6, atol=1e-6)


def test_quant_output_stays_float64():
    """q * scale in float64: qonnx's own Quant rounds it to float32 (the golden must not)."""
    scale = np.float32(0.0123456789)
    node = helper.make_node("Quant", ["x", "s", "z", "bw"], ["y"], domain="qonnx.custom_op.general",
                            signed=0, narrow=0, rounding_mode="ROUND", name="q")
    model = _graph(node, [1, 64], [1, 64], {"s": np.array(scale, np.float32), "z": np.array(0.0, np.float32),
                                             "bw": np.array(8.0, np.float32)})
    x = np.arange(64, dtype=np.float64)[None] * float(scale) * 3.0
    y32, y64, _ = _both(model, x)
    want = np.clip(np.round(x / float(scale)), 0, 255) * float(scale)   # exact levels, float64
    np.testing.assert_array_equal(y64, want)
    assert not np.array_equal(y32.astype(np.float64), want), "float32 output rounds q * scale"


def test_unsupported_attributes_raise():
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], auto_pad="SAME_UPPER", name="c")
    model = _graph(node, [1, 1, 5, 5], [1, 1, 5, 5], {"w": np.ones((1, 1, 3, 3), np.float32)})
    from qonnx.core.onnx_exec import execute_onnx

    from tsmfpga.core.float64 import float64_golden

    with pytest.raises(ValueError, match="c \\(Conv\\): auto_pad"):
        execute_onnx(float64_golden(model), {"x": np.ones((1, 1, 5, 5))})


def test_run_clip_threads_float64_state(tmp_path):
    """A TSM step graph's float64 golden runs whole clips (state in float64) and agrees with the
    float32 golden away from rounding ties."""
    from model_zoo import export_random_tsm
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core.clip import run_clip
    from tsmfpga.core.float64 import float64_golden, is_float64

    export_random_tsm(tmp_path / "s.onnx", 16, (8, 16), 4, num_classes=10, seed=0)
    model = ModelWrapper(str(tmp_path / "s.onnx"))
    gold = float64_golden(model)
    assert is_float64(gold) and not is_float64(model)
    frames = [np.random.default_rng(t).integers(0, 256, (1, 1, 16, 16)) / 255.0 for t in range(4)]
    a, b = run_clip(model, frames), run_clip(gold, frames)
    assert all(y.dtype == np.float64 for y in b)
    np.testing.assert_allclose(np.stack(b), np.stack(a), rtol=1e-4, atol=1e-4)


def test_front_end_float64_region_executes_conv_and_returns_home():
    """The compiler's float64 region: Conv runs through the float64 stand-in, so FINN's
    MoveAddPastConv (which executes the Conv on a constant) works there and keeps the function;
    to_float32 puts every op back in its own domain and drops the extra opset import."""
    from finn.transformation.streamline.reorder import MoveAddPastConv
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.basic import qonnx_make_model

    from tsmfpga.core.float64 import F64_DOMAIN, executable_float64, to_float32

    rng = np.random.default_rng(3)
    add = helper.make_node("Add", ["x", "a"], ["t"], name="add")
    conv = helper.make_node("Conv", ["t", "w"], ["y"], kernel_shape=[3, 3], pads=[0, 0, 0, 0], name="conv")
    g = helper.make_graph([add, conv], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])],
                          value_info=[helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 3, 6, 6])])
    model = ModelWrapper(qonnx_make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    model.set_initializer("a", (rng.normal(size=(1, 3, 1, 1)) / 3).astype(np.float32))
    model.set_initializer("w", rng.normal(size=(4, 3, 3, 3)).astype(np.float32))
    f64 = executable_float64(model)
    assert [n.domain for n in f64.graph.node] == ["", F64_DOMAIN]
    x = rng.normal(size=(1, 3, 6, 6))
    before = execute_onnx(f64, {"x": x})["y"]
    moved = f64.transform(MoveAddPastConv())
    assert [n.op_type for n in moved.graph.node] == ["Conv", "Add"], "the Add moved past the Conv"
    after = execute_onnx(moved, {"x": x})["y"]
    assert after.dtype == np.float64
    np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-12)
    back = to_float32(moved)
    assert {n.domain for n in back.graph.node} == {""}
    assert all(i.domain != F64_DOMAIN for i in back.model.opset_import)
    np.testing.assert_allclose(execute_onnx(back, {"x": x.astype(np.float32)})["y"], before, rtol=1e-4, atol=1e-4)
