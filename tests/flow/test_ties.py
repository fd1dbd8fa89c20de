"""HalfEvenTies: a MultiThreshold on integer accumulators rounds exact ties to the even level, as
the quantizer it came from (round half to even) does; FINN's ``x >= t`` alone rounds them up."""

from __future__ import annotations

import numpy as np
import pytest


def _mt_graph(thresholds: np.ndarray, out_bias: float, in_type: str = "INT8"):
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    n = thresholds.shape[-1]
    node = helper.make_node("MultiThreshold", ["x", "t"], ["y"], domain="qonnx.custom_op.general",
                            out_dtype="INT4" if out_bias < 0 else "UINT4", out_bias=float(out_bias))
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])])
    model = ModelWrapper(qonnx_make_model(g))
    model.set_initializer("t", thresholds.astype(np.float32).reshape(1, n))
    model.set_tensor_datatype("x", DataType[in_type])
    return model


def _run(model, x):
    from qonnx.core.onnx_exec import execute_onnx

    return execute_onnx(model, {"x": x.astype(np.float32)})["y"]


@pytest.mark.parametrize("out_bias", [0.0, -8.0])
@pytest.mark.parametrize("jitter", [0.0, -1e-7, 1e-7])   # float32 error on the streamlined threshold
def test_exact_ties_round_to_even_like_the_quantizer(out_bias, jitter):
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds

    from tsmfpga.flow.transforms.ties import HalfEvenTies

    levels = 15
    # quantizer: level = clip(round_half_even(x / 2), 0, 15) + out_bias; ties at x = 2j + 1
    thr = (2.0 * np.arange(levels) + 1.0) * (1 + jitter)
    x = np.arange(-4, 60)[None, :]
    want = np.clip(np.round(x / 2.0), 0, levels) + out_bias
    plain = _mt_graph(thr, out_bias).transform(RoundAndClipThresholds())
    assert not np.array_equal(_run(plain, x), want), "x >= t alone rounds every tie up"
    fixed = _mt_graph(thr, out_bias).transform(HalfEvenTies()).transform(RoundAndClipThresholds())
    np.testing.assert_array_equal(_run(fixed, x), want)


def test_non_ties_and_float_inputs_untouched():
    from tsmfpga.flow.transforms.ties import HalfEvenTies

    thr = np.arange(15) + 0.37
    model, changed = HalfEvenTies().apply(_mt_graph(thr, 0.0))
    assert not changed
    model, changed = HalfEvenTies().apply(_mt_graph(np.arange(15) + 1.0, 0.0, in_type="FLOAT32"))
    assert not changed
