"""QONNX step graph -> FINN hardware-layer graph (generic HW ops + our ``TemporalShift``).

The front end is the ordered sequence below; every stage keeps the per-frame function
(checked in tests/flow/test_tsm_frontend.py against the QONNX golden on whole clips):

1. tidy (shapes, constant folding, names, datatypes); Trunc rounding normalised; 4D inputs NCHW
2. integer input: the input quantizer (Quant on the float graph input) becomes
   ``[Add(-zero_point)] -> Mul(scale)``, the graph input is its INTn/UINTn code (for the TSM the
   UINT8 pixel value; scale 1/255, zero-point 0, recorded in ``tsmfpga.hw_input``); or, with
   ``--input-type/--input-scale`` (models with float preprocessing before their first quantizer,
   BNN-PYNQ), the declared code -> ``Mul(scale)`` -> the model's raw input
3. ``ConvertQONNXtoFINN`` (Quant -> MultiThreshold + Mul, AveragePool+Trunc -> QuantAvgPool2d);
   from here to the end of 5 the graph is float64 (:mod:`tsmfpga.core.float64`): thresholds are
   computed without float32 rounding
4. ``InsertTemporalShift``: state inputs/outputs + Slice/Concat -> one stateful op per shift point
5. streamline: ``Streamline``, then until nothing changes: MoveMulPastMaxPool ->
   AbsorbScalarBiasIntoMultiThreshold -> MoveLinearPastFork -> MoveMulPastTemporalShift ->
   MoveMulPastJoinConcat -> MoveLinearPastEltwiseAdd -> Streamline; then ExactIntegerThresholds
   (integer-input thresholds -> integers, exact ties to even; :mod:`tsmfpga.flow.transforms.ties`)
   and the graph back to float32
6. lower convs to Im2Col+MatMul; NHWC: MakeMaxPoolNHWC, AbsorbTransposeIntoMultiThreshold, then
   until nothing changes: MoveTransposePastFork, MoveTransposePastTemporalShift,
   AbsorbTransposeAfterTemporalShift, MoveTransposePastJoinAdd, AbsorbConsecutiveTransposes, ...
   AbsorbTransposeIntoGlobalAvgPool (any QuantAvgPool2d to NHWC); bipolar x bipolar MatMuls ->
   XnorPopcountMatMul (FINN BNN flow) + Streamline
7. graph edges: a declared input's first MultiThreshold made NHWC, NHWC graph input, a flattening
   Reshape at the input absorbed (flat "NC" input), NHWC global pool, unit Reshape moved to the output
8. to HW layers: InferPool, InferConvInpGen, InferBinaryMatrixVectorActivation (XNOR MVAUs),
   InferQuantizedMatrixVectorActivation, InferThresholdingLayer, InferElementwiseBinaryOperation
   (integer tensors only), InferDuplicateStreamsLayer, InferGlobalAccPoolLayer,
   InferLabelSelectLayer, RemoveCNVtoFCFlatten (NCHW flatten before an FC absorbed into its
   weight rows); then
   MinimizeAccumulatorWidth (residual adds UINT4+UINT4 -> UINT5 instead of INT32) and
   RoundAndClipThresholds (thresholds clipped to the input range; already integers)

What stays outside the HW layers is the float output post-processing of the classifier
(``Mul`` by the output scale, ``Add`` of the float bias, ``Reshape`` to (1, K)): the last MVAU
emits the integer accumulator (:mod:`tsmfpga.core.graph` owns that split). The steps themselves
are registered in :mod:`tsmfpga.flow.steps`; :func:`tsmfpga.flow.steps.front_end` runs them.
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.fold_constants import FoldConstants
from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames, RemoveStaticGraphInputs
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

#: the front-end steps of :mod:`tsmfpga.flow.steps`, in order
FRONTEND_STEPS = ("tidy", "integer_input", "qonnx_to_finn", "temporal_shift", "streamline", "nhwc",
                  "hw_layers")


def until_fixpoint(model: ModelWrapper, transforms, max_iter: int = 6) -> ModelWrapper:
    """Apply ``transforms`` in order, again and again, until the graph stops changing."""
    for _ in range(max_iter):
        before = model.model.SerializeToString()
        for t in transforms:
            model = model.transform(t)
        if model.model.SerializeToString() == before:
            break
    return model


def integer_only(model: ModelWrapper, node) -> bool:
    """Filter for InferElementwiseBinaryOperation: every dynamic tensor integer-typed."""
    tensors = [t for t in list(node.input) + list(node.output) if model.get_initializer(t) is None]
    return all(model.get_tensor_datatype(t).is_integer() for t in tensors)


def tidy_steps() -> list:
    return [InferShapes(), FoldConstants(), GiveUniqueNodeNames(), GiveReadableTensorNames(),
            RemoveStaticGraphInputs(), InferDataTypes()]
