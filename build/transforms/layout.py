"""Layout clean-ups at the graph's edges, so that only HW layers remain in between.

* :class:`MakeInputNHWC`: ``input(NCHW) -> Transpose(0,2,3,1)`` becomes an NHWC graph input
  (the hardware streams pixels channel-last; for one input channel the bytes are identical).
* :class:`AbsorbTransposeIntoGlobalAvgPool`: ``Transpose(0,3,1,2) -> QuantAvgPool2d(NCHW)``
  becomes ``QuantAvgPool2d(NHWC) -> Transpose``; for a global pool that is a Transpose of a 1x1
  map, which :class:`MoveUnitReshapeToOutput` then folds away; otherwise the usual NHWC movers
  take the Transpose further.
* :class:`MoveUnitReshapeToOutput`: a Transpose/Reshape that only moves or drops size-1 axes
  (``(1,1,1,C) -> (1,C)``) in front of a chain of MatMul / Mul / Add with constants is moved to
  the graph output, so the classifier MatMul sees the NHWC stream and becomes an MVAU; the
  moved Reshape is part of the float post-processing.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import get_by_name


class MakeInputNHWC(Transformation):
    def apply(self, model: ModelWrapper):
        changed = False
        for inp in model.graph.input:
            cons = model.find_consumers(inp.name)
            if not cons or any(c.op_type != "Transpose" for c in cons):
                continue
            if any(list(get_by_name(c.attribute, "perm").ints) != [0, 2, 3, 1] for c in cons):
                continue
            dt = model.get_tensor_datatype(inp.name)
            n, c, h, w = model.get_tensor_shape(inp.name)
            for tr in cons:
                for nxt in model.find_consumers(tr.output[0]):
                    for i, t in enumerate(nxt.input):
                        if t == tr.output[0]:
                            nxt.input[i] = inp.name
                model.graph.node.remove(tr)
            model.set_tensor_shape(inp.name, [n, h, w, c])
            model.set_tensor_datatype(inp.name, dt)
            model.set_tensor_layout(inp.name, ["N", "H", "W", "C"])
            changed = True
        if changed:
            model = model.transform(InferShapes())
        return model, False


class AbsorbTransposeIntoGlobalAvgPool(Transformation):
    def apply(self, model: ModelWrapper):
        for tr in list(model.graph.node):
            if tr.op_type != "Transpose" or list(get_by_name(tr.attribute, "perm").ints) != [0, 3, 1, 2]:
                continue
            cons = model.find_consumers(tr.output[0])
            if len(cons) != 1 or cons[0].op_type != "QuantAvgPool2d":
                continue
            pool = cons[0]
            op = getCustomOp(pool)
            oshape = model.get_tensor_shape(pool.output[0])
            if op.get_nodeattr("data_layout") != "NCHW" or oshape is None or len(oshape) != 4:
                continue
            # Transpose -> Pool(NCHW)  ==>  Pool(NHWC) -> Transpose
            x, mid, y = tr.input[0], tr.output[0], pool.output[0]
            pool.input[0], pool.output[0] = x, mid
            tr.input[0], tr.output[0] = mid, y
            op.set_nodeattr("data_layout", "NHWC")
            g = model.graph
            g.node.remove(tr)
            g.node.insert(list(g.node).index(pool) + 1, tr)
            for vi in [v for v in g.value_info if v.name == mid]:
                g.value_info.remove(vi)
            model = model.transform(InferShapes()).transform(InferDataTypes())
            return model, True
        return model, False


def _moves_unit_axes_only(model: ModelWrapper, node) -> bool:
    ishape = model.get_tensor_shape(node.input[0])
    oshape = model.get_tensor_shape(node.output[0])
    if ishape is None or oshape is None:
        return False
    nontrivial_in = [d for d in ishape if d != 1]
    nontrivial_out = [d for d in oshape if d != 1]
    if nontrivial_in != nontrivial_out or len(nontrivial_in) > 1:
        return False
    return node.op_type in ("Reshape", "Transpose", "Flatten", "Squeeze")


def _last_axis_op(model: ModelWrapper, node) -> bool:
    """MatMul with 2D weights, or Mul/Add with a scalar / last-axis constant."""
    if node.op_type == "MatMul":
        w = model.get_initializer(node.input[1])
        return w is not None and w.ndim == 2
    if node.op_type in ("Mul", "Add"):
        c = model.get_initializer(node.input[1])
        return c is not None and (c.size == 1 or c.ndim == 1 or all(d == 1 for d in c.shape[:-1]))
    return False


class MoveUnitReshapeToOutput(Transformation):
    """Move a unit-axes-only Reshape/Transpose past last-axis ops (MatMul, Mul, Add) when they
    lead straight to the graph output; adjacent unit reshapes are merged."""

    def apply(self, model: ModelWrapper):
        outs = {o.name for o in model.graph.output}
        for node in list(model.graph.node):
            if not _moves_unit_axes_only(model, node) or node.output[0] in outs:
                continue
            cons = model.find_consumers(node.output[0])
            if len(cons) != 1:
                continue
            nxt = cons[0]
            if _moves_unit_axes_only(model, nxt):
                # merge two unit-axis reshapes into one Reshape to the final shape
                target = model.get_tensor_shape(nxt.output[0])
                self._replace(model, node, nxt, target)
                return model.transform(InferShapes()).transform(InferDataTypes()), True
            if not _last_axis_op(model, nxt) or nxt.input[0] != node.output[0]:
                continue
            if model.get_tensor_shape(node.input[0])[-1] != model.get_tensor_shape(node.output[0])[-1]:
                continue  # the feature axis must already be last for nxt to act on it
            # node -> nxt  ==>  nxt -> node  (nxt acts on the last axis, which node keeps)
            x, mid, y = node.input[0], node.output[0], nxt.output[0]
            target = model.get_tensor_shape(y)
            nxt.input[0], nxt.output[0] = x, mid
            g = model.graph
            g.node.remove(node)
            new = self._make_reshape(model, mid, y, target, node.name)
            g.node.insert(list(g.node).index(nxt) + 1, new)
            for vi in [v for v in g.value_info if v.name == mid]:
                g.value_info.remove(vi)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False

    @staticmethod
    def _make_reshape(model, x, y, target, name):
        shape_name = model.make_new_valueinfo_name()
        model.set_initializer(shape_name, np.asarray(target, dtype=np.int64))
        return helper.make_node("Reshape", [x, shape_name], [y], name=name)

    def _replace(self, model, first, second, target):
        g = model.graph
        new = self._make_reshape(model, first.input[0], second.output[0], target, first.name)
        idx = list(g.node).index(first)
        g.node.remove(first)
        g.node.remove(second)
        g.node.insert(idx, new)
