"""Owners of ``Pool`` (max / average pooling after a depthwise sliding window) -> our
``hw/rtl/pool.sv``, and of ``GlobalAccPool`` (finn-plus HLS only: estimate, no RTL).

Pool: folding PE | Channels; the depthwise ConvolutionInputGenerator right before it is folded
together with it (SWG SIMD = Pool PE; the layer's cycles are the slower of the two). The RTL
consumes the SWG's depthwise stream order, so it requires that producer with SIMD = PE.
Functions: MaxPool (output type = input type) and QuantAvgPool (sum >> Size).
Estimate (tsmfpga formula): LUT 40 + 2*PE*acc_bits (compare/accumulate + register per lane),
FF base + PE*acc_bits; no memory. GlobalAccPool: PE | NumChannels; LUT 30 + 2*PE*acc_bits.
"""

from __future__ import annotations

import numpy as np

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.backend.base import BackendError, RtlInstance, Stream
from tsmfpga.hw.ops.owner import (
    fold_with_window,
    OURS,
    ChannelPEOwner,
    OpOwner,
    axis_stream,
    custom_op,
    divisors,
    ff_base,
    register,
)

_FUNCTIONS = {"MaxPool": 0, "QuantAvgPool": 1}


def _accumulator_resources(op, acc: int, base: int) -> dict:
    pe = op.get_nodeattr("PE")
    return {"resources": {"LUT": base + 2 * pe * acc, "FF": ff_base(op) + pe * acc, "BRAM36": 0, "DSP": 0,
                          "LUTRAM": 0},
            "models": {"LUT": OURS, "FF": OURS, "BRAM36": "none", "DSP": "none"}}


class PoolOwner(OpOwner):
    op_types = ("Pool",)
    kind = "Pool"
    modules = ("pool",)
    rtl_ops = ("Pool",)

    def options(self, model, node):
        return [{"PE": p} for p in divisors(custom_op(node).get_nodeattr("Channels"))]

    def apply(self, model, node, opt: dict) -> int:
        """Sets PE here and SIMD = PE on a sliding-window producer."""
        return fold_with_window(self, model, node, opt)

    def resources(self, model, node, board) -> dict:
        op = custom_op(node)
        return _accumulator_resources(op, op.get_nodeattr("AccumBits") or op.get_input_datatype().bitwidth(), 40)

    def rtl(self, model, node, ctx) -> RtlInstance:
        inst = custom_op(node)
        fn = inst.get_nodeattr("Function")
        if fn not in _FUNCTIONS:
            raise BackendError(f"node {node.name}: Pool Function {fn!r} has no RTL (supported: MaxPool, QuantAvgPool)")
        idt, odt = model.get_tensor_datatype(node.input[0]), model.get_tensor_datatype(node.output[0])
        k = int(np.prod(inst.get_nodeattr("KernelSize")))
        if fn == "MaxPool" and idt.bitwidth() != odt.bitwidth():
            raise BackendError(f"node {node.name}: MaxPool output type {odt.name} differs from input {idt.name}")
        pe = inst.get_nodeattr("PE")
        prod = model.find_producer(node.input[0])
        if prod is None or prod.op_type != "ConvolutionInputGenerator" or \
                custom_op(prod).get_nodeattr("SIMD") != pe or not custom_op(prod).get_nodeattr("depthwise"):
            raise BackendError(f"node {node.name}: Pool RTL consumes the stream order of a depthwise sliding "
                               f"window generator with SIMD = PE = {pe} right before it")
        return RtlInstance(
            name=node.name, module="pool",
            params={"CHANNELS": inst.get_nodeattr("Channels"), "PE": pe, "KERNEL": k,
                    "IN_BITS": idt.bitwidth(), "IN_SIGNED": int(idt.signed()), "OUT_BITS": odt.bitwidth(),
                    "FUNCTION": _FUNCTIONS[fn],
                    "SHIFT": int(inst.get_nodeattr("Size")) if fn == "QuantAvgPool" else 0},
            inputs=[Stream("s_axis_tdata", "s_axis_tvalid", "s_axis_tready", pe, idt.bitwidth(),
                           pe * idt.bitwidth())],
            outputs=[axis_stream(model, node, 0, False, "m_axis")],
            sources=[rtl_source("pool.sv")], latency_cycles=1)


class GlobalAccPoolOwner(ChannelPEOwner):
    op_types = ("GlobalAccPool",)
    kind = "GlobalAccPool"

    def resources(self, model, node, board) -> dict:
        op = custom_op(node)
        return _accumulator_resources(op, op.get_output_datatype().bitwidth(), 30)


POOL = register(PoolOwner())
GLOBAL_ACC_POOL = register(GlobalAccPoolOwner())
