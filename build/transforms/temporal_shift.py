"""Replace the step graph's explicit temporal-shift state by one stateful ``TemporalShift`` node.

The exported step graph (quant/export.py) carries the shift state as graph inputs/outputs. After
``ConvertQONNXtoFINN`` each shift point looks like this (NCHW, ``k`` = shifted channels)::

    state_in_i -> [requant chain: MultiThreshold, Mul, ...] --\\
                                                               Concat(axis=1) -> conv ...
    y --------------------------> Slice(y, k:, axis=1) -------/
    y --------------------------> Slice(y, :k, axis=1) -> state_out_i

which is ``Concat(requant(previous frame's y[:, :k]), y[:, k:])``. The requant chain re-applies
the quantizer that produced ``y`` (the shift sits right after it), so it is the identity on
``y``'s values; :class:`InsertTemporalShift` checks that (chain idempotent on its own output levels,
same scale as the quantizer upstream of ``y``) and rewrites the pattern to ``TemporalShift(y)``,
dropping the state input and output. The pairing is recorded in the metadata prop
``tsmfpga.temporal_shift`` (JSON list).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import get_by_name

from tsmfpga.core.float64 import is_float64
from tsmfpga.hw.ops.temporal_shift import make_temporal_shift_node

#: ops allowed in the requantizer chain between a state input and its Concat
_CHAIN_OPS = ("MultiThreshold", "Mul", "Add", "Relu")
#: shape-preserving per-value-monotone ops to look through when finding y's quantizer scale
_LOOK_THROUGH = ("MaxPool", "Transpose", "Reshape", "Identity")

INT64_MAX = np.iinfo(np.int64).max


class TemporalShiftPatternError(ValueError):
    """The step graph's state plumbing does not match the expected pattern."""


def _slice_params(model: ModelWrapper, node):
    """(start, end, axis, step) of a single-axis Slice with constant parameters, else None."""
    if node is None or node.op_type != "Slice" or len(node.input) < 4:
        return None
    vals = [model.get_initializer(i) for i in node.input[1:]]
    if any(v is None or np.asarray(v).size != 1 for v in vals):
        return None
    start, end, axis = (int(np.asarray(v).flatten()[0]) for v in vals[:3])
    step = int(np.asarray(vals[3]).flatten()[0]) if len(vals) > 3 else 1
    return start, end, axis, step


def _dyn_inputs(model: ModelWrapper, node) -> list[str]:
    return [i for i in node.input if i and model.get_initializer(i) is None]


def _chain_to_graph_input(model: ModelWrapper, tensor: str, graph_inputs: set[str]):
    """Walk up single-dynamic-input chain ops from ``tensor`` to a graph input.
    Returns (graph input name, chain nodes upstream-first) or None."""
    chain = []
    while tensor not in graph_inputs:
        prod = model.find_producer(tensor)
        if prod is None or prod.op_type not in _CHAIN_OPS:
            return None
        dyn = _dyn_inputs(model, prod)
        if len(dyn) != 1 or len(model.find_consumers(tensor)) != 1:
            return None
        chain.insert(0, prod)
        tensor = dyn[0]
    return tensor, chain


def _run_chain(model: ModelWrapper, chain, x: np.ndarray) -> np.ndarray:
    """Execute the chain nodes alone on ``x`` (a throwaway sub-model)."""
    from onnx import TensorProto, helper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.basic import qonnx_make_model

    first_in = _dyn_inputs(model, chain[0])[0]
    nodes = []
    for n in chain:
        m = helper.make_node(n.op_type, ["chain_in" if i == first_in else i for i in n.input],
                             list(n.output), domain=n.domain)
        m.attribute.extend(n.attribute)
        nodes.append(m)
    nodes[-1].output[0] = "chain_out"
    # the front end's float64 graphs (tsmfpga.core.float64) run the chain in float64
    elem = TensorProto.DOUBLE if is_float64(model) else TensorProto.FLOAT
    x = np.asarray(x, np.float64 if elem == TensorProto.DOUBLE else np.float32)
    vi = [helper.make_tensor_value_info(t, elem, list(x.shape)) for t in ("chain_in", "chain_out")]
    sub = ModelWrapper(qonnx_make_model(helper.make_graph(nodes, "chain", [vi[0]], [vi[1]])))
    for n in chain:
        for i in n.input:
            if model.get_initializer(i) is not None:
                sub.set_initializer(i, model.get_initializer(i))
    sub = sub.transform(InferShapes())
    return execute_onnx(sub, {"chain_in": x})["chain_out"]


def _chain_scale(model: ModelWrapper, chain) -> float | None:
    muls = [n for n in chain if n.op_type == "Mul"]
    if len(muls) != 1:
        return None
    c = model.get_initializer(muls[0].input[1])
    return float(np.asarray(c).flatten()[0]) if c is not None and np.asarray(c).size == 1 else None


def _upstream_scale(model: ModelWrapper, tensor: str) -> float | None:
    """Scale of the scalar Mul that produced ``tensor`` (looking through max pool / layout ops)."""
    prod = model.find_producer(tensor)
    while prod is not None and prod.op_type in _LOOK_THROUGH:
        prod = model.find_producer(prod.input[0])
    if prod is None or prod.op_type != "Mul":
        return None
    c = model.get_initializer(prod.input[1])
    return float(np.asarray(c).flatten()[0]) if c is not None and np.asarray(c).size == 1 else None


def _check_requant(model: ModelWrapper, chain, y: str, name: str) -> None:
    """The chain must be the identity on the values y can take (codes * scale of y's quantizer)."""
    if not chain:
        return
    mt = [n for n in chain if n.op_type == "MultiThreshold"]
    scale = _chain_scale(model, chain)
    if len(mt) != 1 or scale is None:
        raise TemporalShiftPatternError(
            f"{name}: state requantizer {[n.op_type for n in chain]} is not MultiThreshold + scalar Mul")
    n_levels = model.get_initializer(mt[0].input[1]).shape[-1]
    k = model.get_tensor_shape(_dyn_inputs(model, chain[0])[0])[1]
    # the quantizer's own codes: bias .. bias + n_levels, bias = the MultiThreshold's out_bias plus
    # the scalar Adds before its Mul (a signed quantizer: MultiThreshold -> Add(-2^(b-1)) -> Mul)
    attr = get_by_name(mt[0].attribute, "out_bias")
    bias = attr.f if attr is not None else 0.0
    for n in chain[chain.index(mt[0]) + 1:]:
        if n.op_type == "Mul":
            break
        c = model.get_initializer(n.input[1]) if n.op_type == "Add" else None
        if c is not None and np.asarray(c).size == 1:
            bias += float(np.asarray(c).flatten()[0])
    ft = np.float64 if is_float64(model) else np.float32  # the graph's precision
    codes = np.arange(n_levels + 1, dtype=ft) + ft(bias)
    x = np.broadcast_to((codes * ft(scale)).reshape(1, 1, -1, 1), (1, k, n_levels + 1, 1)).copy()
    try:
        got = _run_chain(model, chain, x)
    except Exception as exc:  # thresholds per channel etc.: fall back to the scale check only
        warnings.warn(f"{name}: could not execute the state requantizer for a check ({exc})")
        got = x
    if not np.array_equal(np.asarray(got).flatten(), x.flatten()):
        raise TemporalShiftPatternError(
            f"{name}: the state requantizer is not idempotent on its own levels; cannot fold it")
    up = _upstream_scale(model, y)
    if up is None:
        warnings.warn(f"{name}: could not find the quantizer scale upstream of {y}; assuming it matches")
    elif not np.isclose(up, scale, rtol=1e-6, atol=0):
        raise TemporalShiftPatternError(
            f"{name}: state is requantized with scale {scale} but the shifted tensor {y} has scale "
            f"{up}; the shift must sit right after the quantizer that produces its input")


class InsertTemporalShift(Transformation):
    """State input/output + Slice/Concat plumbing -> one ``TemporalShift`` node per shift point."""

    def apply(self, model: ModelWrapper):
        graph = model.graph
        g_in = {i.name for i in graph.input}
        g_out = {o.name for o in graph.output}
        records = json.loads(model.get_metadata_prop("tsmfpga.temporal_shift") or "[]")
        for concat in list(graph.node):
            if concat.op_type != "Concat" or len(concat.input) != 2:
                continue
            shape = model.get_tensor_shape(concat.output[0])
            axis = get_by_name(concat.attribute, "axis").i
            if shape is None or len(shape) != 4 or axis not in (1, -3):
                continue
            found = _chain_to_graph_input(model, concat.input[0], g_in)
            keep = model.find_producer(concat.input[1])
            kp = _slice_params(model, keep)
            if found is None or kp is None:
                continue
            state_in, chain = found
            y = keep.input[0]
            c = model.get_tensor_shape(y)[1]
            k, end, s_axis, step = kp
            if s_axis not in (1, -3) or step != 1 or end < c or not 0 < k < c:
                continue
            state_slice = None
            for cons in model.find_consumers(y):
                sp = _slice_params(model, cons)
                if sp is not None and sp[0] == 0 and sp[1] == k and sp[2] in (1, -3) and cons.output[0] in g_out:
                    state_slice = cons
            if state_slice is None:
                raise TemporalShiftPatternError(
                    f"{concat.name}: shift input {state_in} has no matching state output Slice(:{k})")
            if model.get_tensor_shape(state_in) != model.get_tensor_shape(state_slice.output[0]):
                raise TemporalShiftPatternError(f"{concat.name}: {state_in} and {state_slice.output[0]} differ in shape")
            _check_requant(model, chain, y, concat.name)
            _, _, h, w = shape
            idx = len(records)
            ts = make_temporal_shift_node(y, concat.output[0], c, k, (h, w), data_layout="NCHW",
                                          input_dtype=model.get_tensor_datatype(y).name,
                                          name=f"TemporalShift_{idx}")
            graph.node.insert(list(graph.node).index(concat), ts)
            for n in [concat, keep, state_slice, *chain]:
                graph.node.remove(n)
            state_out = state_slice.output[0]
            graph.input.remove(next(i for i in graph.input if i.name == state_in))
            graph.output.remove(next(o for o in graph.output if o.name == state_out))
            records.append({"node": ts.name, "state_in": state_in, "state_out": state_out,
                            "num_channels": c, "shift_channels": k, "img_dim": [h, w],
                            "state_id": get_by_name(ts.attribute, "state_id").s.decode()})
            model.set_metadata_prop("tsmfpga.temporal_shift", json.dumps(records))
            model = model.transform(InferShapes()).transform(InferDataTypes())
            return model, True
        return model, False


def temporal_shift_nodes(model: ModelWrapper):
    return [n for n in model.graph.node if n.op_type == "TemporalShift"]
