"""Integer thresholds, decided in float64, with exact rounding ties to even as the quantizer does.

Once streamlining has turned a MultiThreshold's input into an integer accumulator, ``x >= t`` is
``x >= ceil(t)``: the threshold can be an integer. Which integer depends on digits float32 does
not have: the first layer of the trained camera model has thresholds near 2e5, where a float32
ulp is 1/64, and its float32 thresholds were up to 0.08 off (ceil landed on the wrong integer
for 2 of 32,100; 10 more sat within 2.5e-7 of an integer without being one). So the front end
computes thresholds in float64 (:mod:`tsmfpga.core.float64`) and :class:`ExactIntegerThresholds`
makes them integers before the graph returns to float32.

Exact ties: a Brevitas/QONNX ``Quant`` with ``rounding_mode="ROUND"`` rounds a value exactly
halfway between two levels to the EVEN one (numpy / torch ``round``); ``MultiThreshold`` counts
``x >= t``, so an accumulator exactly at a threshold goes UP (found in a random-weight MobileNetV2
TSM: accumulator 36, threshold 36, the quantizer gave level 2 (2.5 -> 2), the HW graph level 3).
A threshold within :data:`TIE_RTOL` (relative, float64: ~1e6 times the rounding error of the few
float64 operations behind it) of an integer ``n`` is that exact tie: it becomes ``n + 1`` (strict)
where the lower level is even and ``n`` where it is odd. Level parity: the lower level of threshold
``j`` is ``j + bias``, ``bias`` the MultiThreshold's ``out_bias`` plus a scalar ``Add`` right after
it (a signed quantizer: -2^(b-1), even). Bipolar outputs (sign activations: 0 goes to +1 by
definition), single-threshold nodes and nodes whose level bias is not an integer keep ``x >= t``
at a tie (``n``).
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name

from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.records import IntegerThresholds, set_meta

#: relative distance to an integer (of max(1, |t|)) under which a float64 threshold is an exact tie
TIE_RTOL = 1e-10
#: integer thresholds must stay exact when the graph returns to float32
FLOAT32_EXACT = 2**24
#: metadata key of the record of what :class:`ExactIntegerThresholds` decided
META_KEY = "tsmfpga.integer_thresholds"


def _level_bias(model: ModelWrapper, node) -> float | None:
    attr = get_by_name(node.attribute, "out_bias")
    bias = float(attr.f) if attr is not None else 0.0
    cons = model.find_consumers(node.output[0]) or []
    if len(cons) == 1 and cons[0].op_type == "Add":
        c = model.get_initializer(cons[0].input[1])
        if c is not None and np.asarray(c).size == 1:
            bias += float(np.asarray(c).flatten()[0])
    return bias if bias == round(bias) else None


def integer_thresholds(thr: np.ndarray, half_even_bias: float | None) -> tuple[np.ndarray, np.ndarray]:
    """``thr`` (channels, n) for an integer input -> (integer thresholds, exact-tie mask).

    ``half_even_bias``: the level of threshold 0's lower side for a round-half-even quantizer
    (ties to even), or None for ``x >= t`` at a tie."""
    thr = np.asarray(thr, np.float64)
    near = np.round(thr)
    tie = np.abs(thr - near) <= TIE_RTOL * np.maximum(1.0, np.abs(near))
    if half_even_bias is None:
        strict = np.zeros_like(tie)
    else:
        strict = ((np.arange(thr.shape[-1]) + int(half_even_bias)) % 2 == 0) & tie
    return np.where(tie, near + strict, np.ceil(thr)), tie


class ExactIntegerThresholds(Transformation):
    """Integer-input MultiThresholds get integer thresholds (exact ties to even, see the module).

    Meant for the float64 front end (thresholds as DOUBLE initializers); raises when an integer
    threshold would not survive the return to float32. Records counts in :data:`META_KEY`.
    One pass, reported as unchanged: on its own output every threshold is an integer and would
    read as a tie, so it must not run twice (the ``streamline`` step applies it once)."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        record = IntegerThresholds()
        for node in model.graph.node:
            if node.op_type != "MultiThreshold" or not model.get_tensor_datatype(node.input[0]).is_integer():
                continue
            thr = model.get_initializer(node.input[1])
            if thr is None:
                continue
            odt = get_by_name(node.attribute, "out_dtype")
            bipolar = odt is not None and odt.s.decode() == "BIPOLAR"
            bias = None if bipolar or thr.shape[-1] < 2 else _level_bias(model, node)
            new, tie = integer_thresholds(thr, bias)
            if np.abs(new).max(initial=0) >= FLOAT32_EXACT:
                raise UserFacingError(
                    f"{node.name} (MultiThreshold): an integer threshold of magnitude "
                    f"{np.abs(new).max():.0f} is not exact in float32 (>= 2^24): the accumulator range "
                    "is too wide; lower the input or weight bit widths of the layer before it")
            dist = np.abs(np.asarray(thr, np.float64) - np.round(thr))[~tie]
            record.nodes += 1
            record.thresholds += int(new.size)
            record.exact_ties += int(tie.sum())
            if dist.size:
                nearest = float(dist.min())
                old = record.nearest_non_tie
                record.nearest_non_tie = nearest if old is None else min(old, nearest)
            model.set_initializer(node.input[1], new.astype(np.asarray(thr).dtype))
        if record.nodes:
            set_meta(model, META_KEY, record)
        return model, False
