"""Float64: the precision thresholds are computed in and the golden is judged in.

A quantized model is exact arithmetic on its float32 parameters; float32 *execution* is not. Two
places rounded where they must not (found on the trained camera model, 2026-12-01):

* FINN computes MultiThreshold thresholds in float32 (the Quant -> MultiThreshold handlers narrow
  to float32, then every absorbed Add/Mul rounds again). The first layer's thresholds sit on
  accumulators of ~2e5, where one float32 ulp is 1/64: thresholds came out up to 0.08 off, and
  ``ceil`` then put 2 of 32,100 integer thresholds on the wrong integer; 10 more landed within
  2.5e-7 of an integer and looked like exact rounding ties.
* The QONNX golden executed in float32 decides values within a few ulps of a rounding tie by
  its own rounding noise (50 of 1,280 camera outputs).

So the front end runs the threshold arithmetic on a DOUBLE graph (:func:`executable_float64`,
with ``Conv`` on its float64 stand-in since FINN's MoveAddPastConv executes one; then back with
:func:`to_float32` once the thresholds are integers), and the golden is executed in float64
(:func:`float64_golden`; float64 is ~1e-16 relative, far below the distances that decide a
rounding). onnxruntime has no float64 CPU kernels for ``Conv`` and ``AveragePool``, and qonnx's
``Quant`` casts its output to float32: the golden copy moves those nodes to
:mod:`tsmfpga.core.f64ops` (same semantics, executed in float64).
"""

from __future__ import annotations

import copy

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper

#: qonnx domain of the float64 stand-ins for ops onnxruntime only runs in float32
F64_DOMAIN = "tsmfpga.core.f64ops"
#: (domain, op type) of the ops that the float64 golden executes through :data:`F64_DOMAIN`
F64_OPS = {("", "Conv"), ("", "AveragePool"), ("qonnx.custom_op.general", "Quant"), ("onnx.brevitas", "Quant")}
#: the ops moved in the compiler's float64 region: FINN's MoveAddPastConv executes a Conv on a
#: constant (Quant and AveragePool are converted by then, or must keep their domain for it)
FRONTEND_F64_OPS = {("", "Conv")}
#: domain each op type returns to when the graph leaves float64
_HOME = {"Conv": "", "AveragePool": "", "Quant": "qonnx.custom_op.general"}


def _retype(model: ModelWrapper, src: int, dst: int) -> ModelWrapper:
    np_dst = np.float64 if dst == TensorProto.DOUBLE else np.float32
    model = ModelWrapper(copy.deepcopy(model.model))
    graph = model.graph
    for init in graph.initializer:
        if init.data_type == src:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np_dst), init.name))
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        if vi.type.tensor_type.elem_type == src:
            vi.type.tensor_type.elem_type = dst
    for node in graph.node:
        for a in node.attribute:
            if node.op_type == "Constant" and a.HasField("t") and a.t.data_type == src:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np_dst), a.t.name))
    return model


def to_float64(model: ModelWrapper) -> ModelWrapper:
    """A copy in which every float32 tensor (initializers, value infos, graph inputs/outputs,
    Constant nodes) is float64. Exact: every float32 value is a float64 value."""
    return _retype(model, TensorProto.FLOAT, TensorProto.DOUBLE)


def to_float32(model: ModelWrapper) -> ModelWrapper:
    """A copy back in float32 (each float64 value rounded once), every op of :data:`F64_DOMAIN`
    back in its own domain."""
    model = _retype(model, TensorProto.DOUBLE, TensorProto.FLOAT)
    for node in model.graph.node:
        if node.domain == F64_DOMAIN:
            node.domain = _HOME[node.op_type]
    for imp in [i for i in model.model.opset_import if i.domain == F64_DOMAIN]:
        model.model.opset_import.remove(imp)
    return model


def executable_float64(model: ModelWrapper, ops=FRONTEND_F64_OPS) -> ModelWrapper:
    """A float64 copy whose ``ops`` ((domain, op type) pairs) run through :data:`F64_DOMAIN`
    (same semantics, float64), so executing the graph, or one node of it, works in float64."""
    model = to_float64(model)
    moved = False
    for node in model.graph.node:
        if (node.domain, node.op_type) in ops:
            node.domain = F64_DOMAIN
            moved = True
    if moved and not any(i.domain == F64_DOMAIN for i in model.model.opset_import):
        model.model.opset_import.append(helper.make_opsetid(F64_DOMAIN, 1))
    return model


def is_float64(model: ModelWrapper) -> bool:
    """True when the graph's first input is float64 (a graph made by :func:`to_float64`)."""
    return model.graph.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE


def float64_golden(model: ModelWrapper) -> ModelWrapper:
    """A float64 copy of a QONNX graph to execute as the golden: retyped, and its ``Conv`` /
    ``AveragePool`` nodes moved to :data:`F64_DOMAIN`. The original is left as it was."""
    return executable_float64(model, F64_OPS)
