"""Streamlining and layout movers that know our ``TemporalShift`` op.

``TemporalShift`` (TS) copies channels of the previous frame and shifts in zeros on a clip's
first frame, channel position preserved. Hence, for the per-frame graph:

* a Mul by a scalar or per-channel constant commutes with it: ``TS(x * m) = TS(x) * m``
  (zeros stay zeros, channel c is still scaled by m[c]);
* an Add does NOT commute (frame 0 would shift in ``b`` instead of 0): never move Adds;
* a Transpose commutes if the channel axis is tracked: ``TS_L(T(x)) = T(TS_L'(x))`` where
  ``L'`` puts the channel axis where the Transpose takes it from.

The movers push Mul and Transpose *downstream* past TS (FINN streamlining moves scales toward
thresholds and Transposes toward each other, where they cancel).
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import get_by_name

_AXIS_OF = {"NCHW": 1, "NHWC": 3}
_LAYOUT_OF = {1: "NCHW", 3: "NHWC"}


def _single_ts_consumer(model: ModelWrapper, node):
    cons = model.find_consumers(node.output[0])
    if len(cons) != 1 or cons[0].op_type != "TemporalShift":
        return None
    if node.output[0] in [o.name for o in model.graph.output]:
        return None
    return cons[0]


def _swap(model: ModelWrapper, first, ts) -> None:
    """first -> ts  becomes  ts -> first (first has one dynamic input at position 0)."""
    x, mid, y = first.input[0], first.output[0], ts.output[0]
    ts.input[0] = x
    ts.output[0] = mid
    first.input[0] = mid
    first.output[0] = y
    g = model.graph
    g.node.remove(ts)
    g.node.insert(list(g.node).index(first), ts)
    # the intermediate tensor changes meaning (shape / layout / datatype): drop stale annotations
    for vi in [v for v in g.value_info if v.name == mid]:
        g.value_info.remove(vi)
    model.set_tensor_datatype(mid, model.get_tensor_datatype(x))


class MoveMulPastTemporalShift(Transformation):
    """``Mul(x, m) -> TS`` to ``TS(x) -> Mul(m)`` for scalar or per-channel constant m."""

    def apply(self, model: ModelWrapper):
        changed = False
        for n in list(model.graph.node):
            if n.op_type != "Mul":
                continue
            m = model.get_initializer(n.input[1])
            ts = _single_ts_consumer(model, n)
            if m is None or ts is None or model.get_initializer(n.input[0]) is not None:
                continue
            if not self._per_channel(model, ts, np.asarray(m)):
                continue
            _swap(model, n, ts)
            changed = True
        if changed:
            model = model.transform(InferShapes()).transform(InferDataTypes())
        return model, changed

    @staticmethod
    def _per_channel(model, ts, m) -> bool:
        if m.size == 1:
            return True
        shape = model.get_tensor_shape(ts.input[0])
        axis = _AXIS_OF[getCustomOp(ts).get_nodeattr("data_layout")]
        if m.ndim > len(shape):
            return False
        full = [1] * (len(shape) - m.ndim) + list(m.shape)
        return all(d == 1 for i, d in enumerate(full) if i != axis)


class MoveTransposePastTemporalShift(Transformation):
    """``Transpose(perm) -> TS_L`` to ``TS_L' -> Transpose(perm)``, L' = layout of the channel axis
    before the Transpose (only NCHW <-> NHWC)."""

    def apply(self, model: ModelWrapper):
        changed = False
        for n in list(model.graph.node):
            if n.op_type != "Transpose":
                continue
            ts = _single_ts_consumer(model, n)
            if ts is None:
                continue
            perm = list(get_by_name(n.attribute, "perm").ints)
            op = getCustomOp(ts)
            src_axis = perm[_AXIS_OF[op.get_nodeattr("data_layout")]]
            if src_axis not in _LAYOUT_OF:
                continue
            op.set_nodeattr("data_layout", _LAYOUT_OF[src_axis])
            _swap(model, n, ts)
            changed = True
        if changed:
            model = model.transform(InferShapes()).transform(InferDataTypes())
        return model, changed


class AbsorbTransposeAfterTemporalShift(Transformation):
    """``TS_L -> Transpose(perm)`` (TS has only this consumer) to ``Transpose(perm) -> TS_L'``:
    moves the Transpose upstream, used when it can cancel against one before the TS."""

    def apply(self, model: ModelWrapper):
        changed = False
        for ts in list(model.graph.node):
            if ts.op_type != "TemporalShift":
                continue
            cons = model.find_consumers(ts.output[0])
            if len(cons) != 1 or cons[0].op_type != "Transpose":
                continue
            prod = model.find_producer(ts.input[0])
            if prod is None or prod.op_type != "Transpose":
                continue  # only worth it when it meets another Transpose
            tr = cons[0]
            perm = list(get_by_name(tr.attribute, "perm").ints)
            op = getCustomOp(ts)
            dst_axis = perm.index(_AXIS_OF[op.get_nodeattr("data_layout")])
            if dst_axis not in _LAYOUT_OF:
                continue
            op.set_nodeattr("data_layout", _LAYOUT_OF[dst_axis])
            # ts -> tr  becomes  tr -> ts
            x, mid, y = ts.input[0], ts.output[0], tr.output[0]
            tr.input[0], tr.output[0] = x, mid
            ts.input[0], ts.output[0] = mid, y
            g = model.graph
            g.node.remove(tr)
            g.node.insert(list(g.node).index(ts), tr)
            for vi in [v for v in g.value_info if v.name == mid]:
                g.value_info.remove(vi)
            changed = True
        if changed:
            model = model.transform(InferShapes()).transform(InferDataTypes())
        return model, changed


def sync_temporal_shift_attrs(model: ModelWrapper) -> ModelWrapper:
    """Refresh NumChannels / ImgDim / inputDataType of every TS from its input tensor."""
    for n in model.graph.node:
        if n.op_type != "TemporalShift":
            continue
        op = getCustomOp(n)
        shape = model.get_tensor_shape(n.input[0])
        if op.get_nodeattr("data_layout") == "NHWC":
            _, h, w, c = shape
        else:
            _, c, h, w = shape
        op.set_nodeattr("NumChannels", int(c))
        op.set_nodeattr("ImgDim", [int(h), int(w)])
        op.set_nodeattr("inputDataType", model.get_tensor_datatype(n.input[0]).name)
    return model
