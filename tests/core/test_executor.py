"""The prepared executor equals qonnx ``execute_onnx`` tensor for tensor, on every graph kind a
clip run executes (the float64 golden step graph, the integer HW graph with its stateful
TemporalShift), and keeps its sanitize rule (non-integers in an integer tensor are an error)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper


def _frames_equal(model, frames, state_names=()):
    """Every tensor of every frame: Executor vs execute_onnx, state threaded through both."""
    from qonnx.core.onnx_exec import execute_onnx

    from tsmfpga.core.clip import reset_state
    from tsmfpga.core.executor import Executor

    exe = Executor(model)
    name = model.graph.input[0].name
    s_in = [i.name for i in model.graph.input[1:]]
    s_out = [o.name for o in model.graph.output[1:]]
    runs = []
    for run in (lambda d: exe(d, full_context=True),
                lambda d: execute_onnx(model, d, return_full_exec_context=True)):
        reset_state(model)
        states = {n: np.zeros(model.get_tensor_shape(n), frames[0].dtype) for n in s_in}
        ctxs = []
        for f in frames:
            ctx = run({name: f, **states})
            states = {a: ctx[b] for a, b in zip(s_in, s_out)}
            ctxs.append(ctx)
        runs.append(ctxs)
        reset_state(model)
    compared = 0
    for mine, theirs in zip(*runs):
        for key, value in theirs.items():
            if key == "":
                continue
            np.testing.assert_array_equal(np.asarray(mine[key]), np.asarray(value), err_msg=key)
            compared += 1
    return compared


def test_golden_step_graph_equals_execute_onnx(tsm_step_graph):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core.float64 import float64_golden

    golden = float64_golden(ModelWrapper(str(tsm_step_graph)))
    shape = golden.get_tensor_shape(golden.graph.input[0].name)
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, shape).astype(np.float64) / 255 for _ in range(3)]
    assert _frames_equal(golden, frames) > 20


def test_hw_graph_with_state_equals_execute_onnx(tsm_build):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core.graph import hw_core

    out, _ = tsm_build
    core = hw_core(ModelWrapper(str(out / "model_hw.onnx")))
    assert any(n.op_type == "TemporalShift" for n in core.graph.node)
    shape = core.get_tensor_shape(core.graph.input[0].name)
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, shape).astype(np.float32) for _ in range(3)]
    assert _frames_equal(core, frames) > 20


def _int_add(value: float):
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    g = helper.make_graph([helper.make_node("Add", ["x", "b"], ["y"], name="add0")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = ModelWrapper(qonnx_make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    model.set_initializer("b", np.full((1, 4), value, np.float32))
    model.set_tensor_datatype("y", DataType["INT4"])
    return model


def test_sanitize_rounds_near_integers_and_refuses_others():
    from tsmfpga.core.errors import UserFacingError
    from tsmfpga.core.executor import Executor

    x = np.arange(4, dtype=np.float32)[None]
    with pytest.warns(UserWarning, match="rounded"):
        y = Executor(_int_add(1.001))({"x": x})["y"]
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(UserFacingError, match="tensor 'y'.*INT4"):
        Executor(_int_add(0.5))({"x": x})


def test_input_shape_is_checked():
    from tsmfpga.core.errors import UserFacingError
    from tsmfpga.core.executor import Executor

    with pytest.raises(UserFacingError, match="input 'x'.*expects"):
        Executor(_int_add(1.0))({"x": np.zeros((2, 4), np.float32)})
