"""Owner of ``VVAU`` (finn-plus VectorVectorActivation: the depthwise convolution) -> our
``hw/rtl/vvau.sv``.

The front end lowers a depthwise conv (Brevitas ``QuantConv2d`` with groups = in = out channels)
to FMPadding -> depthwise ConvolutionInputGenerator (SWG) -> VVAU (finn-plus'
``InferVectorVectorActivation``; weights ``(Channels, 1, K_H, K_W)``, thresholds absorbed).

Folding: PE | Channels, SIMD = 1 (one window position per beat: our RTL does not parallelise the
window; finn's VVAU SIMD > 1 would need a parallel-window SWG). The depthwise SWG right before it
is folded together with it (SWG SIMD = VVAU PE; its options are None, see
:mod:`tsmfpga.hw.ops.finn_rtl`), and the layer's cycles are the slower of the two. The RTL
consumes the SWG's depthwise stream order, so the backend requires that producer with SIMD = PE.
Cycles: finn-plus ``VVAU.get_exp_cycles`` = Channels*K_H*K_W/PE per output pixel, which is what the
RTL takes (one beat per cycle).

Decisions (declared finn attributes, honoured by the backend):

* ``resType`` "dsp" | "lut" -> ``MAC_IMPL`` (products as ``*`` or LUT-6 digit tables, hw/rtl/lut_mult.sv); default
  "dsp" where :func:`~tsmfpga.hw.ops.mvau.mvau_dsp_feasible` allows it (signed weights, operands
  >= 4 bits, DSP datapath limits), the folder's DSP repair may move it to "lut"; "auto" builds "dsp".
* ``ram_style`` "block" | "distributed" -> ``RAM_STYLE`` of the weight ROM; default the cheaper
  fraction of its board resource; "auto" builds "block".

Estimate: LUT finn-plus ``VVAU_hls.lut_estimation`` (FINN-R: 300 + 1.1*PE*(mult + adder + acc +
threshold LUTRAM/comparators) + weight LUTRAM) with our ``resType`` / ``ram_style``; BRAM finn-plus
``VVAU.bram_estimation`` (RAMB18, 0 when distributed); LUTRAM (tsmfpga formula) weight memory
PE*W*ceil(WMEM/64) when distributed + thresholds PE*(2^b-1)*acc*ceil(TMEM/64); DSP PE with "dsp"
MACs (one product per DSP48E1 -- yosys' rule; finn's ``dsp_estimation`` is kept as
``dsp_finn_estimate``); FF (tsmfpga formula) base + the pipeline registers of hw/rtl/vvau.sv
(operands, products, accumulator, compares or accumulator copy, threshold word).
Latency: :func:`vvau_latency`.
"""

from __future__ import annotations

import copy
import math

import numpy as np
from qonnx.core.datatype import DataType

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.backend.base import BackendError, RtlInstance
from tsmfpga.hw.ops.mvau import DSP_MIN_PRODUCT_BITS, mac_impl_of, mvau_dsp_capable, mvau_dsp_feasible
from tsmfpga.hw.ops.owner import (
    fold_with_window,
    activation_rom,
    FINN,
    MAC_IMPLS,
    OURS,
    RAM_STYLES,
    OpOwner,
    axis_stream,
    choose_ram_style,
    custom_op,
    decision,
    divisors,
    ff_base,
    hex_words,
    pack,
    register,
    specialized,
)


def vvau_latency(kernel: int) -> int:
    """Cycles from a window's first input beat to its output beat in hw/rtl/vvau.sv without stalls:
    KERNEL beats in, then 5 stages after the window's last beat (operands, product, accumulator,
    compare, output FIFO), minus the accept cycle: KERNEL + 4."""
    return int(kernel) + 4


def vvau_weights(model, node) -> np.ndarray:
    """The integer weights as (Channels, K) with k = kh*K_W + kw (im2col order of the SWG)."""
    op = custom_op(node)
    ch = op.get_nodeattr("Channels")
    k = int(np.prod(op.get_nodeattr("Kernel")))
    w = model.get_initializer(node.input[1])
    if w is None:
        raise BackendError(f"node {node.name}: VVAU weights must be a constant initializer")
    w = np.asarray(w)
    if w.size != ch * k:
        raise BackendError(f"node {node.name}: weights shape {w.shape}, expected (Channels, 1, K_H, K_W) = "
                           f"({ch}, 1, {op.get_nodeattr('Kernel')})")
    return w.reshape(ch, k)


def vvau_accumulator_range(weights: np.ndarray, idt: DataType) -> tuple[int, int]:
    """True accumulator range over all inputs the input type allows and the actual weights
    (``weights`` (Channels, K); the worst channel counts)."""
    w = weights.astype(np.int64)
    a, b = w * int(idt.min()), w * int(idt.max())
    return int(np.minimum(a, b).sum(axis=1).min()), int(np.maximum(a, b).sum(axis=1).max())


def _memories(op, ram_style: str) -> tuple[int, int]:
    """(RAMB18, LUTRAM LUTs) of the weight memory under ``ram_style``."""
    saved = op.get_nodeattr("ram_style")
    op.set_nodeattr("ram_style", "block")
    bram18 = int(op.bram_estimation(None))
    op.set_nodeattr("ram_style", saved)
    wbits = op.get_input_datatype(1).bitwidth()
    lut = int(op.get_nodeattr("PE") * wbits * math.ceil(op.calc_wmem() / 64))
    return (bram18, 0) if ram_style == "block" else (0, lut)


def vvau_ram_style(node, board) -> str:
    op = custom_op(node)
    return choose_ram_style(_memories(op, "block")[0], _memories(op, "distributed")[1], board)


def _window_producer(model, node):
    prod = model.find_producer(node.input[0])
    if prod is not None and prod.op_type == "ConvolutionInputGenerator" and custom_op(prod).get_nodeattr("depthwise"):
        return prod
    return None


#: RTL of the VVAU: the module, its multiply lane and the LUT multiplier
VVAU_SOURCES = ("vvau.sv", "mac_lane.sv", "lut_mult.sv")


class VvauOwner(OpOwner):
    op_types = ("VVAU",)
    kind = "VVAU"
    modules = ("vvau",)
    rtl_ops = ("VVAU",)
    memory_attr = "ram_style"

    def options(self, model, node):
        return [{"PE": p, "SIMD": 1} for p in divisors(custom_op(node).get_nodeattr("Channels"))]

    def apply(self, model, node, opt: dict) -> int:
        """Sets PE (SIMD = 1) here and SIMD = PE on the depthwise sliding window before it."""
        return fold_with_window(self, model, node, opt, depthwise_only=True)

    def decide(self, model, node, board) -> None:
        ok, _ = mvau_dsp_feasible(model, node, board.finn_part)
        op = custom_op(node)
        op.set_nodeattr("resType", "dsp" if ok else "lut")
        op.set_nodeattr("ram_style", vvau_ram_style(node, board))

    def set_mac_impl(self, node, impl: str) -> None:
        custom_op(node).set_nodeattr("resType", impl)

    def dsp_capable(self, model, node, board) -> bool:
        """DSP MACs possible, one product per DSP of at least DSP_MIN_PRODUCT_BITS bits."""
        if not mvau_dsp_capable(model, node, board.finn_part)[0]:
            return False
        op = custom_op(node)
        return (op.get_input_datatype(0).bitwidth() + op.get_input_datatype(1).bitwidth() + 2
                >= DSP_MIN_PRODUCT_BITS)

    def resources(self, model, node, board) -> dict:
        op = custom_op(node)
        mac_impl = mac_impl_of(node)
        ram_style = op.get_nodeattr("ram_style")
        if ram_style not in RAM_STYLES:
            ram_style = vvau_ram_style(node, board)
        spec_node = copy.deepcopy(node)
        hls = specialized(spec_node, "hls")
        hls.set_nodeattr("ram_style", ram_style)
        hls.set_nodeattr("mem_mode", "internal_decoupled")
        hls.set_nodeattr("resType", mac_impl)
        lut = int(hls.lut_estimation(board.finn_part))
        bram18, lutram = _memories(hls, ram_style)
        pe = hls.get_nodeattr("PE")
        w, a = hls.get_input_datatype(1).bitwidth(), hls.get_input_datatype(0).bitwidth()
        acc = hls.get_accumulator_datatype().bitwidth()
        noact = bool(hls.get_nodeattr("noActivation"))
        steps = 0 if noact else 2 ** hls.get_output_datatype().bitwidth() - 1
        if not noact:
            lutram += int(pe * steps * acc * math.ceil(hls.calc_tmem() / 64))
        dsp = pe if mac_impl == "dsp" else 0
        ff = (ff_base(hls) + pe * (a + w) + pe * (w + a + 2) + pe * acc
              + (pe * acc if noact else pe * steps * (1 + acc)) + 24)
        return {"resources": {"LUT": lut, "FF": int(ff), "BRAM36": bram18 / 2, "DSP": int(dsp), "LUTRAM": lutram},
                "models": {"LUT": f"{FINN} VVAU_hls.lut_estimation(resType={mac_impl}, ram_style={ram_style})",
                           "BRAM36": f"{FINN} VVAU.bram_estimation / 2", "FF": OURS, "LUTRAM": OURS,
                           "DSP": f"{OURS} PE (one product per DSP48E1)" if dsp else "LUT multipliers (0 DSP)"},
                "mac_impl": mac_impl, "ram_style": ram_style,
                "dsp_finn_estimate": int(specialized(copy.deepcopy(spec_node), "hls").dsp_estimation(board.finn_part)),
                "weight_bits": int(w * hls.get_nodeattr("Channels") * int(np.prod(hls.get_nodeattr("Kernel"))))}

    def rtl(self, model, node, ctx) -> RtlInstance:
        inst = custom_op(node)
        ch, pe, simd = inst.get_nodeattr("Channels"), inst.get_nodeattr("PE"), inst.get_nodeattr("SIMD")
        kernel = int(np.prod(inst.get_nodeattr("Kernel")))
        if simd != 1:
            raise BackendError(f"node {node.name} (VVAU): SIMD = {simd}; the RTL takes one window position "
                               "per beat (SIMD = 1): fold with PE only")
        if ch % pe:
            raise BackendError(f"node {node.name} (VVAU): PE = {pe} must divide Channels = {ch}")
        if inst.get_nodeattr("binaryXnorMode"):
            raise BackendError(f"node {node.name} (VVAU): binary XNOR mode has no RTL; use >= 2-bit weights "
                               "or activations for depthwise convs")
        prod = _window_producer(model, node)
        if prod is None or custom_op(prod).get_nodeattr("SIMD") != pe:
            raise BackendError(f"node {node.name} (VVAU): the RTL consumes the stream order of a depthwise "
                               f"sliding window generator with SIMD = PE = {pe} right before it")
        idt, wdt = model.get_tensor_datatype(node.input[0]), model.get_tensor_datatype(node.input[1])
        odt = model.get_tensor_datatype(node.output[0])
        if idt == DataType["BIPOLAR"]:
            raise BackendError(f"node {node.name} (VVAU): bipolar inputs are not supported")
        w = vvau_weights(model, node)
        if not np.array_equal(w, np.round(w)):
            raise BackendError(f"node {node.name} (VVAU): non-integer weights; streamline scales out first")
        w = w.astype(np.int64)
        if wdt == DataType["BIPOLAR"]:
            wbits, wsigned = 2, True  # +-1 as 2-bit two's complement
        else:
            wbits, wsigned = wdt.bitwidth(), wdt.signed()
        lo, hi = vvau_accumulator_range(w, idt)
        nf = ch // pe
        nsteps, thr_words, tbits, acc_bits = activation_rom(model, node, ch, pe, lo, hi, " (VVAU)")
        w_words = [pack([w[g * pe + p, k] for p in range(pe)], wbits) for g in range(nf) for k in range(kernel)]
        impl = decision(node, "resType", MAC_IMPLS, "dsp")
        ram_style = decision(node, "ram_style", RAM_STYLES, "block")
        wfile, tfile = f"{node.name}_weights.hex", f"{node.name}_thresholds.hex"
        files = {wfile: hex_words(w_words, pe * wbits)}
        if thr_words is not None:
            files[tfile] = hex_words(thr_words, pe * nsteps * tbits)
        else:
            tfile = ""
        return RtlInstance(
            name=node.name, module="vvau",
            params={"CHANNELS": ch, "PE": pe, "KERNEL": kernel, "IN_BITS": idt.bitwidth(),
                    "IN_SIGNED": int(idt.signed()), "W_BITS": wbits, "W_SIGNED": int(wsigned),
                    "ACC_BITS": acc_bits, "NSTEPS": nsteps, "T_BITS": tbits,
                    "ACT_VAL": int(inst.get_nodeattr("ActVal")), "OUT_BITS": odt.bitwidth(),
                    "WEIGHT_FILE": wfile, "THRESH_FILE": tfile, "MAC_IMPL": impl, "RAM_STYLE": ram_style},
            inputs=[axis_stream(model, node, 0, True, "s_axis")],
            outputs=[axis_stream(model, node, 0, False, "m_axis")],
            sources=[rtl_source(n) for n in VVAU_SOURCES], files=files, latency_cycles=vvau_latency(kernel))


VVAU = register(VvauOwner())
