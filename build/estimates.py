"""Analytical per-layer estimates (cycles per frame, LUT / FF / BRAM36 / DSP) of a generic HW graph.

Every figure is ``"source": "analytical"``; the ``models`` field of a layer estimate says which
model produced each figure:

* ``finn-plus <Class>.<method>`` -- finn-plus' own model, evaluated on the generic node, or on a
  copy of it re-typed as the specialized class SpecializeLayers would pick (``MVAU_hls`` /
  ``ConvolutionInputGenerator_rtl`` / ``Thresholding_rtl`` ...). The generic
  ``ConvolutionInputGenerator.get_exp_cycles`` returns 0, so its cycles come from the RTL class.
* ``tsmfpga formula`` -- ours, for what finn-plus does not model (its estimate is 0 or absent):

  ======================  ==================================================================
  TemporalShift           LUT 40 + 2*PE*b (mux + address counters); buffer H*W*ShiftChannels*b
                          bits as width PE*b x depth H*W*ShiftChannels/PE in RAMB18 (finn's
                          BRAM18 geometry table) or LUTRAM (width * ceil(depth/64) LUTs)
  ElementwiseAdd          LUT 30 + PE*out_bits (one carry-chain LUT per sum bit)
  DuplicateStreams        LUT 10 + 4*outputs (handshake join; data is fan-out)
  Pool                    LUT 40 + 2*PE*acc_bits (compare/accumulate + register per lane)
  GlobalAccPool           LUT 30 + 2*PE*acc_bits
  FMPadding               LUT 60 + SIMD*b (zero mux + counters)
  FF (every op)           2*(in + out stream width) + 32 (I/O registers + control), plus
                          MVAU: PE*SIMD*(W+A) operand registers + 2*PE*acc_bits;
                          SWG/TemporalShift/Pool: + stream width (read register)
  MVAU DSP ("dsp" MACs)   ceil(PE/lanes)*SIMD DSP48 with lanes = 1 + (A_WIDTH - !narrow - W)
                          // (W + A - 1) (finn-rtllib mvu.sv lane packing, A_WIDTH 25 on
                          DSP48E1, 27 on DSP48E2); finn-plus' MVAU_rtl.dsp_estimation
                          assumes 4 lanes -- it is kept as ``dsp_finn_estimate``
  ======================  ==================================================================

* ``MVAU`` LUTs: finn-plus ``MVAU_hls.lut_estimation`` (FINN-R: 300 + 1.1*PE*(mult + adder tree
  + accumulator + threshold comparators/LUTRAM) + weight LUTRAM), with ``resType`` "dsp" (no
  multiplier LUTs) or "lut" (multiplier LUTs SIMD*(2*ceil((W+A)/6)-1)*(W+A) per PE). BRAM:
  finn-plus ``MVAU.bram_estimation`` (RAMB18 count of the weight memory; 0 for LUTRAM).

BRAM figures of finn-plus are RAMB18 counts; layer ``BRAM36`` = RAMB18 / 2 (may be .5).
``LUTRAM`` (LUTs used as distributed memory) is a subset of ``LUT``, reported separately because
only SLICEM LUTs (``board.lutram``) can hold memory. Not modelled: FIFOs and data-width converters
inserted later, AXI infrastructure, place-and-route effects.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from onnx import helper

#: attribute on MVAU nodes telling the RTL backend how to build the multipliers
MAC_IMPL_ATTR = "tsmfpga_mac_impl"
#: attribute on TemporalShift nodes: "block" | "distributed" frame buffer
TS_RAM_ATTR = "tsmfpga_ram_style"

RESOURCES = ("LUT", "FF", "BRAM36", "DSP", "LUTRAM")

_FINN = "finn-plus"
_OURS = "tsmfpga formula"

_HLS_DOMAIN = "finn.custom_op.fpgadataflow.hls"
_RTL_DOMAIN = "finn.custom_op.fpgadataflow.rtl"


# ----------------------------------------------------------------------------- helpers
def get_raw_attr(node, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def set_raw_attr(node, name: str, value) -> None:
    """Set an attribute the op class does not declare (e.g. ``tsmfpga_mac_impl``)."""
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(name, value))


def custom_op(node):
    from qonnx.custom_op.registry import getCustomOp

    return getCustomOp(node)


def specialized(node, variant: str):
    """A CustomOp of ``node`` re-typed as finn-plus' ``<op>_hls`` / ``<op>_rtl`` (on a copy)."""
    c = copy.deepcopy(node)
    c.op_type = f"{node.op_type}_{variant}"
    c.domain = _HLS_DOMAIN if variant == "hls" else _RTL_DOMAIN
    return custom_op(c)


def bram18_geometry(width: int, depth: int) -> int:
    """RAMB18 count of a width x depth memory (finn-plus' BRAM18 geometry table)."""
    from finn.custom_op.fpgadataflow.elementwise_binary import ElementwiseBinaryOperation

    return int(ElementwiseBinaryOperation._bram18_estimation(width, depth))


def lutram_luts(width: int, depth: int) -> int:
    """LUTs of a width x depth distributed RAM (64-deep LUT6 RAMs, finn's LUTRAM model)."""
    return int(width * math.ceil(depth / 64))


def choose_ram_style(bram18: int, lut_cost: int, board) -> str:
    """``block`` or ``distributed`` for one memory: the one that uses the smaller fraction of
    its own board resource (RAMB18 of 2*bram36 vs LUTRAM of ``board.lutram``). Tiny memories go
    to LUTRAM, deep ones to BRAM; the folder moves memories to LUTRAM if BRAM runs out."""
    if bram18 == 0:
        return "block"
    return "distributed" if lut_cost / board.lutram < bram18 / (2 * board.bram36) else "block"


def fold_attrs(node) -> tuple[int, int]:
    """(PE, SIMD) of a node as the folding report shows them (1 where the op has none)."""
    op = custom_op(node)
    types = op.get_nodeattr_types()
    pe = int(op.get_nodeattr("PE")) if "PE" in types else 1
    simd = int(op.get_nodeattr("SIMD")) if "SIMD" in types else 1
    return pe, simd


def _stream_widths(op) -> tuple[int, int]:
    try:
        iw = int(op.get_instream_width())
    except Exception:
        iw = 0
    try:
        ow = int(op.get_outstream_width())
    except Exception:
        ow = 0
    return iw, ow


def _ff_base(op) -> int:
    iw, ow = _stream_widths(op)
    return 2 * (iw + ow) + 32


# ----------------------------------------------------------------------------- cycles
def layer_cycles(node) -> tuple[int, str]:
    """(expected cycles per frame, model) of a generic HW node with its current folding."""
    if node.op_type == "ConvolutionInputGenerator":
        return int(specialized(node, "rtl").get_exp_cycles()), \
            f"{_FINN} ConvolutionInputGenerator_rtl.get_exp_cycles"
    if node.op_type == "TemporalShift":
        return int(custom_op(node).get_exp_cycles()), f"{_OURS} H*W*C/PE (TemporalShift.get_exp_cycles)"
    return int(custom_op(node).get_exp_cycles()), f"{_FINN} {node.op_type}.get_exp_cycles"


# ----------------------------------------------------------------------------- MVAU specifics
def _dsp_block(fpgapart: str) -> str:
    from finn.util.basic import get_dsp_block

    return get_dsp_block(fpgapart)


def mvau_weights_narrow(model, node) -> bool:
    op = custom_op(node)
    wdt = op.get_input_datatype(1)
    w = model.get_initializer(node.input[1]) if model is not None else None
    if w is None:
        return False
    return float(np.min(w)) > wdt.min()


def mvau_dsp_feasible(model, node, fpgapart: str) -> tuple[bool, str]:
    """Should this MVAU's MACs go to DSP slices? Our RTL MVAU takes any signed-weight layer; the
    DSP datapath limits and finn-plus' rule of LUT MACs below 4-bit operands still apply."""
    from finn.util.basic import get_dsp_datapath_limits

    op = custom_op(node)
    idt, wdt = op.get_input_datatype(0), op.get_input_datatype(1)
    if op.get_nodeattr("binaryXnorMode"):
        return False, "binary XNOR mode"
    if not wdt.signed():
        return False, "unsigned weights"
    if idt.bitwidth() < 4 or wdt.bitwidth() < 4:
        return False, "operands below 4 bits (finn-plus picks LUT MACs)"
    block = _dsp_block(fpgapart)
    max_act, max_w, max_acc = get_dsp_datapath_limits(block)
    acc = op.get_accumulator_datatype().bitwidth() if hasattr(op, "get_accumulator_datatype") else 32
    if idt.bitwidth() - int(idt.signed()) >= max_act or wdt.bitwidth() > max_w or acc > max_acc:
        return False, "operand or accumulator wider than the DSP datapath"
    return True, ""


def mvau_dsp_lanes(model, node, fpgapart: str) -> int:
    """MACs per DSP slice of our RTL MVAU (hw/rtl/mvau.sv): one product per DSP48E1, measured with
    yosys synth_xilinx on the reference (373 products -> 373 DSP48E1). finn-rtllib's mvu.sv packs
    several narrow MACs per slice, but finn-plus refuses it for our layers (embedded thresholds,
    non-narrow weights on DSP48E1), so that packing is not available to this flow."""
    return 1


def _mvau_memories(op, ram_style: str) -> tuple[int, int]:
    """(RAMB18, LUTRAM LUTs) of the weight memory under ``ram_style`` (finn-plus models)."""
    saved = op.get_nodeattr("ram_style")
    op.set_nodeattr("ram_style", "block")
    bram18 = int(op.bram_estimation(None))
    op.set_nodeattr("ram_style", saved)
    pe, simd = op.get_nodeattr("PE"), op.get_nodeattr("SIMD")
    wbits = op.get_input_datatype(1).bitwidth()
    lut = int(pe * simd * wbits * math.ceil(op.calc_wmem() / 64))  # finn MVAU_hls c2 term
    return (bram18, 0) if ram_style == "block" else (0, lut)


def mvau_ram_style(node, board) -> str:
    op = custom_op(node)
    bram18, _ = _mvau_memories(op, "block")
    _, lut = _mvau_memories(op, "distributed")
    return choose_ram_style(bram18, lut, board)


def estimate_mvau(model, node, board, mac_impl: str | None = None, ram_style: str | None = None) -> dict:
    part = board.part
    mac_impl = mac_impl or get_raw_attr(node, MAC_IMPL_ATTR) or "dsp"
    gen = custom_op(node)
    ram_style = ram_style or gen.get_nodeattr("ram_style")
    if ram_style not in ("block", "distributed"):
        ram_style = mvau_ram_style(node, board)
    spec_node = copy.deepcopy(node)
    hls = specialized(spec_node, "hls")
    hls.set_nodeattr("ram_style", ram_style)
    hls.set_nodeattr("mem_mode", "internal_decoupled")
    hls.set_nodeattr("ram_style_thresholds", "distributed")
    hls.set_nodeattr("resType", "dsp" if mac_impl == "dsp" else "lut")
    lut = int(hls.lut_estimation(part))
    bram18, lutram = _mvau_memories(hls, ram_style)
    pe, simd = hls.get_nodeattr("PE"), hls.get_nodeattr("SIMD")
    w, a = hls.get_input_datatype(1).bitwidth(), hls.get_input_datatype(0).bitwidth()
    acc = hls.get_accumulator_datatype().bitwidth()
    # thresholds stored in LUTRAM (finn's thr_luts term is part of the LUT figure)
    if not hls.get_nodeattr("noActivation"):
        b = hls.get_output_datatype().bitwidth()
        lutram += int(1.1 * pe * (2**b - 1) * acc * math.ceil(hls.calc_tmem() / 64))
    models = {"cycles": layer_cycles(node)[1],
              "LUT": f"{_FINN} MVAU_hls.lut_estimation(resType={'dsp' if mac_impl == 'dsp' else 'lut'}, "
                     f"ram_style={ram_style})",
              "BRAM36": f"{_FINN} MVAU.bram_estimation / 2",
              "FF": _OURS}
    dsp, dsp_finn = 0, 0
    if mac_impl == "dsp":
        lanes = mvau_dsp_lanes(model, node, part)
        dsp = int(math.ceil(pe / lanes) * simd)
        rtl = specialized(spec_node, "rtl")
        dsp_finn = int(rtl.dsp_estimation(part))
        models["DSP"] = f"{_OURS} ceil(PE/{lanes} lanes)*SIMD (finn-rtllib mvu.sv packing)"
    else:
        models["DSP"] = "LUT multipliers (0 DSP)"
    ff = _ff_base(hls) + pe * simd * (w + a) + 2 * pe * acc
    return {"resources": {"LUT": lut, "FF": int(ff), "BRAM36": bram18 / 2, "DSP": dsp, "LUTRAM": lutram},
            "models": models, "mac_impl": mac_impl, "ram_style": ram_style, "dsp_finn_estimate": dsp_finn,
            "weight_bits": int(w * hls.get_nodeattr("MW") * hls.get_nodeattr("MH"))}


# ----------------------------------------------------------------------------- other ops
def _ts_memory(op, ram_style: str | None, board) -> tuple[str, int, int]:
    """(ram_style, RAMB18, LUTRAM) of the TemporalShift frame buffer."""
    h, w = op.get_nodeattr("ImgDim")
    pe, k = op.get_nodeattr("PE"), op.get_nodeattr("ShiftChannels")
    bits = op.get_input_datatype().bitwidth()
    width, depth = pe * bits, h * w * k // pe
    bram18, lut = bram18_geometry(width, depth), lutram_luts(width, depth)
    style = ram_style if ram_style in ("block", "distributed") else choose_ram_style(bram18, lut, board)
    return style, (bram18 if style == "block" else 0), (lut if style == "distributed" else 0)


def swg_ram_style(node, board) -> str:
    spec = specialized(node, "rtl")
    spec.set_nodeattr("ram_style", "block")
    bram18 = int(spec.bram_estimation(board.part))
    spec.set_nodeattr("ram_style", "distributed")
    lut = int(spec.lut_estimation(board.part)) - 300
    return choose_ram_style(bram18, lut, board)


def estimate_layer(model, node, board, **kw) -> dict:
    """Analytical estimate of one generic HW node with its current folding attributes.

    Returns ``{name, op, pe, simd, cycles, resources{LUT,FF,BRAM36,DSP,LUTRAM}, source, models,
    ...}``; MVAUs also carry ``mac_impl`` / ``ram_style``, memories their ``ram_style``."""
    part = board.part
    cycles, cyc_model = layer_cycles(node)
    pe, simd = fold_attrs(node)
    out: dict[str, Any] = {"name": node.name, "op": node.op_type, "pe": pe, "simd": simd,
                           "cycles": cycles, "source": "analytical"}
    op = custom_op(node)
    t = node.op_type
    if t == "MVAU":
        e = estimate_mvau(model, node, board, **kw)
    elif t == "ConvolutionInputGenerator":
        spec = specialized(node, "rtl")
        style = spec.get_nodeattr("ram_style")
        lut = int(spec.lut_estimation(part))
        lutram = lut - 300 if style == "distributed" else 0
        bram18 = int(spec.bram_estimation(part))
        e = {"resources": {"LUT": lut, "FF": _ff_base(spec) + spec.get_instream_width(),
                           "BRAM36": bram18 / 2, "DSP": 0, "LUTRAM": lutram},
             "models": {"LUT": f"{_FINN} ConvolutionInputGenerator_rtl.lut_estimation",
                        "BRAM36": f"{_FINN} ConvolutionInputGenerator_rtl.bram_estimation / 2",
                        "FF": _OURS, "DSP": "none"},
             "ram_style": style, "impl_style": spec.select_impl_style()}
    elif t == "Thresholding":
        spec = specialized(node, "rtl")
        mem_lut = int(math.ceil(spec.lut_estimation(part)))
        bram18 = int(spec.bram_estimation(part))
        a = spec.get_input_datatype(0).bitwidth()
        stages = max(1, math.ceil(math.log2(spec.get_nodeattr("numSteps") + 1)))
        comp = pe * stages * (a + 2)
        e = {"resources": {"LUT": mem_lut + comp, "FF": _ff_base(spec) + pe * stages * (a + 2),
                           "BRAM36": bram18 / 2, "DSP": 0, "LUTRAM": mem_lut},
             "models": {"LUT": f"{_FINN} Thresholding_rtl.lut_estimation (threshold memory) + {_OURS} "
                               "PE*ceil(log2(steps+1))*(bits+2) (binary-search comparators)",
                        "BRAM36": f"{_FINN} Thresholding_rtl.bram_estimation / 2", "FF": _OURS, "DSP": "none"}}
    elif t == "TemporalShift":
        style, bram18, lutram = _ts_memory(op, get_raw_attr(node, TS_RAM_ATTR), board)
        bits = op.get_input_datatype().bitwidth()
        e = {"resources": {"LUT": 40 + 2 * pe * bits + lutram, "FF": _ff_base(op) + pe * bits,
                           "BRAM36": bram18 / 2, "DSP": 0, "LUTRAM": lutram},
             "models": {"LUT": _OURS, "BRAM36": f"{_OURS} (finn BRAM18 geometry)", "FF": _OURS, "DSP": "none"},
             "ram_style": style, "buffer_bits": int(op.buffer_bits())}
    elif t in ("ElementwiseAdd", "ElementwiseSub"):
        ob = op.get_output_datatype().bitwidth()
        mem_lut = int(op.lut_estimation(part))  # constant operand memory (0 for two streams)
        bram18 = int(op.bram_estimation(part))
        e = {"resources": {"LUT": 30 + pe * ob + mem_lut, "FF": _ff_base(op), "BRAM36": bram18 / 2,
                           "DSP": 0, "LUTRAM": mem_lut},
             "models": {"LUT": f"{_OURS} 30 + PE*out_bits (+ {_FINN} parameter memory)",
                        "BRAM36": f"{_FINN} {t}.bram_estimation / 2", "FF": _OURS, "DSP": "none"}}
    elif t == "DuplicateStreams":
        n_out = op.get_nodeattr("NumOutputStreams")
        iw, _ = _stream_widths(op)
        e = {"resources": {"LUT": 10 + 4 * n_out, "FF": 2 * iw * (1 + n_out) + 32, "BRAM36": 0, "DSP": 0,
                           "LUTRAM": 0},
             "models": {"LUT": _OURS, "FF": _OURS, "BRAM36": "none", "DSP": "none"}}
    elif t in ("Pool", "GlobalAccPool"):
        if t == "Pool":
            acc = op.get_nodeattr("AccumBits") or op.get_input_datatype().bitwidth()
            base = 40
        else:
            acc = op.get_output_datatype().bitwidth()
            base = 30
        e = {"resources": {"LUT": base + 2 * pe * acc, "FF": _ff_base(op) + pe * acc, "BRAM36": 0, "DSP": 0,
                           "LUTRAM": 0},
             "models": {"LUT": _OURS, "FF": _OURS, "BRAM36": "none", "DSP": "none"}}
    elif t == "FMPadding":
        iw, _ = _stream_widths(op)
        e = {"resources": {"LUT": 60 + iw, "FF": _ff_base(op), "BRAM36": 0, "DSP": 0, "LUTRAM": 0},
             "models": {"LUT": _OURS, "FF": _OURS, "BRAM36": "none", "DSP": "none"}}
    else:  # anything else: finn-plus' generic estimates (may be 0) + our FF formula
        r = op.node_res_estimation(part)
        e = {"resources": {"LUT": int(r["LUT"]), "FF": _ff_base(op), "BRAM36": r["BRAM_18K"] / 2,
                           "DSP": int(r["DSP"]), "LUTRAM": 0},
             "models": {"LUT": f"{_FINN} {t}.lut_estimation", "BRAM36": f"{_FINN} {t}.bram_estimation / 2",
                        "DSP": f"{_FINN} {t}.dsp_estimation", "FF": _OURS}}
    e["models"]["cycles"] = cyc_model
    out.update(e)
    out["resources"] = {k: (int(v) if k != "BRAM36" else float(v)) for k, v in out["resources"].items()}
    return out
