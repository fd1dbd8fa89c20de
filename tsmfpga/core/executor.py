"""qonnx ``execute_onnx``, prepared once per graph: the one Python executor of clip runs.

qonnx's ``execute_onnx`` re-does per call what depends only on the graph: for every standard
node it builds a one-node model and a new onnxruntime session, looks up a custom op's wrapper,
and "sanitizes" (rounds to the annotated integer type) every node input and output, initializers
included, with a Python ``max`` over each tensor. A clip run calls it once per frame, so most
of a compile's ``verify_python`` went there. :class:`Executor` does that work once and keeps the
semantics: the same one-node models and onnxruntime sessions for standard nodes, the same
``CustomOp.execute_node`` for custom nodes, the same sanitize rule (integer-annotated tensors
rounded when within ``ERROR_THRESH`` of an allowed value, else an error naming the tensor;
``SANITIZE_QUANT_TENSORS=0`` turns it off as in qonnx). Initializers are sanitized once.
``tests/core/test_executor.py`` compares it with ``execute_onnx`` on every graph kind we run.

The executor holds the graph as it was at construction: build a new one after a transformation.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx.helper as helper
import onnxruntime as rt
from onnx import numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp, is_custom_op
from qonnx.util.basic import (get_execution_error_thresh, get_preferred_qonnx_opset,
                              get_sanitize_quant_tensors, qonnx_make_model)
from qonnx.util.onnx import valueinfo_to_tensor

from tsmfpga.core.errors import UserFacingError


def _sanitize(name: str, dtype, value: np.ndarray) -> np.ndarray:
    """qonnx ``sanitize_quant_values`` for one integer-annotated tensor, vectorized."""
    if not isinstance(value, np.ndarray) or value.size == 0:
        return value
    allowed = dtype.allowed(value)
    if bool(np.all(allowed)):
        return value
    rounded = np.round(value)
    warnings.warn(f"The values of tensor {name} can't be represented with the set datatype "
                  f"annotation ({dtype.name}), they will be rounded to match the datatype annotation.")
    if float(np.max(np.abs(value - rounded))) > get_execution_error_thresh():
        raise UserFacingError(f"tensor {name!r}: rounding error too high to match its annotated "
                              f"datatype {dtype.name}; the graph computes non-integers where an "
                              "integer type is declared")
    return rounded


class _Step:
    """One node, ready to run: a custom op's wrapper or an onnxruntime session."""

    __slots__ = ("node", "custom", "session", "out_names", "sanitize_in", "sanitize_out")

    def __init__(self, model: ModelWrapper, node, opset: int, int_types: dict, initializers: set,
                 sessions: rt.SessionOptions):
        graph = model.graph
        self.node = node
        self.sanitize_in = [(t, int_types[t]) for t in node.input if t in int_types and t not in initializers]
        self.sanitize_out = [(t, int_types[t]) for t in node.output if t in int_types]
        self.session = None
        self.custom = None
        if is_custom_op(node.domain, node.op_type):
            try:
                self.custom = getCustomOp(node, onnx_opset_version=opset)
            except KeyError:
                raise UserFacingError(f"node {node.name!r}: custom op type {node.op_type} "
                                      f"(domain {node.domain}) is not registered") from None
            return
        # the one-node model qonnx builds for this node (same value infos, same order)
        inputs = [v for v in graph.input if v.name in node.input]
        inputs += [v for v in graph.output if v.name in node.input]
        inputs += [v for v in graph.value_info if v.name in node.input]
        outputs = [v for v in graph.output if v.name in node.output]
        outputs += [v for v in graph.value_info if v.name in node.output]
        for attr in node.attribute:
            if attr.type == 5:  # a subgraph: its value infos become inputs too
                for sub in attr.g.node:
                    inputs += [v for v in graph.value_info if v.name in sub.input and v not in inputs]
        one = qonnx_make_model(helper.make_graph(nodes=[node], name="single-node-exec",
                                                 inputs=inputs, outputs=outputs))
        one.opset_import[0].version = opset
        self.session = rt.InferenceSession(one.SerializeToString(), sess_options=sessions,
                                           providers=["CPUExecutionProvider"])
        self.out_names = [o.name for o in outputs]


class Executor:
    """``execute_onnx(model, inputs, return_full_exec_context)`` with the per-graph work done once."""

    def __init__(self, model: ModelWrapper):
        if not model.check_all_tensor_shapes_specified():
            raise UserFacingError("graph has tensors without a shape; run InferShapes before executing it")
        if model.get_metadata_prop("exec_mode") not in (None, ""):
            raise UserFacingError(f"graph metadata exec_mode={model.get_metadata_prop('exec_mode')!r}: "
                                  "only node-by-node execution is supported")
        self.model = model
        graph = model.graph
        self._sanitize = get_sanitize_quant_tensors() != 0
        int_types = {}
        if self._sanitize:
            names = [v.name for v in (*graph.input, *graph.output, *graph.value_info)]
            names += [t.name for t in graph.initializer]
            for n in names:
                dt = model.get_tensor_datatype(n)
                if dt.is_integer():
                    int_types[n] = dt
        self._buffers = {v.name: valueinfo_to_tensor(v) for v in (*graph.input, *graph.output, *graph.value_info)}
        self._inits = {}
        for t in graph.initializer:
            value = numpy_helper.to_array(t)
            self._inits[t.name] = _sanitize(t.name, int_types[t.name], value) if t.name in int_types else value
        opsets = model.get_opset_imports()
        options = rt.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        initializers = set(self._inits)
        self._steps = [_Step(model, n, opsets.get(n.domain, get_preferred_qonnx_opset()), int_types,
                             initializers, options) for n in graph.node]
        self._outputs = [o.name for o in graph.output]

    def __call__(self, inputs: dict, full_context: bool = False) -> dict:
        ctx = {name: np.zeros_like(buf) for name, buf in self._buffers.items()}
        ctx.update(self._inits)
        ctx[""] = None
        for name, value in inputs.items():
            if name not in ctx:
                continue
            if ctx[name].shape != value.shape:
                raise UserFacingError(f"input {name!r}: shape {value.shape}, the graph expects {ctx[name].shape}")
            ctx[name] = value
        graph = self.model.graph
        for step in self._steps:
            node = step.node
            if self._sanitize:
                for t, dt in step.sanitize_in:
                    ctx[t] = _sanitize(t, dt, ctx[t])
            if step.custom is not None:
                step.custom.execute_node(ctx, graph)
            else:
                got = step.session.run(None, {t: ctx[t] for t in node.input if t})
                for name, value in zip(step.out_names, got):
                    ctx[name] = value
            if self._sanitize:
                for t, dt in step.sanitize_out:
                    ctx[t] = _sanitize(t, dt, ctx[t])
        return ctx if full_context else {o: ctx[o] for o in self._outputs}


def executor(model: ModelWrapper | Executor) -> Executor:
    """``model`` prepared for repeated execution (an :class:`Executor` is returned as is)."""
    return model if isinstance(model, Executor) else Executor(model)
