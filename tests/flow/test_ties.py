"""ExactIntegerThresholds: a MultiThreshold on integer accumulators gets integer thresholds decided
in float64; exact ties go to the even level, as the quantizer it came from (round half to even)
does (FINN's ``x >= t`` alone rounds them up); near-ties that float32 cannot tell from a tie do not."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _mt_graph(thresholds: np.ndarray, out_bias: float, in_type: str = "INT32"):
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    n = thresholds.shape[-1]
    node = helper.make_node("MultiThreshold", ["x", "t"], ["y"], domain="qonnx.custom_op.general",
                            out_dtype="INT4" if out_bias < 0 else "UINT4", out_bias=float(out_bias), name="mt")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])])
    model = ModelWrapper(qonnx_make_model(g))
    model.set_initializer("t", np.asarray(thresholds, np.float64).reshape(1, n))  # the float64 front end
    model.set_tensor_datatype("x", DataType[in_type])
    return model


def _run(model, x):
    from qonnx.core.onnx_exec import execute_onnx

    return execute_onnx(model, {"x": np.asarray(x, np.float32)})["y"]


def _exact(model):
    from tsmfpga.flow.transforms.ties import ExactIntegerThresholds

    return model.transform(ExactIntegerThresholds())


@pytest.mark.parametrize("out_bias", [0.0, -8.0])
@pytest.mark.parametrize("jitter", [0.0, -3e-14, 3e-14])   # float64 error on the streamlined threshold
def test_exact_ties_round_to_even_like_the_quantizer(out_bias, jitter):
    levels = 15
    # quantizer: level = clip(round_half_even(x / 2), 0, 15) + out_bias; ties at x = 2j + 1
    thr = (2.0 * np.arange(levels) + 1.0) * (1 + jitter)
    x = np.arange(-4, 60)[None, :]
    want = np.clip(np.round(x / 2.0), 0, levels) + out_bias
    assert not np.array_equal(_run(_mt_graph(thr, out_bias), x), want), "x >= t alone rounds every tie up"
    fixed = _exact(_mt_graph(thr, out_bias))
    np.testing.assert_array_equal(_run(fixed, x), want)
    t = fixed.get_initializer("t")
    assert np.array_equal(t, np.round(t)), "thresholds are integers"
    record = json.loads(fixed.get_metadata_prop("tsmfpga.integer_thresholds"))
    assert record["exact_ties"] == levels and record["thresholds"] == levels


@pytest.mark.parametrize("offset", [1e-6, -1e-6, 2.5e-7])
def test_near_ties_are_not_ties(offset):
    """A float32-sized distance from an integer is real in float64: ``x >= t`` decides, not the tie
    rule (the old float32 tie tolerance moved such thresholds of the trained camera model)."""
    thr = 2.0 * np.arange(15) + 1.0 + offset
    x = np.arange(-4, 60)[None, :]
    want = (x[..., None] >= thr).sum(-1)
    fixed = _exact(_mt_graph(thr, 0.0))
    np.testing.assert_array_equal(_run(fixed, x), want)
    assert json.loads(fixed.get_metadata_prop("tsmfpga.integer_thresholds"))["exact_ties"] == 0


def test_wide_accumulator_threshold_needs_float64():
    """First-layer thresholds near 2e5 (a float32 ulp is 1/64 there): a threshold 0.003 above an
    integer reads as that integer in float32 (and ``x = n`` would pass); in float64 it is n + 1."""
    n = 180473
    thr = n + 0.003 + 2.0 * np.arange(15)
    assert np.ceil(np.float32(thr[0])) == n, "the float32 threshold lands on the wrong integer"
    fixed = _exact(_mt_graph(thr, 0.0))
    x = np.array([[n - 1, n, n + 1, n + 2, n + 3]] + [[0] * 5])[:1]
    x = np.pad(x, ((0, 0), (0, 64 - x.shape[1])))
    got = _run(fixed, x)[0, :5]
    np.testing.assert_array_equal(got, [0, 0, 1, 1, 2])


def test_float_inputs_untouched_and_too_wide_thresholds_raise():
    from tsmfpga.core.errors import UserFacingError

    thr = np.arange(15) + 1.37
    model = _exact(_mt_graph(thr, 0.0, in_type="FLOAT32"))
    np.testing.assert_array_equal(model.get_initializer("t").reshape(-1), thr)
    assert model.get_metadata_prop("tsmfpga.integer_thresholds") is None
    with pytest.raises(UserFacingError, match=r"mt \(MultiThreshold\).*2\^24"):
        _exact(_mt_graph(np.arange(15) * 2.0**22 + 0.5, 0.0))
