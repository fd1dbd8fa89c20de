"""Owner of ``MVAU`` (finn-plus MatrixVectorActivation) -> our ``hw/rtl/mvau.sv``.

Folding: PE | MH, SIMD | MW (every pair; ties of equal PE*SIMD are broken by the folder with the
cheaper estimate). Cycles: finn-plus ``MVAU.get_exp_cycles`` (MH/PE * MW/SIMD per vector).

Decisions (declared finn attributes, honoured by the backend):

* ``resType`` "dsp" | "lut" -> ``MAC_IMPL``: products as ``*`` (one DSP48E1 per product in
  yosys) or LUT-6 digit tables and adders (hw/rtl/lut_mult.sv). Default "dsp" where the DSP datapath can take the layer
  (:func:`mvau_dsp_feasible`); the folder moves the cheapest DSP consumers to "lut" while DSPs are
  over budget. "auto" (never folded) builds "dsp".
* ``ram_style`` "block" | "distributed" -> ``RAM_STYLE``: the weight ROM's ``rom_style``
  attribute. Default: the memory using the smaller fraction of its board resource
  (:func:`~tsmfpga.hw.ops.owner.choose_ram_style`); the folder's BRAM<->LUTRAM repair moves it.
  "auto" builds "block".

Estimate: LUT finn-plus ``MVAU_hls.lut_estimation`` (FINN-R: 300 + 1.1*PE*(mult + adder tree +
accumulator + threshold comparators/LUTRAM) + weight LUTRAM) with ``resType`` "dsp" (no multiplier
LUTs) or "lut" (multiplier LUTs SIMD*(2*ceil((W+A)/6)-1)*(W+A) per PE); BRAM finn-plus
``MVAU.bram_estimation`` (RAMB18 of the weight memory; 0 for LUTRAM); LUTRAM = weight memory
PE*SIMD*W*ceil(WMEM/64) when distributed + thresholds 1.1*PE*(2^b-1)*acc*ceil(TMEM/64);
DSP ("dsp" MACs) ceil(SIMD/lanes)*PE: hw/rtl/mvau.sv packs ``lanes`` = :func:`mvau_dsp_lanes`
neighbouring SIMD lanes into one multiplier (a dot product in one DSP: 2 for 4-bit x 4-bit, 1 for
8-bit; finn-plus' ``MVAU_rtl.dsp_estimation`` is kept as ``dsp_finn_estimate``); with packing the
adder-tree LUT term follows the packed tree;
FF: base + the pipeline registers of hw/rtl/mvau.sv (operands and products twice, every second
adder-tree level, accumulator, compares). Latency: :func:`mvau_latency`.
"""

from __future__ import annotations

import copy
import math

import numpy as np
from qonnx.core.datatype import DataType

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.backend.base import BackendError, RtlInstance
from tsmfpga.hw.ops.owner import (
    activation_rom,
    FINN,
    MAC_IMPLS,
    OURS,
    RAM_STYLES,
    OpOwner,
    axis_stream,
    bits_signed,
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


# ----------------------------------------------------------------------------- estimate helpers
def mvau_dsp_capable(model, node, fpgapart: str) -> tuple[bool, str]:
    """Can hw/rtl/mvau.sv put this MVAU's (or VVAU's) MACs in DSP slices at all? Not in XNOR mode
    (no multipliers), not with bipolar operands, and not beyond the DSP datapath limits."""
    from finn.util.basic import get_dsp_block, get_dsp_datapath_limits

    op = custom_op(node)
    idt, wdt = op.get_input_datatype(0), op.get_input_datatype(1)
    if "binaryXnorMode" in op.get_nodeattr_types() and op.get_nodeattr("binaryXnorMode"):
        return False, "binary XNOR mode"
    if DataType["BIPOLAR"] in (idt, wdt):
        return False, "bipolar operands"
    max_act, max_w, max_acc = get_dsp_datapath_limits(get_dsp_block(fpgapart))
    acc = op.get_accumulator_datatype().bitwidth() if hasattr(op, "get_accumulator_datatype") else 32
    if idt.bitwidth() - int(idt.signed()) >= max_act or wdt.bitwidth() > max_w or acc > max_acc:
        return False, "operand or accumulator wider than the DSP datapath"
    return True, ""


def mvau_dsp_feasible(model, node, fpgapart: str) -> tuple[bool, str]:
    """Should this MVAU's MACs go to DSP slices by default? Where they can
    (:func:`mvau_dsp_capable`), with signed weights and finn-plus' rule of LUT MACs below 4-bit
    operands (the folder's rebalancing may still move such a layer to DSPs when LUTs run out)."""
    ok, why = mvau_dsp_capable(model, node, fpgapart)
    if not ok:
        return ok, why
    op = custom_op(node)
    idt, wdt = op.get_input_datatype(0), op.get_input_datatype(1)
    if not wdt.signed():
        return False, "unsigned weights"
    if idt.bitwidth() < 4 or wdt.bitwidth() < 4:
        return False, "operands below 4 bits (finn-plus picks LUT MACs)"
    return True, ""


#: the narrowest product synthesis maps to a DSP slice (yosys synth_xilinx' rule; hw/rtl/mvau.sv and
#: vvau.sv give a DSP product IN_BITS + W_BITS + 2 bits)
DSP_MIN_PRODUCT_BITS = 9

#: signed operand width both packed multiplier inputs must fit: the smaller port of a DSP48E1 /
#: DSP48E2 (25x18 / 27x18) and ECP5's MULT18X18D, so one rule holds on every board family
PACK_PORT_BITS = 18


def pack_field_bits(in_bits: int, w_bits: int, lanes: int) -> int:
    """Width S of one field of a dot-product packed product (hw/rtl/mvau.sv, DSP_LANES): the sum
    of ``lanes`` unsigned products x*u < 2**(in_bits + w_bits) each."""
    return in_bits + w_bits + (lanes - 1).bit_length()


def dsp_pack_lanes(in_bits: int, in_signed: bool, w_bits: int, simd: int) -> int:
    """SIMD lanes one multiplier sums in hw/rtl/mvau.sv (``DSP_LANES``): the most N <= SIMD with
    both packed operands, (N-1)*S + bits + 1 signed bits, within :data:`PACK_PORT_BITS`. Signed
    inputs are not packed (1). E.g. 4-bit x 4-bit: 2; 2-bit x 2-bit: 3; 8-bit x 8-bit: 1."""
    if in_signed:
        return 1
    best = 1
    for n in range(2, int(simd) + 1):
        s = pack_field_bits(in_bits, w_bits, n)
        if (n - 1) * s + max(in_bits, w_bits) + 1 > PACK_PORT_BITS:
            break
        best = n
    return best


def mvau_dsp_lanes(node) -> int:
    """``DSP_LANES`` of this MVAU with DSP MACs: :func:`dsp_pack_lanes` of its operand types and
    SIMD (1 for XNOR layers, which have no multipliers). The estimate, the folding (DSP count
    ceil(SIMD/lanes)*PE) and the backend all read it here."""
    op = custom_op(node)
    if op.get_nodeattr("binaryXnorMode"):
        return 1
    idt, wdt = op.get_input_datatype(0), op.get_input_datatype(1)
    if idt == DataType["BIPOLAR"] or wdt == DataType["BIPOLAR"]:
        return 1
    return dsp_pack_lanes(idt.bitwidth(), idt.signed(), wdt.bitwidth(), op.get_nodeattr("SIMD"))


def mvau_latency(sf: int, simd: int, lanes: int = 1, dsp: bool = False) -> int:
    """Cycles from a vector's first input beat to its first output beat in hw/rtl/mvau.sv without
    stalls: SF beats in, then 7 + TS pipeline stages after the vector's last step (operands x2,
    products x2, TS = ceil(log2(ceil(SIMD / lanes)) / 2) adder-tree stages, accumulator, compare,
    output FIFO), minus the issue cycle: SF + 6 + TS; DSP products (``dsp``, MAC_IMPL "dsp"
    without XNOR) register their operands once more: + 1."""
    leaves = -(-int(simd) // int(lanes))
    levels = (leaves - 1).bit_length() if leaves > 1 else 0
    return int(sf) + 6 + (levels + 1) // 2 + int(bool(dsp))


def _memories(op, ram_style: str) -> tuple[int, int]:
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
    """Default ``ram_style`` of the weight ROM (cheaper fraction of its board resource)."""
    op = custom_op(node)
    bram18, _ = _memories(op, "block")
    _, lut = _memories(op, "distributed")
    return choose_ram_style(bram18, lut, board)


def mvau_accumulator_range(weights: np.ndarray, idt: DataType, xnor: bool) -> tuple[int, int]:
    """True range of the MVAU accumulator over all inputs the input type allows and the actual
    weights (per output channel, the worst channel counts). XNOR mode: popcount 0..MW."""
    mw = weights.shape[0]
    if xnor:
        return 0, mw
    w = weights.astype(np.int64)
    a, b = w * int(idt.min()), w * int(idt.max())
    lo = np.minimum(a, b).sum(axis=0)
    hi = np.maximum(a, b).sum(axis=0)
    return int(lo.min()), int(hi.max())


def widen_accumulator_outputs(model) -> list[dict]:
    """An MVAU without activation outputs its accumulator; where finn-plus typed that output
    narrower than the accumulator's true range (seen for XNOR layers: INT5 for a popcount of
    0..16), retype it to the smallest integer type holding the range. Values do not change (the
    Python execution already produces them); returns what was retyped."""
    changed = []
    for n in model.graph.node:
        if n.op_type != "MVAU" or not custom_op(n).get_nodeattr("noActivation"):
            continue
        inst = custom_op(n)
        w = model.get_initializer(n.input[1])
        if w is None:
            continue
        lo, hi = mvau_accumulator_range(np.asarray(w), model.get_tensor_datatype(n.input[0]),
                                        bool(inst.get_nodeattr("binaryXnorMode")))
        old = model.get_tensor_datatype(n.output[0])
        if old.allowed(lo) and old.allowed(hi):
            continue
        new = DataType[f"UINT{max(1, int(hi).bit_length())}"] if lo >= 0 else DataType[f"INT{bits_signed(lo, hi)}"]
        model.set_tensor_datatype(n.output[0], new)
        inst.set_nodeattr("outputDataType", new.name)
        changed.append({"node": n.name, "from": old.name, "to": new.name, "range": [lo, hi]})
    return changed


def mac_impl_of(node) -> str:
    """The MAC decision of the estimate: ``resType`` ("auto" = "dsp", as the backend builds)."""
    v = custom_op(node).get_nodeattr("resType")
    return v if v in MAC_IMPLS else "dsp"


#: RTL of the MVAU: the module and those it instantiates (adder tree, multiply lanes, LUT multiplier)
MVAU_SOURCES = ("mvau.sv", "adder_tree.sv", "mac_lane.sv", "mac_packed.sv", "lut_mult.sv")


# ----------------------------------------------------------------------------- the owner
class MvauOwner(OpOwner):
    op_types = ("MVAU",)
    kind = "MVAU"
    modules = ("mvau",)
    rtl_ops = ("MVAU",)
    memory_attr = "ram_style"

    def options(self, model, node):
        op = custom_op(node)
        mh, mw = op.get_nodeattr("MH"), op.get_nodeattr("MW")
        return [{"PE": p, "SIMD": s} for p in divisors(mh) for s in divisors(mw)]

    def decide(self, model, node, board) -> None:
        ok, _ = mvau_dsp_feasible(model, node, board.finn_part)
        op = custom_op(node)
        op.set_nodeattr("resType", "dsp" if ok else "lut")
        op.set_nodeattr("ram_style", mvau_ram_style(node, board))

    def set_mac_impl(self, node, impl: str) -> None:
        custom_op(node).set_nodeattr("resType", impl)

    def dsp_capable(self, model, node, board) -> bool:
        """DSP MACs possible, and each multiplier a real DSP: packed (several lanes per product)
        or a product of at least :data:`DSP_MIN_PRODUCT_BITS` (smaller ones stay in LUTs)."""
        if not mvau_dsp_capable(model, node, board.finn_part)[0]:
            return False
        op = custom_op(node)
        idt, wdt = op.get_input_datatype(0), op.get_input_datatype(1)
        return mvau_dsp_lanes(node) > 1 or idt.bitwidth() + wdt.bitwidth() + 2 >= DSP_MIN_PRODUCT_BITS

    def resources(self, model, node, board) -> dict:
        part = board.finn_part
        mac_impl = mac_impl_of(node)
        ram_style = custom_op(node).get_nodeattr("ram_style")
        if ram_style not in RAM_STYLES:
            ram_style = mvau_ram_style(node, board)
        spec_node = copy.deepcopy(node)
        hls = specialized(spec_node, "hls")
        hls.set_nodeattr("ram_style", ram_style)
        hls.set_nodeattr("mem_mode", "internal_decoupled")
        hls.set_nodeattr("ram_style_thresholds", "distributed")
        hls.set_nodeattr("resType", mac_impl)
        lut = int(hls.lut_estimation(part))
        bram18, lutram = _memories(hls, ram_style)
        pe, simd = hls.get_nodeattr("PE"), hls.get_nodeattr("SIMD")
        w, a = hls.get_input_datatype(1).bitwidth(), hls.get_input_datatype(0).bitwidth()
        acc = hls.get_accumulator_datatype().bitwidth()
        # thresholds stored in LUTRAM (finn's thr_luts term is part of the LUT figure)
        if not hls.get_nodeattr("noActivation"):
            b = hls.get_output_datatype().bitwidth()
            lutram += int(1.1 * pe * (2**b - 1) * acc * math.ceil(hls.calc_tmem() / 64))
        models = {"cycles": self.cycles(node)[1],
                  "LUT": f"{FINN} MVAU_hls.lut_estimation(resType={mac_impl}, ram_style={ram_style})",
                  "BRAM36": f"{FINN} MVAU.bram_estimation / 2",
                  "FF": OURS}
        dsp, dsp_finn, lanes = 0, 0, 1
        if mac_impl == "dsp":
            lanes = mvau_dsp_lanes(node)
            dsp = int(math.ceil(simd / lanes) * pe)
            dsp_finn = int(specialized(spec_node, "rtl").dsp_estimation(part))
            models["DSP"] = f"{OURS} ceil(SIMD/{lanes} lanes)*PE (hw/rtl/mvau.sv dot-product packing)"
            if lanes > 1:
                # finn's adder tree (W+A)*(2*SIMD-1) per PE becomes ceil(SIMD/lanes) leaves of S
                # bits per PE, plus the x-sum tree shared by all PEs and one subtraction per PE
                ng, sbits = -(-simd // lanes), pack_field_bits(a, w, lanes)
                lut += int(1.1 * (pe * (sbits * (2 * ng - 1) + acc - (w + a) * (2 * simd - 1))
                                  + a * (2 * simd - 1)))
                models["LUT"] += f" with the adder tree of {lanes}-lane packing ({OURS})"
        else:
            models["DSP"] = "LUT multipliers (0 DSP)"
        # pipeline registers of hw/rtl/mvau.sv: operands twice (and once more per multiplier
        # with DSP products), products twice, every second adder-tree level (~SIMD/3 nodes),
        # accumulator, compares / accumulator copy
        prod = w + a + 2
        ff = (ff_base(hls) + 2 * (simd * a + pe * simd * w) + 2 * pe * simd * prod
              + (pe * simd * (a + w) if mac_impl == "dsp" else 0)
              + pe * (simd // 3 + 1) * acc + 2 * pe * acc
              + (0 if hls.get_nodeattr("noActivation") else pe * (2**hls.get_output_datatype().bitwidth() - 1)))
        return {"resources": {"LUT": lut, "FF": int(ff), "BRAM36": bram18 / 2, "DSP": dsp, "LUTRAM": lutram},
                "models": models, "mac_impl": mac_impl, "ram_style": ram_style, "dsp_finn_estimate": dsp_finn,
                "dsp_lanes": lanes,
                "weight_bits": int(w * hls.get_nodeattr("MW") * hls.get_nodeattr("MH"))}

    def rtl(self, model, node, ctx) -> RtlInstance:
        inst = custom_op(node)
        mw, mh = inst.get_nodeattr("MW"), inst.get_nodeattr("MH")
        simd, pe = inst.get_nodeattr("SIMD"), inst.get_nodeattr("PE")
        xnor = bool(inst.get_nodeattr("binaryXnorMode"))
        idt, wdt = model.get_tensor_datatype(node.input[0]), model.get_tensor_datatype(node.input[1])
        odt = model.get_tensor_datatype(node.output[0])
        weights = model.get_initializer(node.input[1])
        if weights is None:
            raise BackendError(f"node {node.name}: MVAU weights must be a constant initializer")
        weights = np.asarray(weights)
        if weights.shape != (mw, mh):
            raise BackendError(f"node {node.name}: weights shape {weights.shape}, expected (MW, MH) = {(mw, mh)}")
        if not np.array_equal(weights, np.round(weights)):
            raise BackendError(f"node {node.name}: non-integer weights; streamline scales out first")
        if wdt == DataType["BIPOLAR"] and not xnor:
            wbits, wsigned = 2, True   # +-1 as 2-bit two's complement
        elif xnor:
            wbits, wsigned = 1, False
        else:
            wbits, wsigned = wdt.bitwidth(), wdt.signed()
        if idt == DataType["BIPOLAR"] and not xnor:
            raise BackendError(f"node {node.name}: bipolar inputs with non-bipolar weights are not supported")
        if mw % simd or mh % pe:
            raise BackendError(f"node {node.name}: SIMD={simd} must divide MW={mw} and PE={pe} MH={mh}")
        nf, sf = mh // pe, mw // simd
        lo, hi = mvau_accumulator_range(weights, idt, xnor)
        nsteps, thr_words, tbits, acc_bits = activation_rom(model, node, mh, pe, lo, hi, "")
        w_words = [pack([weights[s * simd + j, n * pe + p] for p in range(pe) for j in range(simd)], wbits)
                   for n in range(nf) for s in range(sf)]
        impl = decision(node, "resType", MAC_IMPLS, "dsp")            # the folding's MAC choice
        ram_style = decision(node, "ram_style", RAM_STYLES, "block")  # and weight memory choice
        lanes = mvau_dsp_lanes(node) if impl == "dsp" else 1         # packing follows from both
        wfile, tfile = f"{node.name}_weights.hex", f"{node.name}_thresholds.hex"
        files = {wfile: hex_words(w_words, pe * simd * wbits)}
        if thr_words is not None:
            files[tfile] = hex_words(thr_words, pe * nsteps * tbits)
        else:
            tfile = ""
        return RtlInstance(
            name=node.name, module="mvau",
            params={"MW": mw, "MH": mh, "SIMD": simd, "PE": pe, "IN_BITS": 1 if xnor else idt.bitwidth(),
                    "IN_SIGNED": int(idt.signed() and not xnor), "W_BITS": wbits, "W_SIGNED": int(wsigned),
                    "BINARY_XNOR": int(xnor), "ACC_BITS": acc_bits, "NSTEPS": nsteps, "T_BITS": tbits,
                    "ACT_VAL": int(inst.get_nodeattr("ActVal")), "OUT_BITS": odt.bitwidth(),
                    "WEIGHT_FILE": wfile, "THRESH_FILE": tfile, "MAC_IMPL": impl, "DSP_LANES": lanes, "RAM_STYLE": ram_style},
            inputs=[axis_stream(model, node, 0, True, "s_axis")],
            outputs=[axis_stream(model, node, 0, False, "m_axis")],
            sources=[rtl_source(n) for n in MVAU_SOURCES], files=files, latency_cycles=mvau_latency(sf, simd, lanes, impl == "dsp" and not xnor))


MVAU = register(MvauOwner())
