"""``TemporalShift``: the stateful streaming op of a TSM network (online / uni-directional).

Per frame and per pixel, the first ``ShiftChannels`` channels of the output are the first
``ShiftChannels`` channels of the *previous* frame's input at the same pixel (zeros on the first
frame of a clip); the remaining channels pass through. In hardware this is one frame buffer of
``H * W * ShiftChannels`` values; a clip-start signal clears it.

Python execution (``execute_onnx``) creates a fresh ``CustomOp`` wrapper for every node call, so
the frame buffer cannot live on the instance: it lives in a module-level store keyed by the node's
``state_id`` attribute (falls back to the node name). Call :func:`reset_state` at clip start
(it clears every buffer, or only those of one model's nodes). Do not interleave two clips through
graphs that share ``state_id`` values (copies of one graph do).
"""

from __future__ import annotations

import uuid

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp

#: qonnx domain of our ops (a Python module path: qonnx imports it to find the op class)
DOMAIN = "tsmfpga.hw.ops"

#: frame buffers of the Python execution: state_id -> previous frame's shifted channels
_STATE: dict[str, np.ndarray] = {}

_LAYOUT_CHANNEL_AXIS = {"NHWC": 3, "NCHW": 1}


def _state_key(node) -> str:
    for a in node.attribute:
        if a.name == "state_id" and a.s:
            return a.s.decode()
    return node.name


def reset_state(model=None) -> None:
    """Clip start: forget the previous frame (all buffers, or those of ``model``'s nodes)."""
    if model is None:
        _STATE.clear()
        return
    for node in model.graph.node:
        if node.op_type == "TemporalShift":
            _STATE.pop(_state_key(node), None)


def get_state(node) -> np.ndarray | None:
    """The buffered channels of ``node`` (None right after a reset)."""
    return _STATE.get(_state_key(node))


def make_temporal_shift_node(inp: str, out: str, num_channels: int, shift_channels: int,
                             img_dim: tuple[int, int], data_layout: str = "NHWC",
                             input_dtype: str = "FLOAT32", name: str = "",
                             state_id: str | None = None):
    """An ONNX node of our ``TemporalShift`` op (domain :data:`DOMAIN`)."""
    return helper.make_node(
        "TemporalShift", [inp], [out], domain=DOMAIN, name=name,
        backend="fpgadataflow", NumChannels=int(num_channels), ShiftChannels=int(shift_channels),
        ImgDim=[int(d) for d in img_dim], data_layout=data_layout, inputDataType=input_dtype,
        Direction="online", PE=1, state_id=state_id or uuid.uuid4().hex[:12],
    )


class TemporalShift(HWCustomOp):
    """Online temporal shift of the first ``ShiftChannels`` of ``NumChannels`` channels."""

    def get_nodeattr_types(self):
        attrs = {
            "NumChannels": ("i", True, 0),
            "ShiftChannels": ("i", True, 0),
            # [H, W] of the feature map
            "ImgDim": ("ints", True, [1, 1]),
            # FINN DataType name of the input (= output) stream
            "inputDataType": ("s", True, ""),
            # only "online" streams (bidirectional needs one frame of look-ahead)
            "Direction": ("s", False, "online", {"online"}),
            # NHWC in the HW graph; NCHW only transiently, before the graph is made NHWC
            "data_layout": ("s", False, "NHWC", {"NHWC", "NCHW"}),
            # channels per cycle (SIMD-like folding); must divide NumChannels and ShiftChannels
            "PE": ("i", False, 1),
            # key of the Python-execution frame buffer (stable across graph copies)
            "state_id": ("s", False, ""),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    # ---- shapes and streams (FINN HWCustomOp style) ----
    def get_normal_input_shape(self, ind=0):
        h, w = self.get_nodeattr("ImgDim")
        c = self.get_nodeattr("NumChannels")
        return (1, c, h, w) if self.get_nodeattr("data_layout") == "NCHW" else (1, h, w, c)

    def get_normal_output_shape(self, ind=0):
        return self.get_normal_input_shape()

    def get_folded_input_shape(self, ind=0):
        h, w = self.get_nodeattr("ImgDim")
        c, pe = self.get_nodeattr("NumChannels"), self.get_nodeattr("PE")
        return (1, h, w, c // pe, pe)

    def get_folded_output_shape(self, ind=0):
        return self.get_folded_input_shape()

    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr("inputDataType")]

    def get_output_datatype(self, ind=0):
        return self.get_input_datatype()

    def get_instream_width(self, ind=0):
        return self.get_input_datatype().bitwidth() * self.get_nodeattr("PE")

    def get_outstream_width(self, ind=0):
        return self.get_instream_width()

    def get_exp_cycles(self):
        return int(np.prod(self.get_folded_output_shape()[:-1]))

    def buffer_bits(self) -> int:
        """Size of the frame buffer in bits (H * W * ShiftChannels * bitwidth)."""
        h, w = self.get_nodeattr("ImgDim")
        return h * w * self.get_nodeattr("ShiftChannels") * self.get_input_datatype().bitwidth()

    # ---- graph integration ----
    def make_shape_compatible_op(self, model):
        return super().make_const_shape_op(self.get_normal_output_shape())

    def infer_node_datatype(self, model):
        idt = model.get_tensor_datatype(self.onnx_node.input[0])
        self.set_nodeattr("inputDataType", idt.name)
        model.set_tensor_datatype(self.onnx_node.output[0], idt)

    def verify_node(self):
        msgs = []
        c, k, pe = (self.get_nodeattr(a) for a in ("NumChannels", "ShiftChannels", "PE"))
        if not 0 < k <= c:
            msgs.append(f"ShiftChannels={k} must be in 1..NumChannels={c}")
        if pe < 1 or c % pe or k % pe:
            msgs.append(f"PE={pe} must divide NumChannels={c} and ShiftChannels={k}")
        dt = self.get_nodeattr("inputDataType")
        if dt and dt != "FLOAT32" and not DataType[dt].allowed(0):
            msgs.append(f"inputDataType {dt} cannot represent the zeros shifted in at clip start")
        return msgs or ["TemporalShift attributes OK"]

    # ---- Python execution ----
    def execute_node(self, context, graph):
        node = self.onnx_node
        x = np.asarray(context[node.input[0]])
        k = self.get_nodeattr("ShiftChannels")
        axis = _LAYOUT_CHANNEL_AXIS[self.get_nodeattr("data_layout")]
        if x.ndim != 4:
            raise ValueError(f"TemporalShift {node.name}: expected a 4D input, got shape {x.shape}")
        cur = np.take(x, range(k), axis=axis)
        key = _state_key(node)
        prev = _STATE.get(key)
        if prev is None or prev.shape != cur.shape:
            prev = np.zeros_like(cur)
        out = x.copy()
        idx = [slice(None)] * 4
        idx[axis] = slice(0, k)
        out[tuple(idx)] = prev
        _STATE[key] = cur.copy()
        context[node.output[0]] = out.astype(np.float32)
