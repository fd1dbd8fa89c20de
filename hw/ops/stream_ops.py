"""Owners of the stream plumbing ops: ``DuplicateStreams`` -> ``hw/rtl/duplicate_streams.sv`` and
the elementwise binary ops (``ElementwiseAdd`` of two streams -> ``hw/rtl/add_streams.sv``;
``ElementwiseSub`` / ``ElementwiseMul``: estimate only, no RTL).

Folding: PE | NumChannels (DuplicateStreams), PE | channels = last output dim (elementwise).
Estimate (tsmfpga formula): DuplicateStreams LUT 10 + 4*outputs (handshake join; data is
fan-out), FF 2*in_width*(1 + outputs) + 32. ElementwiseAdd/Sub LUT 30 + PE*out_bits (one
carry-chain LUT per sum bit) + finn-plus' parameter memory (0 for two streams), FF base.
ElementwiseMul: finn-plus' own estimates. No decisions besides PE.
"""

from __future__ import annotations

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.backend.base import BackendError, RtlInstance
from tsmfpga.hw.ops.owner import (
    FINN,
    OURS,
    ChannelPEOwner,
    axis_stream,
    custom_op,
    ff_base,
    register,
    stream_widths,
)


class DuplicateStreamsOwner(ChannelPEOwner):
    op_types = ("DuplicateStreams",)
    kind = "DuplicateStreams"
    modules = ("duplicate_streams",)
    rtl_ops = ("DuplicateStreams",)

    def resources(self, model, node, board) -> dict:
        op = custom_op(node)
        n_out = op.get_nodeattr("NumOutputStreams")
        iw, _ = stream_widths(op)
        return {"resources": {"LUT": 10 + 4 * n_out, "FF": 2 * iw * (1 + n_out) + 32, "BRAM36": 0, "DSP": 0,
                              "LUTRAM": 0},
                "models": {"LUT": OURS, "FF": OURS, "BRAM36": "none", "DSP": "none"}}

    def rtl(self, model, node, ctx) -> RtlInstance:
        inst = custom_op(node)
        if inst.get_nodeattr("NumOutputStreams") != 2:
            raise BackendError(f"node {node.name}: DuplicateStreams RTL has 2 outputs, "
                               f"NumOutputStreams={inst.get_nodeattr('NumOutputStreams')}")
        s_in = axis_stream(model, node, 0, True, "s_axis", tlast="s_axis_tlast", tuser="s_axis_tuser")
        outs = [axis_stream(model, node, i, False, f"m{i}_axis", tlast=f"m{i}_axis_tlast",
                            tuser=f"m{i}_axis_tuser") for i in range(2)]
        return RtlInstance(name=node.name, module="duplicate_streams",
                           params={"DATA_WIDTH": s_in.width, "USER_WIDTH": 1},
                           inputs=[s_in], outputs=outs, sources=[rtl_source("duplicate_streams.sv")])


class ElementwiseAddOwner(ChannelPEOwner):
    op_types = ("ElementwiseAdd", "ElementwiseSub")
    kind = "ElementwiseAdd"
    modules = ("add_streams",)
    rtl_ops = ("ElementwiseAdd",)
    channels_attr = None

    def resources(self, model, node, board) -> dict:
        op = custom_op(node)
        t, part, pe = node.op_type, board.finn_part, op.get_nodeattr("PE")
        ob = op.get_output_datatype().bitwidth()
        mem_lut = int(op.lut_estimation(part))  # constant operand memory (0 for two streams)
        bram18 = int(op.bram_estimation(part))
        return {"resources": {"LUT": 30 + pe * ob + mem_lut, "FF": ff_base(op), "BRAM36": bram18 / 2,
                              "DSP": 0, "LUTRAM": mem_lut},
                "models": {"LUT": f"{OURS} 30 + PE*out_bits (+ {FINN} parameter memory)",
                           "BRAM36": f"{FINN} {t}.bram_estimation / 2", "FF": OURS, "DSP": "none"}}

    def rtl(self, model, node, ctx) -> RtlInstance:
        if node.op_type not in self.rtl_ops:
            return super().rtl(model, node, ctx)
        inst = custom_op(node)
        lhs, rhs = (model.get_tensor_datatype(t) for t in node.input[:2])
        out = model.get_tensor_datatype(node.output[0])
        styles = inst.get_nodeattr("lhs_style"), inst.get_nodeattr("rhs_style")
        if styles != ("input", "input"):
            raise BackendError(f"node {node.name}: ElementwiseAdd RTL adds two streams; "
                               f"lhs_style/rhs_style are {styles} (constant operands are not supported)")
        if lhs != rhs or lhs.is_fixed_point() or not lhs.is_integer():
            raise BackendError(f"node {node.name}: ElementwiseAdd RTL needs both inputs of one integer "
                               f"type, got {lhs.name} + {rhs.name}; share one quantizer before the add")
        lo, hi = 2 * lhs.min(), 2 * lhs.max()
        if not (out.allowed(lo) and out.allowed(hi)):
            raise BackendError(f"node {node.name}: output type {out.name} cannot hold {lhs.name} + {rhs.name}")
        ins = [axis_stream(model, node, i, True, f"s{i}_axis", tlast=f"s{i}_axis_tlast", tuser=f"s{i}_axis_tuser")
               for i in range(2)]
        if ins[0].lanes != ins[1].lanes:
            raise BackendError(f"node {node.name}: both inputs need the same PE")
        return RtlInstance(
            name=node.name, module="add_streams",
            params={"PE": ins[0].lanes, "IN_BITS": lhs.bitwidth(), "IN_SIGNED": int(lhs.signed()),
                    "OUT_BITS": out.bitwidth(), "USER_WIDTH": 1},
            inputs=ins,
            outputs=[axis_stream(model, node, 0, False, "m_axis", tlast="m_axis_tlast", tuser="m_axis_tuser")],
            sources=[rtl_source("add_streams.sv")], latency_cycles=1)


class ElementwiseMulOwner(ChannelPEOwner):
    """finn-plus' own estimates, no RTL."""

    op_types = ("ElementwiseMul",)
    kind = "ElementwiseMul"
    channels_attr = None


DUPLICATE_STREAMS = register(DuplicateStreamsOwner())
ELEMENTWISE_ADD = register(ElementwiseAddOwner())
ELEMENTWISE_MUL = register(ElementwiseMulOwner())
