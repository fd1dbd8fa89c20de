"""The compiler's build steps: plain functions ``(model, cfg) -> model`` registered by name.

Like FINN's builder, but steps raise instead of returning error codes and read no environment
variables. Each step's result is saved by the runner (:mod:`tsmfpga.flow.compile`) as
``steps/NN_<name>.onnx``; results that are not graph edits (folding, verification) travel in
the graph's metadata (``tsmfpga.*`` keys, JSON) so every saved graph is self-describing.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core import records, toolenv
from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.float64 import executable_float64, to_float32
from tsmfpga.core.graph import is_hw_node, load_model, postproc_nodes
from tsmfpga.flow.config import CompileConfig
from tsmfpga.flow.folding import FoldingError, fold, set_streams
from tsmfpga.flow.rtlgen import generate_rtl
from tsmfpga.hw.ops import widen_accumulator_outputs
from tsmfpga.flow.transforms.io_prep import (
    AbsorbInputFlatten,
    AnnotateNCHWInputs,
    DeclareIntegerInput,
    IntegerInputFromQuant,
    MoveInputThresholdNHWC,
    NormalizeTruncRounding,
)
from tsmfpga.flow.transforms.layout import (
    AbsorbTransposeIntoGlobalAvgPool,
    MakeInputNHWC,
    MoveUnitReshapeToOutput,
)
from tsmfpga.flow.transforms.temporal_shift import InsertTemporalShift
from tsmfpga.flow.transforms.temporal_shift_streamline import (
    AbsorbTransposeAfterTemporalShift,
    MoveMulPastTemporalShift,
    MoveTransposePastTemporalShift,
    sync_temporal_shift_attrs,
)
from tsmfpga.flow.transforms.thresholds import SplitWideThresholds
from tsmfpga.flow.transforms.ties import ExactIntegerThresholds
from tsmfpga.flow.transforms.trunc_sign import AnnotateTruncSign
from tsmfpga.flow.transforms.tsm_frontend import FRONTEND_STEPS, integer_only, tidy_steps, until_fixpoint
from tsmfpga.flow.verify import verify
from tsmfpga.hw.boards import get_board

Step = Callable[[ModelWrapper, CompileConfig], ModelWrapper]

#: every registered step by name
STEPS: dict[str, Step] = {}
#: the default order
DEFAULT_STEPS: list[str] = []


class UnmappedNodeError(UserFacingError):
    """Nodes that the flow could not turn into hardware layers."""


class CheckFailed(UserFacingError):
    """A verification step found the design wrong. ``model`` is the graph with the failed
    check's record in its metadata (the runner writes the report, marked failed)."""

    def __init__(self, message: str, model: ModelWrapper):
        super().__init__(message)
        self.model = model


def step(name: str):
    def register(fn: Step) -> Step:
        if name in STEPS:
            raise ValueError(f"step {name!r} registered twice")
        STEPS[name] = fn
        DEFAULT_STEPS.append(name)
        return fn

    return register


@step("tidy")
def step_tidy(model, cfg):
    """Shapes, constant folding, unique names, datatypes; Trunc rounding normalised; NCHW inputs."""
    # remember the exported input names (tidy renames them) for the TemporalShift records
    model.set_metadata_prop("tsmfpga.exported_inputs", json.dumps([i.name for i in model.graph.input]))
    for t in tidy_steps() + [NormalizeTruncRounding(), AnnotateNCHWInputs()]:
        model = model.transform(t)
    return model


@step("integer_input")
def step_integer_input(model, cfg):
    """Input quantizer absorbed: the hardware input is its integer code (scale/zero-point kept);
    or, with ``--input-type/--input-scale``, the raw input declared integer (BNN-PYNQ style)."""
    if cfg is not None and cfg.input_type is not None:
        return model.transform(DeclareIntegerInput(cfg.input_type, cfg.input_scale))
    model = model.transform(IntegerInputFromQuant(0))
    inp = model.graph.input[0].name
    if not model.get_tensor_datatype(inp).is_integer():
        exported = json.loads(model.get_metadata_prop("tsmfpga.exported_inputs") or "[]")
        shown = repr(inp) if not exported or exported[0] == inp else f"{exported[0]!r} (now {inp!r})"
        first = ", ".join(f"{n.name or n.output[0]} ({n.op_type})"
                          for n in model.find_consumers(inp)) or "nothing"
        raise UnmappedNodeError(
            f"graph input {shown} is a float tensor ({model.get_tensor_datatype(inp).name}) feeding "
            f"{first}, with no input quantizer: hardware needs integers. Put a QuantIdentity input "
            "quantizer right after the model input before exporting (e.g. Uint8ActPerTensorFloat for "
            "pixels, Int8ActPerTensorFloat for signed data); its integer code becomes the HW input. "
            "Or, if the model does float preprocessing before its first quantizer (BNN-PYNQ's 2x - 1), "
            "declare the raw input's integer type: --input-type UINT8 --input-scale 1/255 for pixels.")
    return model


@contextmanager
def _float64_thresholds():
    """FINN's Quant -> MultiThreshold handlers compute thresholds in float64, then narrow them to
    their module's ``np_default_dtype`` (float32); the float64 front end keeps them float64."""
    import finn.transformation.qonnx.qonnx_activation_handlers as handlers

    old = handlers.np_default_dtype
    handlers.np_default_dtype = np.float64
    try:
        yield
    finally:
        handlers.np_default_dtype = old


@step("qonnx_to_finn")
def step_qonnx_to_finn(model, cfg):
    """Quant -> MultiThreshold + Mul; AveragePool + Trunc -> QuantAvgPool2d (finn-plus). From here
    to the end of ``streamline`` the graph is float64 (thresholds decided exactly, see
    :mod:`tsmfpga.core.float64`)."""
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    model = executable_float64(model)
    with _float64_thresholds():
        for t in (AnnotateTruncSign(), ConvertQONNXtoFINN()):
            model = model.transform(t)
    model = executable_float64(model)  # tensors the conversion created as float32 (exact: float32 values)
    for t in (InferShapes(), InferDataTypes()):
        model = model.transform(t)
    return model


@step("temporal_shift")
def step_temporal_shift(model, cfg):
    """State plumbing of the step graph (state inputs/outputs, Slice/Concat) -> stateful TemporalShift."""
    from qonnx.transformation.general import GiveUniqueNodeNames

    model = executable_float64(model).transform(InsertTemporalShift()).transform(GiveUniqueNodeNames())
    model = executable_float64(model)
    if len(model.graph.input) != 1 or len(model.graph.output) != 1:
        extra = [i.name for i in model.graph.input[1:]] + [o.name for o in model.graph.output[1:]]
        raise UnmappedNodeError(
            f"graph keeps extra inputs/outputs {extra} that are not TemporalShift state: the compiler "
            "maps one input stream and one output stream; export one frame in, logits out")
    return model


@step("streamline")
def step_streamline(model, cfg):
    """Streamline with the order that works across TemporalShift and residual forks/joins (in
    float64); then integer thresholds on integer inputs (exact ties to even), and back to float32."""
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.absorb import AbsorbScalarBiasIntoMultiThreshold
    from finn.transformation.streamline.reorder import (
        MoveLinearPastEltwiseAdd,
        MoveLinearPastFork,
        MoveMulPastJoinConcat,
        MoveMulPastMaxPool,
    )
    from qonnx.transformation.infer_datatypes import InferDataTypes

    model = executable_float64(model).transform(Streamline())
    model = until_fixpoint(model, [
        MoveMulPastMaxPool(), AbsorbScalarBiasIntoMultiThreshold(), MoveLinearPastFork(),
        MoveMulPastTemporalShift(), MoveMulPastJoinConcat(), MoveLinearPastEltwiseAdd(), Streamline(),
    ])
    model = executable_float64(model).transform(InferDataTypes()).transform(ExactIntegerThresholds())
    return to_float32(model).transform(InferDataTypes())


@step("nhwc")
def step_nhwc(model, cfg):
    """Convs lowered to Im2Col + MatMul; Transposes moved out so the whole graph is NHWC."""
    from finn.transformation.streamline.absorb import (
        AbsorbConsecutiveTransposes,
        AbsorbTransposeIntoMultiThreshold,
    )
    from finn.transformation.streamline.reorder import (
        MakeMaxPoolNHWC,
        MoveTransposePastFork,
        MoveTransposePastJoinAdd,
    )
    from finn.transformation.streamline import Streamline
    from qonnx.core.datatype import DataType
    from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

    for n in model.graph.node:  # grouped convs other than depthwise have no lowering
        group = next((a.i for a in n.attribute if a.name == "group"), 1) if n.op_type == "Conv" else 1
        if group > 1:
            cin, cout = model.get_tensor_shape(n.input[0])[1], model.get_tensor_shape(n.output[0])[1]
            if not group == cin == cout:
                raise UnmappedNodeError(
                    f"{n.name} (Conv): grouped conv with groups={group}, {cin} -> {cout} channels is not "
                    "supported: use groups=1 (regular) or groups = in_channels = out_channels (depthwise)")
    for t in (LowerConvsToMatMul(), MakeMaxPoolNHWC(), AbsorbTransposeIntoMultiThreshold()):
        model = model.transform(t)
    model = until_fixpoint(model, [
        MoveTransposePastFork(), MoveTransposePastTemporalShift(), AbsorbTransposeAfterTemporalShift(),
        MoveTransposePastJoinAdd(), AbsorbConsecutiveTransposes(), AbsorbTransposeIntoMultiThreshold(),
        MakeMaxPoolNHWC(), AbsorbTransposeIntoGlobalAvgPool(), InferDataLayouts(),
    ])
    # bipolar x bipolar MatMuls -> XnorPopcountMatMul + affine correction, absorbed by Streamline
    # (FINN's BNN flow); a no-op for graphs without BIPOLAR activations and weights
    if any(n.op_type == "MatMul" and model.get_tensor_datatype(n.input[0]) == DataType["BIPOLAR"]
           for n in model.graph.node):
        model = model.transform(ConvertBipolarMatMulToXnorPopcount()).transform(Streamline())
    for t in (MoveInputThresholdNHWC(), MakeInputNHWC(), AbsorbInputFlatten(), AbsorbTransposeIntoGlobalAvgPool(),
              AbsorbTransposeIntoMultiThreshold(), MoveUnitReshapeToOutput(), GiveUniqueNodeNames()):
        model = model.transform(t)
    meta = records.get_meta(model, "tsmfpga.hw_input") or records.HwInput(name=model.graph.input[0].name)
    meta.layout = "NHWC" if len(model.get_tensor_shape(model.graph.input[0].name)) == 4 else "NC"
    records.set_meta(model, "tsmfpga.hw_input", meta)
    return model


@step("hw_layers")
def step_hw_layers(model, cfg):
    """Convert to FINN hardware layers (+ our TemporalShift); integer accumulators minimised."""
    from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (
        InferBinaryMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.fpgadataflow.convert_to_hw.duplicate_streams import InferDuplicateStreamsLayer
    from finn.transformation.fpgadataflow.convert_to_hw.elementwise_binary_operation import (
        InferElementwiseBinaryOperation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.global_acc_pool import InferGlobalAccPoolLayer
    from finn.transformation.fpgadataflow.convert_to_hw.label_select import InferLabelSelectLayer
    from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
        InferQuantizedMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer
    from finn.transformation.fpgadataflow.convert_to_hw.vector_vector_activation import (
        InferVectorVectorActivation,
    )
    from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
    from qonnx.transformation.general import GiveUniqueNodeNames, RemoveUnusedTensors
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    # depthwise convs (finn-plus' MobileNet-v1 order): LowerConvsToMatMul marked their MatMuls with a
    # sparsity annotation, InferConvInpGen made a depthwise SWG, InferVectorVectorActivation turns
    # the MatMul (+ MultiThreshold) into a VVAU; the MVAU inference skips annotated MatMuls
    for t in (InferPool(), InferConvInpGen(), SplitWideThresholds(), InferBinaryMatrixVectorActivation(),
              InferVectorVectorActivation(), InferQuantizedMatrixVectorActivation(),
              InferThresholdingLayer(), InferElementwiseBinaryOperation(integer_only),
              InferDuplicateStreamsLayer(), InferGlobalAccPoolLayer(), InferLabelSelectLayer(),
              RemoveCNVtoFCFlatten(), InferShapes(), InferDataTypes(), GiveUniqueNodeNames(),
              RemoveUnusedTensors(),
              MinimizeAccumulatorWidth(), RoundAndClipThresholds(), InferDataTypes()):
        model = model.transform(t)
    model = sync_temporal_shift_attrs(model)
    model.set_metadata_prop("tsmfpga.postproc", json.dumps(
        [{"node": n.name, "op_type": n.op_type} for n in postproc_nodes(model)]))
    return model


#: what to change in the model, by op type the flow could not map
_ADVICE = {
    "ReduceMean": "use a power-of-two TruncAvgPool2d (or AvgPool2d + a quantizer) instead of "
                  "AdaptiveAvgPool2d / mean",
    "Sigmoid": "use a quantized ReLU / HardTanh / Identity activation",
    "Softmax": "leave softmax out of the exported graph (the host applies it)",
    "MatMul": "the layer's input or weights are not quantized: add a quantizer before it",
    "Conv": "the conv's input is not quantized: add an activation quantizer before it",
    "Im2Col": "the sliding window of a conv whose input is not quantized: add an activation quantizer "
              "before the conv",
    "Mul": "a float scale could not be absorbed: check that every activation is quantized",
    "Add": "a float bias or residual add could not be absorbed: put both add inputs through one "
           "shared quantizer",
}

#: a depthwise conv (groups = channels) whose MatMul did not become a VVAU
_DW_ADVICE = ("a depthwise conv (groups = channels) that could not become a VVAU: its input or weights "
              "are not integer after streamlining. Quantize its input (a QuantReLU / QuantIdentity right "
              "before it), quantize its weights (weight_bit_width), and keep bias=False (fold the bias "
              "into the following BatchNorm)")


@step("check_mapped")
def step_check_mapped(model, cfg):
    """Every node is a hardware layer or the documented output post-processing; else name them."""
    post = {p.name for p in postproc_nodes(model)}
    bad = [n for n in model.graph.node if not is_hw_node(n) and n.name not in post]
    if bad:
        def floats(n):  # dynamic float inputs: where hardware would need integers
            names = [t for t in n.input if t and model.get_initializer(t) is None
                     and not model.get_tensor_datatype(t).is_integer()]
            return f" [float input tensor(s): {', '.join(repr(t) for t in names)}]" if names else ""

        def advice(n):  # a depthwise conv's MatMul (sparsity annotation) gets its own advice
            if n.op_type == "MatMul" and len(n.input) > 1 and model.get_tensor_sparsity(n.input[1]):
                return _DW_ADVICE
            return _ADVICE.get(n.op_type, "not supported by the flow")

        lines = [f"  {n.name} ({n.op_type}): {advice(n)}{floats(n)}" for n in bad[:10]]
        raise UnmappedNodeError(
            f"{len(bad)} node(s) could not be mapped to hardware layers:\n" + "\n".join(lines)
            + ("\n  ..." if len(bad) > 10 else ""))
    return model


@step("streams")
def step_streams(model, cfg):
    """``--streams N``: every TemporalShift keeps N frame buffers (one per stream) before folding, so
    the estimates and the folder see the N-fold state. N = 1 leaves the graph untouched."""
    streams = cfg.streams if cfg is not None else 1
    if streams > 1:
        set_streams(model, streams)
        model.set_metadata_prop("tsmfpga.streams", json.dumps({"streams": streams}))
    return model


@step("fold")
def step_fold(model, cfg):
    """PE/SIMD per layer for the target fps (or the most that fits the budget); analytical estimates."""
    board = get_board(cfg.board)
    clock = board.clock(cfg.clock_mhz)
    macs = cfg.macs or board.macs
    try:
        model, result = fold(model, board, clock, target_fps=cfg.target_fps,
                             budget_fraction=cfg.budget_fraction, macs=macs)
    except FoldingError as e:
        if cfg.macs is not None or macs == "auto":
            raise
        # the board's LUT-MAC policy is a preference: a network that needs DSPs still builds
        print(f"[compile] board {board.name}: LUT MACs (its default) do not fit ({e}); folding with "
              "--macs auto", flush=True)
        model, result = fold(model, board, clock, target_fps=cfg.target_fps,
                             budget_fraction=cfg.budget_fraction, macs="auto")
    model.set_metadata_prop("tsmfpga.folding", json.dumps(result.to_dict()))
    records.set_meta(model, "tsmfpga.design", records.Design(
        board=board.name, clock_mhz=clock, target_fps=cfg.target_fps, budget_fraction=cfg.budget_fraction))
    return model


@step("verify_python")
def step_verify_python(model, cfg):
    """The HW graph executed in Python equals the QONNX golden (whole clips for a TSM); a
    mismatch stops the build (CheckFailed) unless ``cfg.allow_mismatch``."""
    result = verify(model, load_model(cfg.model_path), cfg)
    model.set_metadata_prop("tsmfpga.python_exec", json.dumps(result))
    if not result["bit_exact"] and not cfg.allow_mismatch:
        first = result["traces"][0] if result["traces"] else {}
        raise CheckFailed(
            f"the HW graph is NOT bit-exact with the QONNX golden: {result['mismatches']} of "
            f"{result['values']} values differ (first: {first}); the report lists the traces. Pass "
            "--allow-mismatch to build RTL anyway", model)
    return model


@step("rtl")
def step_rtl(model, cfg):
    """RTL for every layer (ours + finn-plus generators) and the stitched top in ``DIR/rtl``."""
    board = get_board(cfg.board)
    clock = board.clock(cfg.clock_mhz)
    retyped = widen_accumulator_outputs(model)
    if retyped:
        model.set_metadata_prop("tsmfpga.retyped_outputs", json.dumps(retyped))
    manifest = generate_rtl(model, cfg.out / "rtl", board.finn_part, clock, fifo_sizing=cfg.fifo_sizing)
    model.set_metadata_prop("tsmfpga.rtl", json.dumps({
        "dir": "rtl", "top": manifest["top"], "files": len(manifest["files"]),
        "input": manifest["input"], "output": manifest["output"],
        "fifos": len(manifest["fifos"]), "dwcs": len(manifest["dwcs"]),
        "fifo_sizing": manifest["fifo_sizing"]["method"],
        "fifo_bits": sum(f["capacity_beats"] * f["width"] for f in manifest["fifos"].values())}))
    return model


def run_step(name: str, model: ModelWrapper, cfg: CompileConfig | None) -> ModelWrapper:
    """Run the registered step ``name`` reproducibly. qonnx names every tensor a transformation
    creates with ``random_string()`` (Python's global ``random``) and those names become wire names
    and manifest keys; seeding ``random`` from the step name and the incoming graph's bytes makes
    them a function of the input alone (same in every process), yet different for different graphs."""
    digest = hashlib.sha256(name.encode() + b"\0" + model.model.SerializeToString(deterministic=True)).digest()
    outer = random.getstate()  # the caller's random stream is left as it was
    random.seed(digest)
    try:
        return STEPS[name](model, cfg)
    finally:
        random.setstate(outer)


def front_end(model: ModelWrapper, log: Callable[[str, ModelWrapper], None] | None = None) -> ModelWrapper:
    """The whole front end (the registered steps of ``FRONTEND_STEPS``, in order): QONNX step
    graph -> generic HW-layer graph. ``log(step, model)`` is called after each step."""
    if not Path(os.environ.get("FINN_BUILD_DIR", "/nonexistent")).is_dir():
        toolenv.prepare_finn_env()  # keep a build dir the caller already chose
    for name in FRONTEND_STEPS:
        model = run_step(name, model, None)
        if log is not None:
            log(name, model)
    return model
