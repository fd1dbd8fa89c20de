"""Where a layer's thresholds live: inside the MVAU or in a standalone binary-search unit.

``InferQuantizedMatrixVectorActivation`` absorbs the MultiThreshold after a MatMul into the MVAU,
whose activation compares the accumulator with all ``2^b - 1`` thresholds of a channel at once
(one wide ROM word per channel group, one comparator per threshold and PE): right for 1..6-bit
activations up to 5 bits (<= 31 thresholds), wasteful beyond: at 8 bits 255 comparators and a
255-threshold-wide word per PE (a two-stage 8/16-channel TSM needs 36k LUTRAM in the estimate and
does not fit a PYNQ-Z2); at 6 bits a 63 x acc-bit word per channel group, ~1.3k LUTRAM per layer
even fully folded, so an 11-layer 8-channel TSM at 8x8 did not fit either (found by ``make fuzz``).
:class:`SplitWideThresholds` turns those MultiThresholds into standalone FINN
``Thresholding`` layers first (finn-rtllib ``thresholding.sv``: a pipelined binary search over
the thresholds, one threshold read per stage, thresholds in LUTRAM or BRAM by depth), so the
MVAU keeps only its accumulator (``noActivation``).
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

#: default: MultiThresholds with more thresholds per channel than this stay standalone (act >= 6
#: bits). A binary search stores the same 2^b - 1 thresholds per channel, but deep (one read per
#: stage), so they pack into 64-deep LUTRAM or BRAM; the embedded word is 2^b - 1 thresholds wide
#: and only C/PE deep, one LUTRAM per bit. Up to 5 bits the MVAU keeps its thresholds (no extra
#: layer, no extra latency), as the shipped 4-bit configs do.
MAX_MVAU_THRESHOLDS = 31

_PARKED = "MultiThresholdParkedByTsmfpga"


def _after_matmul(model: ModelWrapper, node) -> bool:
    prod = model.find_producer(node.input[0])
    return prod is not None and prod.op_type == "MatMul"


class SplitWideThresholds(Transformation):
    """MultiThresholds after a MatMul with more than ``max_steps`` thresholds per channel become
    standalone ``Thresholding`` layers (``InferThresholdingLayer`` on those nodes only; the other
    MultiThresholds are parked under another op type meanwhile and restored)."""

    def __init__(self, max_steps: int = MAX_MVAU_THRESHOLDS):
        super().__init__()
        self.max_steps = max_steps

    def _wide(self, model: ModelWrapper, node) -> bool:
        if node.op_type != "MultiThreshold" or not _after_matmul(model, node):
            return False
        return model.get_tensor_shape(node.input[1])[-1] > self.max_steps

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer

        wide = [n for n in model.graph.node if self._wide(model, n)]
        if not wide:
            return model, False
        parked = [n for n in model.graph.node if n.op_type == "MultiThreshold" and n not in wide]
        for n in parked:
            n.op_type = _PARKED
        try:
            model = model.transform(InferThresholdingLayer())
        finally:
            for n in model.graph.node:
                if n.op_type == _PARKED:
                    n.op_type = "MultiThreshold"
        return model, False
