"""Exact rounding ties on integer accumulators: round half to even, as the quantizer does.

A Brevitas/QONNX ``Quant`` with ``rounding_mode="ROUND"`` rounds a value exactly halfway between
two levels to the EVEN one (numpy / torch ``round``). Its FINN form, ``MultiThreshold``, counts
``x >= t``: a value exactly at a threshold goes UP. Once streamlining has turned the input into an
integer accumulator, a threshold that is itself an integer is a tie the accumulator can hit
exactly (found in a random-weight MobileNetV2 TSM: accumulator 36, threshold 36.0, the quantizer
gave level 2 (2.5 -> 2), the HW graph level 3). :class:`HalfEvenTies` makes such a threshold
strict where the lower level is even (``t -> t + 1/2``, which ``RoundAndClipThresholds`` then
rounds up to ``t + 1``), and leaves it where the lower level is odd (2.5 -> 3 = ``x >= t``).

A threshold counts as an integer when it is within two float32 ulps of one (the streamlined
threshold is computed in float32: the exact tie 36 may arrive as 35.999998). Level parity: the
lower level of threshold ``j`` is ``j + bias``, ``bias`` the MultiThreshold's ``out_bias`` plus a
scalar ``Add`` right after it (a signed quantizer: -2^(b-1), even). Bipolar outputs (sign
activations: 0 goes to +1 by definition) and single-threshold nodes are left alone.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name

#: relative distance to an integer under which a float32 threshold is an exact tie (~2 ulps)
TIE_RTOL = 2.5e-7


def _level_bias(model: ModelWrapper, node) -> float | None:
    attr = get_by_name(node.attribute, "out_bias")
    bias = float(attr.f) if attr is not None else 0.0
    cons = model.find_consumers(node.output[0]) or []
    if len(cons) == 1 and cons[0].op_type == "Add":
        c = model.get_initializer(cons[0].input[1])
        if c is not None and np.asarray(c).size == 1:
            bias += float(np.asarray(c).flatten()[0])
    return bias if bias == round(bias) else None


class HalfEvenTies(Transformation):
    """Integer-input MultiThresholds: integer thresholds whose lower level is even become strict."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        changed = False
        for node in model.graph.node:
            if node.op_type != "MultiThreshold" or not model.get_tensor_datatype(node.input[0]).is_integer():
                continue
            odt = get_by_name(node.attribute, "out_dtype")
            thr = model.get_initializer(node.input[1])
            if thr is None or thr.shape[-1] < 2 or (odt is not None and odt.s.decode() == "BIPOLAR"):
                continue
            bias = _level_bias(model, node)
            if bias is None:
                continue
            thr = np.asarray(thr, dtype=np.float64)
            near = np.round(thr)
            tie = np.abs(thr - near) <= TIE_RTOL * np.maximum(1.0, np.abs(near))
            lower_even = ((np.arange(thr.shape[-1]) + int(bias)) % 2 == 0)[None, :]
            fix = tie & lower_even
            new = np.where(tie, np.where(fix, near + 0.5, near), thr)
            if not np.array_equal(new, thr):
                model.set_initializer(node.input[1], new.astype(np.float32))
                changed = True
        return model, changed
