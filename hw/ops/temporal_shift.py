"""``TemporalShift``: the stateful streaming op of a TSM network (online / uni-directional).

Per frame and per pixel, the first ``ShiftChannels`` channels of the output are the first
``ShiftChannels`` channels of the *previous* frame's input at the same pixel (zeros on the first
frame of a clip); the remaining channels pass through. In hardware this is one frame buffer of
``H * W * ShiftChannels`` values; a clip-start signal clears it.

Owner (:class:`TemporalShiftOwner`): folding PE | gcd(NumChannels, ShiftChannels); cycles
H*W*NumChannels/PE; decisions ``PE`` and ``ram_style`` (declared attributes, RTL parameters
``PE`` / ``RAM_STYLE`` of ``hw/rtl/temporal_shift.sv``); estimate (tsmfpga formula): LUT
40 + 2*PE*b (mux + address counters) + LUTRAM; FF base + PE*b (read register); the buffer is
width PE*b x depth H*W*ShiftChannels/PE, in RAMB18 by finn's BRAM18 geometry table ("block") or
width*ceil(depth/64) LUTRAM LUTs ("distributed"); default: the cheaper fraction of its board
resource; the folder's BRAM<->LUTRAM repair may move it.

Streams (``streams`` attribute, ``tsmfpga compile --streams N``, RTL parameter ``STREAMS``): the
op serves N independent streams (cameras) whose whole frames interleave; each stream has its own
frame buffer and clip state, so the buffer is N x H*W*K/PE words (the estimate and the folder's
BRAM/LUTRAM choice see the N-fold memory) plus, for N > 1, N have-prev flip-flops (LUT
N + N/4 + 2*ceil(log2 N), FF N + 2*ceil(log2 N) + 1). In Python execution each stream keeps its
buffer under its own key (:func:`tsmfpga.core.clip.stream_state_key`; the active stream is set by
:func:`tsmfpga.core.clip.run_streams`).

Python execution (``execute_onnx``) creates a fresh ``CustomOp`` wrapper for every node call, so
the frame buffer cannot live on the instance: it lives in the clip runner's store
(:data:`tsmfpga.core.clip.STATE`) keyed by the node's ``state_id`` attribute (falls back to the
node name). :func:`tsmfpga.core.clip.reset_state` clears it at clip start. A new ``state_id`` is
drawn from Python's ``random``, which the build runner seeds per step from the incoming graph, so a
build is reproducible across processes while different graphs still get different ids.
"""

from __future__ import annotations

import math
import random

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.backend.base import RtlInstance
from tsmfpga.hw.ops.owner import (
    OURS,
    RAM_STYLES,
    OpOwner,
    axis_stream,
    bram18_geometry,
    choose_ram_style,
    custom_op,
    decision,
    divisors,
    ff_base,
    lutram_luts,
    register,
)

from tsmfpga.core.clip import ACTIVE_STREAM, STATE, reset_state, stream_state_key  # noqa: F401  (reset_state: re-exported)

#: qonnx domain of our ops (a Python module path: qonnx imports it to find the op class)
DOMAIN = "tsmfpga.hw.ops"

_LAYOUT_CHANNEL_AXIS = {"NHWC": 3, "NCHW": 1}


def get_state(node) -> np.ndarray | None:
    """The buffered channels of ``node`` for the active stream (None right after a reset)."""
    return STATE.get(stream_state_key(node))


def make_temporal_shift_node(inp: str, out: str, num_channels: int, shift_channels: int,
                             img_dim: tuple[int, int], data_layout: str = "NHWC",
                             input_dtype: str = "FLOAT32", name: str = "",
                             state_id: str | None = None):
    """An ONNX node of our ``TemporalShift`` op (domain :data:`DOMAIN`)."""
    return helper.make_node(
        "TemporalShift", [inp], [out], domain=DOMAIN, name=name,
        backend="fpgadataflow", NumChannels=int(num_channels), ShiftChannels=int(shift_channels),
        ImgDim=[int(d) for d in img_dim], data_layout=data_layout, inputDataType=input_dtype,
        Direction="online", PE=1, state_id=state_id or f"{random.getrandbits(48):012x}",
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
            # frame buffer memory (folding decision, RTL parameter RAM_STYLE): "block" (BRAM) or
            # "distributed" (LUTRAM); "auto" = undecided (estimated as the owner's default,
            # built as "block")
            "ram_style": ("s", False, "auto", {"auto", "block", "distributed"}),
            # key of the Python-execution frame buffer (stable across graph copies)
            "state_id": ("s", False, ""),
            # independent streams (cameras) served: one frame buffer and clip state per stream
            # (RTL parameter STREAMS; the stream id arrives per frame on tdest)
            "streams": ("i", False, 1),
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
        """Size of the frame buffers in bits (streams * H * W * ShiftChannels * bitwidth)."""
        h, w = self.get_nodeattr("ImgDim")
        return (self.get_nodeattr("streams") * h * w * self.get_nodeattr("ShiftChannels")
                * self.get_input_datatype().bitwidth())

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
        if self.get_nodeattr("streams") < 1:
            msgs.append(f"streams={self.get_nodeattr('streams')} must be >= 1")
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
        streams, stream = self.get_nodeattr("streams"), ACTIVE_STREAM["id"]
        if not 0 <= stream < streams:
            raise ValueError(f"TemporalShift {node.name}: stream {stream} out of range (streams={streams})")
        key = stream_state_key(node)
        prev = STATE.get(key)
        if prev is None or prev.shape != cur.shape:
            prev = np.zeros_like(cur)
        out = x.copy()
        idx = [slice(None)] * 4
        idx[axis] = slice(0, k)
        out[tuple(idx)] = prev
        STATE[key] = cur.copy()
        context[node.output[0]] = out.astype(np.float32)


# ----------------------------------------------------------------------------- owner
def ts_memory(op, ram_style: str | None, board) -> tuple[str, int, int]:
    """(ram_style, RAMB18, LUTRAM) of the frame buffers (``ram_style`` None / "auto": the
    default): one RAM of streams x H*W*K/PE words (the RTL's buffer address is stream * depth +
    position)."""
    h, w = op.get_nodeattr("ImgDim")
    pe, k = op.get_nodeattr("PE"), op.get_nodeattr("ShiftChannels")
    bits = op.get_input_datatype().bitwidth()
    width, depth = pe * bits, h * w * k // pe * op.get_nodeattr("streams")
    bram18, lut = bram18_geometry(width, depth), lutram_luts(width, depth)
    style = ram_style if ram_style in RAM_STYLES else choose_ram_style(bram18, lut, board)
    return style, (bram18 if style == "block" else 0), (lut if style == "distributed" else 0)


class TemporalShiftOwner(OpOwner):
    op_types = ("TemporalShift",)
    kind = "TemporalShift"
    modules = ("temporal_shift",)
    rtl_ops = ("TemporalShift",)
    memory_attr = "ram_style"

    def options(self, model, node):
        op = custom_op(node)
        return [{"PE": p} for p in divisors(math.gcd(op.get_nodeattr("NumChannels"),
                                                     op.get_nodeattr("ShiftChannels")))]

    def cycles(self, node):
        return int(custom_op(node).get_exp_cycles()), f"{OURS} H*W*C/PE (TemporalShift.get_exp_cycles)"

    def decide(self, model, node, board) -> None:
        op = custom_op(node)
        op.set_nodeattr("ram_style", ts_memory(op, None, board)[0])

    def resources(self, model, node, board) -> dict:
        op = custom_op(node)
        pe = op.get_nodeattr("PE")
        style, bram18, lutram = ts_memory(op, op.get_nodeattr("ram_style"), board)
        bits = op.get_input_datatype().bitwidth()
        streams = op.get_nodeattr("streams")
        # per stream: a have-prev flip-flop with its write enable (1 LUT) and a share of the read
        # mux (1/4 LUT); the stream register, first-beat flag and address concatenation
        sw = max(1, (streams - 1).bit_length())
        lut_s, ff_s = (streams + streams // 4 + 2 * sw, streams + 2 * sw + 1) if streams > 1 else (0, 0)
        return {"resources": {"LUT": 40 + 2 * pe * bits + lutram + lut_s, "FF": ff_base(op) + pe * bits + ff_s,
                              "BRAM36": bram18 / 2, "DSP": 0, "LUTRAM": lutram},
                "models": {"LUT": OURS, "BRAM36": f"{OURS} (finn BRAM18 geometry)", "FF": OURS, "DSP": "none"},
                "ram_style": style, "buffer_bits": int(op.buffer_bits()), "streams": int(streams)}

    def rtl(self, model, node, ctx) -> RtlInstance:
        inst = custom_op(node)
        h, w = inst.get_nodeattr("ImgDim")
        c, k, pe = (inst.get_nodeattr(a) for a in ("NumChannels", "ShiftChannels", "PE"))
        bits = model.get_tensor_datatype(node.input[0]).bitwidth()
        ram_style = decision(node, "ram_style", RAM_STYLES, "block")
        streams = inst.get_nodeattr("streams")
        params = {"CHANNELS": c, "SHIFT_CHANNELS": k, "PE": pe, "PIXELS": h * w, "DATA_BITS": bits,
                  "RAM_STYLE": ram_style}
        if streams > 1:   # one stream: the parameter and the tdest port stay at their defaults
            params["STREAMS"] = streams
        return RtlInstance(
            name=node.name, module="temporal_shift", params=params,
            stream_port="s_axis_tdest" if streams > 1 else None,
            inputs=[axis_stream(model, node, 0, True, "s_axis", tlast="s_axis_tlast", tuser="s_axis_tuser")],
            outputs=[axis_stream(model, node, 0, False, "m_axis", tlast="m_axis_tlast", tuser="m_axis_tuser")],
            sources=[rtl_source("temporal_shift.sv")], clip_frame_beats=h * w * c // pe, latency_cycles=1)


TEMPORAL_SHIFT = register(TemporalShiftOwner())
