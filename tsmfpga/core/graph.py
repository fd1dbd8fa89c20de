"""The graph vocabulary every stage shares: loading a QONNX file, which nodes are hardware
layers, the output post-processing the host applies, and splitting it off.

A compiled (HW) graph is hardware layers followed, optionally, by the float post-processing
of the classifier (``Mul`` by the output scale, ``Add`` of the float bias, ``Reshape``): the
last hardware layer emits the integer accumulator, the host turns it into logits.
"""

from __future__ import annotations

import collections
import copy
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from tsmfpga.core.errors import UserFacingError

#: op types allowed after the last HW layer (float post-processing of the logits)
POSTPROC_OPS = ("Mul", "Add", "Reshape")


def load_model(path: Path) -> ModelWrapper:
    """Load and sanity-check a QONNX file; clear errors for missing / corrupt / non-ONNX files."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise UserFacingError(f"model file {path} does not exist")
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError / various on garbage
        raise UserFacingError(f"{path} is not a readable ONNX file ({type(exc).__name__}: {exc}); "
                              "pass a QONNX model exported with brevitas export_qonnx") from None
    if len(proto.graph.node) == 0:
        raise UserFacingError(f"{path} holds an empty graph (no nodes)")
    # torch.onnx lists initializers (weights, quantizer parameters) as graph inputs too: they are
    # constants, not inputs (and qonnx would execute them with the wrong dtype)
    inits = {i.name for i in proto.graph.initializer}
    for inp in [i for i in proto.graph.input if i.name in inits]:
        proto.graph.input.remove(inp)
    return ModelWrapper(proto)


def is_hw_node(node) -> bool:
    """A FINN hardware layer (generic or specialized) or one of our HW ops."""
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


def output_affine(model: ModelWrapper) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, bias) of a trailing ``Mul [+ Add]`` post-processing, or None when the graph's
    output is the HW output itself. logits = accumulator * scale + bias."""
    scale = bias = None
    for n in postproc_nodes(model):
        const = model.get_initializer(n.input[1]) if len(n.input) > 1 else None
        if n.op_type == "Mul" and const is not None and scale is None and bias is None:
            scale = np.asarray(const, np.float64).reshape(-1)
        elif n.op_type == "Add" and const is not None and bias is None:
            bias = np.asarray(const, np.float64).reshape(-1)
    if scale is None:
        return None
    return scale, (bias if bias is not None else np.zeros(1))


def apply_output_affine(model: ModelWrapper, acc: np.ndarray) -> np.ndarray:
    """Host-side post-processing of integer accumulators (identity without post-processing)."""
    aff = output_affine(model)
    acc = np.asarray(acc, np.float64)
    return acc if aff is None else acc * aff[0] + aff[1]


def split_postproc(model: ModelWrapper) -> tuple[ModelWrapper, ModelWrapper | None]:
    """(HW-only graph whose output is the last HW node's integer tensor, post-processing graph)."""
    from onnx import helper
    from qonnx.transformation.infer_shapes import InferShapes
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
    return hw, pp.transform(InferShapes())


def hw_core(model: ModelWrapper) -> ModelWrapper:
    """The HW-only graph (output post-processing split off)."""
    return split_postproc(model)[0]


def subgraph(model: ModelWrapper, names: list[str]) -> ModelWrapper:
    """The consecutive nodes ``names`` (a chain) as a graph of their own: the first node's input
    and the last node's output become the graph's input and output; initializers, datatypes and
    metadata are kept (for per-layer RTL tests and fuzzing)."""
    nodes = [copy.deepcopy(n) for n in model.graph.node if n.name in names]
    if len(nodes) != len(names):
        raise KeyError(f"nodes not found: {sorted(set(names) - {n.name for n in nodes})}")
    inp, out = nodes[0].input[0], nodes[-1].output[0]
    vi = [helper.make_tensor_value_info(t, TensorProto.FLOAT, model.get_tensor_shape(t)) for t in (inp, out)]
    g = helper.make_graph(nodes, "sub", [vi[0]], [vi[1]])
    sub = ModelWrapper(qonnx_make_model(g))
    seen = set()
    for n in nodes:
        for t in list(n.input) + list(n.output):
            if t in seen:
                continue
            seen.add(t)
            if model.get_initializer(t) is not None:
                sub.set_initializer(t, model.get_initializer(t))
            dt = model.get_tensor_datatype(t)
            if t not in (inp, out) and model.get_initializer(t) is None:
                sub.graph.value_info.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, model.get_tensor_shape(t)))
            sub.set_tensor_datatype(t, dt)
    for p in model.model.metadata_props:
        sub.set_metadata_prop(p.key, p.value)
    return sub
