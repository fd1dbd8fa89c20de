"""QONNX step graph -> FINN hardware-layer graph (generic HW ops + our ``TemporalShift``).

:func:`to_hw_graph` runs the ordered sequence below; every stage keeps the per-frame function
(checked in tests/flow/test_tsm_frontend.py against the QONNX golden on whole clips):

1. tidy (shapes, constant folding, names, datatypes); Trunc rounding normalised; 4D inputs NCHW
2. integer input: the input quantizer (Quant on the float graph input) becomes
   ``[Add(-zero_point)] -> Mul(scale)``, the graph input is its INTn/UINTn code (for the TSM the
   UINT8 pixel value; scale 1/255, zero-point 0, recorded in ``tsmfpga.hw_input``)
3. ``ConvertQONNXtoFINN`` (Quant -> MultiThreshold + Mul, AveragePool+Trunc -> QuantAvgPool2d)
4. ``InsertTemporalShift``: state inputs/outputs + Slice/Concat -> one stateful op per shift point
5. streamline: ``Streamline``, then until nothing changes: MoveMulPastMaxPool ->
   AbsorbScalarBiasIntoMultiThreshold -> MoveLinearPastFork -> MoveMulPastTemporalShift ->
   MoveMulPastJoinConcat -> MoveLinearPastEltwiseAdd -> Streamline
6. lower convs to Im2Col+MatMul; NHWC: MakeMaxPoolNHWC, AbsorbTransposeIntoMultiThreshold, then
   until nothing changes: MoveTransposePastFork, MoveTransposePastTemporalShift,
   AbsorbTransposeAfterTemporalShift, MoveTransposePastJoinAdd, AbsorbConsecutiveTransposes, ...
   AbsorbTransposeIntoGlobalAvgPool (any QuantAvgPool2d to NHWC); bipolar x bipolar MatMuls ->
   XnorPopcountMatMul (FINN BNN flow) + Streamline
7. graph edges: NHWC graph input, NHWC global pool, unit Reshape moved to the output
8. to HW layers: InferPool, InferConvInpGen, InferBinaryMatrixVectorActivation (XNOR MVAUs),
   InferQuantizedMatrixVectorActivation, InferThresholdingLayer, InferElementwiseBinaryOperation
   (integer tensors only), InferDuplicateStreamsLayer, InferGlobalAccPoolLayer,
   InferLabelSelectLayer, RemoveCNVtoFCFlatten (NCHW flatten before an FC absorbed into its
   weight rows); then
   MinimizeAccumulatorWidth (residual adds UINT4+UINT4 -> UINT5 instead of INT32) and
   RoundAndClipThresholds (integer inputs: ``x >= t`` <=> ``x >= ceil(t)``, exact; integer thresholds)

What stays outside the HW layers is the float output post-processing of the classifier
(``Mul`` by the output scale, ``Add`` of the float bias, ``Reshape`` to (1, K)): the last MVAU
emits the integer accumulator. :func:`non_hw_nodes` lists anything else (must be empty).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from qonnx.core.modelwrapper import ModelWrapper

#: op types allowed after the last HW layer (float post-processing of the logits)
POSTPROC_OPS = ("Mul", "Add", "Reshape")


def _until_fixpoint(model: ModelWrapper, transforms, max_iter: int = 6) -> ModelWrapper:
    for _ in range(max_iter):
        before = model.model.SerializeToString()
        for t in transforms:
            model = model.transform(t)
        if model.model.SerializeToString() == before:
            break
    return model


def _integer_only(model: ModelWrapper, node) -> bool:
    """Filter for InferElementwiseBinaryOperation: every dynamic tensor integer-typed."""
    tensors = [t for t in list(node.input) + list(node.output) if model.get_initializer(t) is None]
    return all(model.get_tensor_datatype(t).is_integer() for t in tensors)


def tidy_steps() -> list:
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (
        GiveReadableTensorNames,
        GiveUniqueNodeNames,
        RemoveStaticGraphInputs,
    )
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    return [InferShapes(), FoldConstants(), GiveUniqueNodeNames(), GiveReadableTensorNames(),
            RemoveStaticGraphInputs(), InferDataTypes()]


#: the front-end steps of :mod:`tsmfpga.flow.steps`, in order
FRONTEND_STEPS = ("tidy", "integer_input", "qonnx_to_finn", "temporal_shift", "streamline", "nhwc",
                  "hw_layers")


def to_hw_graph(model: ModelWrapper, log: Callable[[str, ModelWrapper], None] | None = None) -> ModelWrapper:
    """The whole front end (the registered build steps, in order). ``log(stage, model)`` is
    called after each stage (for checks/saves)."""
    import os
    from pathlib import Path

    from tsmfpga.core import toolenv
    from tsmfpga.flow.steps import STEPS

    if not Path(os.environ.get("FINN_BUILD_DIR", "/nonexistent")).is_dir():
        toolenv.prepare_finn_env()  # keep a build dir the caller already chose
    for name in FRONTEND_STEPS:
        model = STEPS[name](model, None)
        if log is not None:
            log(name, model)
    return model


def is_hw_node(node) -> bool:
    from finn.util.fpgadataflow import is_fpgadataflow_node

    return is_fpgadataflow_node(node)


def postproc_nodes(model: ModelWrapper) -> list:
    """The trailing non-HW nodes that only post-process the output (float Mul/Add/Reshape)."""
    tail = []
    for node in reversed(list(model.graph.node)):
        if is_hw_node(node) or node.op_type not in POSTPROC_OPS:
            break
        tail.insert(0, node)
    return tail


def non_hw_nodes(model: ModelWrapper) -> list[str]:
    """Nodes that are neither HW layers nor the documented output post-processing."""
    post = {n.name for n in postproc_nodes(model)}
    return [f"{n.name} ({n.op_type})" for n in model.graph.node if not is_hw_node(n) and n.name not in post]


def op_histogram(model: ModelWrapper) -> dict[str, int]:
    return dict(collections.Counter(n.op_type for n in model.graph.node))


def split_postproc(model: ModelWrapper) -> tuple[ModelWrapper, ModelWrapper | None]:
    """(HW-only graph whose output is the last HW node's integer tensor, post-processing graph)."""
    import copy

    from onnx import helper
    from qonnx.util.basic import qonnx_make_model

    post = postproc_nodes(model)
    if not post:
        return model, None
    hw = copy.deepcopy(model)
    cut = post[0].input[0]
    names = {n.name for n in post}
    for n in [n for n in hw.graph.node if n.name in names]:
        hw.graph.node.remove(n)
    out_vi = helper.make_tensor_value_info(cut, 1, hw.get_tensor_shape(cut))
    dt = hw.get_tensor_datatype(cut)
    for vi in [v for v in hw.graph.value_info if v.name == cut]:
        hw.graph.value_info.remove(vi)
    while len(hw.graph.output):
        hw.graph.output.pop()
    hw.graph.output.append(out_vi)
    hw.set_tensor_datatype(cut, dt)
    in_vi = helper.make_tensor_value_info(cut, 1, model.get_tensor_shape(cut))
    g = helper.make_graph([copy.deepcopy(n) for n in post], "postproc", [in_vi], list(model.graph.output))
    pp = ModelWrapper(qonnx_make_model(g))
    for n in post:
        for i in n.input:
            if model.get_initializer(i) is not None:
                pp.set_initializer(i, model.get_initializer(i))
    pp.set_tensor_datatype(cut, dt)
    from qonnx.transformation.infer_shapes import InferShapes

    return hw, pp.transform(InferShapes())


def run_hw_clip(model: ModelWrapper, frames) -> list:
    """Execute a (HW) graph frame by frame on one clip, TemporalShift buffers cleared first.
    ``frames``: iterable of arrays shaped like the graph input. Returns the first output per frame."""
    from qonnx.core.onnx_exec import execute_onnx

    from tsmfpga.hw.ops import reset_state

    reset_state(model)
    name, out = model.graph.input[0].name, model.graph.output[0].name
    return [execute_onnx(model, {name: f})[out] for f in frames]
