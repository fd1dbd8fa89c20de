"""Owners of the ops whose RTL comes from finn-plus' own generators (finn-rtllib):
``ConvolutionInputGenerator`` (sliding window, SWG), ``FMPadding`` and ``Thresholding``.

RTL: the node is specialized to its ``_rtl`` variant on a copy of the graph (SpecializeLayers with
``preferred_impl_style = "rtl"``, once per graph: :class:`FinnRtlContext`) and finn-plus writes the
wrapper (``generate_hdl``) into a scratch folder; the wrapper and its data files are read back,
the finn-rtllib sources are listed by path. FINN wrappers use ``ap_clk`` / active-low ``ap_rst_n``
and ``in0_V`` / ``out0_V`` streams padded to whole bytes; unused AXI-Lite inputs are tied to zero.
Module names are the specialized node's (``<op>_rtl_<n>``): the resource kind is found by prefix.

Folding: SWG dense SIMD | IFMChannels, then ``parallel_window`` at full SIMD (valid only where
finn-plus picks the parallel implementation); depthwise SIMD | IFMChannels, or folded together
with the Pool or VVAU it feeds (see :mod:`tsmfpga.hw.ops.pool`, :mod:`tsmfpga.hw.ops.vvau`). FMPadding SIMD | NumChannels.
Thresholding PE | NumChannels. Cycles: finn-plus (the SWG's from ``ConvolutionInputGenerator_rtl``:
the generic class returns 0).

Estimate: SWG finn-plus ``ConvolutionInputGenerator_rtl`` LUT / BRAM (LUTRAM = LUT - 300 when
distributed), FF base + stream width; its ``ram_style`` (declared finn attribute) defaults to the
cheaper fraction of its board resource and the folder's BRAM<->LUTRAM repair may move it.
Thresholding: finn-plus ``Thresholding_rtl`` memory LUT / BRAM + (tsmfpga formula) binary-search
comparators PE*ceil(log2(steps+1))*(bits+2) LUT and FF. FMPadding (tsmfpga formula): LUT
60 + SIMD*b (zero mux + counters), FF base.
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
from pathlib import Path

from onnx import helper

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.backend.base import BackendError, RtlInstance, Stream
from tsmfpga.hw.ops.owner import (
    FINN,
    OURS,
    ChannelPEOwner,
    OpOwner,
    bram18_geometry,
    choose_ram_style,
    lutram_luts,
    custom_op,
    divisors,
    ff_base,
    register,
    set_attrs,
    specialized,
    stream_widths,
)

FINN_RTL_OPS = ("ConvolutionInputGenerator", "FMPadding", "Thresholding")
_AXILITE_IN = re.compile(r"^\s*input\s+(?:wire\s+)?(?:\[[^\]]*\]\s*)?(s_axilite_\w+)", re.M)


class FinnRtlContext:
    """Specializes the FINN-RTL nodes of one graph once (SpecializeLayers runs on the whole graph)."""

    def __init__(self, model, fpgapart: str, clk_ns: float):
        from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

        self.fpgapart, self.clk_ns = fpgapart, clk_ns
        spec = copy.deepcopy(model)
        for n in spec.graph.node:
            if n.op_type in FINN_RTL_OPS:
                custom_op(n).set_nodeattr("preferred_impl_style", "rtl")
        # only our FINN-RTL nodes matter; others may become _hls here, which we never use
        self.model = spec.transform(SpecializeLayers(fpgapart))
        self.by_output = {n.output[0]: n for n in self.model.graph.node}

    def specialized(self, node):
        spec = self.by_output.get(node.output[0])
        if spec is None or not spec.op_type.endswith("_rtl"):
            kind = spec.op_type if spec is not None else "nothing"
            raise BackendError(f"node {node.name} ({node.op_type}): finn-plus has no RTL variant for "
                               f"these attributes (specialized to {kind})")
        return spec


def rtl_context(model, fpgapart: str, clock_mhz: float) -> dict:
    """What the RTL backends of one graph share (``ctx`` of :meth:`OpOwner.rtl`)."""
    ctx = {}
    if any(n.op_type in FINN_RTL_OPS for n in model.graph.node):
        ctx["finn"] = FinnRtlContext(model, fpgapart, 1000.0 / clock_mhz)
    return ctx


def _finn_stream(inst, ind, is_input, model, tensor) -> Stream:
    folded = inst.get_folded_input_shape(ind) if is_input else inst.get_folded_output_shape(ind)
    padded = inst.get_instream_width_padded(ind) if is_input else inst.get_outstream_width_padded(ind)
    p = f"in{ind}_V" if is_input else f"out{ind}_V"
    return Stream(f"{p}_TDATA", f"{p}_TVALID", f"{p}_TREADY", int(folded[-1]),
                  model.get_tensor_datatype(tensor).bitwidth(), int(padded))


def finn_instance(model, node, ctx) -> RtlInstance:
    """The finn-plus generated RTL of ``node`` (needs ``ctx["finn"]``, see :func:`rtl_context`)."""
    finn_ctx: FinnRtlContext = ctx["finn"]
    spec = finn_ctx.specialized(node)
    inst = custom_op(spec)
    with tempfile.TemporaryDirectory(prefix="tsmfpga-finnrtl-") as tmp:
        inst.set_nodeattr("code_gen_dir_ipgen", tmp)
        try:
            inst.generate_hdl(finn_ctx.model, finn_ctx.fpgapart, finn_ctx.clk_ns)
        except Exception as exc:
            raise BackendError(f"node {node.name}: finn-plus RTL generation failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        gen = {p.name: p.read_text() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
        lib = [Path(f) for f in inst.get_rtl_file_list(abspath=True) if not f.startswith(tmp)]
    top = next((t for name, t in gen.items() if name in (f"{spec.name}.v", f"{spec.name}_wrapper.v")), None)
    if top is None:
        raise BackendError(f"node {node.name}: finn-plus wrote no wrapper for {spec.name} ({sorted(gen)})")
    ties = {p: "'0" for p in _AXILITE_IN.findall(top)}
    return RtlInstance(
        name=node.name, module=spec.name, params={},
        inputs=[_finn_stream(inst, 0, True, model, node.input[0])],
        outputs=[_finn_stream(inst, 0, False, model, node.output[0])],
        clk="ap_clk", rst="ap_rst_n", rst_active_low=True, sources=lib, files=gen, ties=ties)


class _FinnRtlOwner(OpOwner):
    def rtl(self, model, node, ctx) -> RtlInstance:
        return finn_instance(model, node, ctx)


# ----------------------------------------------------------------------------- SWG
def swg_ram_style(node, board) -> str:
    """Default ``ram_style`` of the sliding window buffer (cheaper fraction of its resource)."""
    spec = specialized(node, "rtl")
    spec.set_nodeattr("ram_style", "block")
    bram18 = int(spec.bram_estimation(board.finn_part))
    spec.set_nodeattr("ram_style", "distributed")
    lut = int(spec.lut_estimation(board.finn_part)) - 300
    return choose_ram_style(bram18, lut, board)


#: finn-plus code-generation keys of the default-style SWG -> ``swg_window`` parameters
_SWG_PARAMS = ("LAST_READ_ELEM", "LAST_WRITE_ELEM", "BUF_ELEM_TOTAL", "ELEM_PER_WINDOW",
               "LOOP_H_ITERATIONS", "LOOP_W_ITERATIONS", "LOOP_KH_ITERATIONS", "LOOP_KW_ITERATIONS",
               "LOOP_SIMD_ITERATIONS", "HEAD_INCR_SIMD", "HEAD_INCR_KW", "HEAD_INCR_KH", "HEAD_INCR_W",
               "HEAD_INCR_H", "TAIL_INCR_W", "TAIL_INCR_H", "TAIL_INCR_LAST", "IS_DEPTHWISE")
#: swg::state_e codes (finn-rtllib swg_pkg.sv) of the innermost controller loop
_SWG_STATES = {"STATE_LOOP_SIMD": 1, "STATE_LOOP_KW": 2, "STATE_LOOP_KH": 3}


def swg_window_params(node, spec=None) -> dict:
    """``swg_window`` parameters of a default-style sliding window: the numbers finn-plus computes
    for its own template (``ConvolutionInputGenerator_rtl.prepare_codegen_default``), so buffer
    depth, addressing and cycle behaviour are finn-rtllib's. ``spec``: the node's ``_rtl`` op when
    the caller has it already."""
    spec = specialized(node, "rtl") if spec is None else spec
    _, gen = spec.prepare_codegen_default()
    params = {"BIT_WIDTH": spec.get_input_datatype(0).bitwidth(), "SIMD": spec.get_nodeattr("SIMD")}
    params.update({k: int(gen[f"${k}$"][0]) for k in _SWG_PARAMS})
    params["INNERMOST_STATE"] = _SWG_STATES[gen["$INNERMOST_STATE$"][0]]
    params["RAM_STYLE"] = spec.get_nodeattr("ram_style")
    return params


class SwgOwner(_FinnRtlOwner):
    """RTL: the default implementation style is our ``swg_window`` (finn-rtllib's algorithm and
    parameters, its flow-control conditions kept as registered differences so the stitched design
    closes timing); the parallel-window style stays finn-rtllib's template."""

    op_types = rtl_ops = ("ConvolutionInputGenerator",)
    kind = "ConvolutionInputGenerator"
    modules = ("swg_window",)
    module_prefixes = ("ConvolutionInputGenerator",)
    memory_attr = "ram_style"

    def rtl(self, model, node, ctx) -> RtlInstance:
        spec = specialized(node, "rtl")
        if spec.select_impl_style() != "default" or spec.get_nodeattr("dynamic_mode"):
            return finn_instance(model, node, ctx)
        params = swg_window_params(node, spec)
        simd, bits = params["SIMD"], params["BIT_WIDTH"]
        lanes = int(spec.get_folded_output_shape()[-1])   # the generic op has no folded output shape
        return RtlInstance(
            name=node.name, module="swg_window", params=params,
            inputs=[Stream("s_axis_tdata", "s_axis_tvalid", "s_axis_tready", simd, bits, simd * bits)],
            outputs=[Stream("m_axis_tdata", "m_axis_tvalid", "m_axis_tready", lanes, bits, lanes * bits)],
            sources=[rtl_source("swg_window.sv")])

    def options(self, model, node):
        op = custom_op(node)
        if op.get_nodeattr("depthwise"):
            cons = model.find_consumer(node.output[0])
            if cons is not None and cons.op_type in ("Pool", "VVAU"):  # folded with its consumer
                return None
            return [{"SIMD": s} for s in divisors(op.get_nodeattr("IFMChannels"))]
        c = op.get_nodeattr("IFMChannels")
        opts = [{"SIMD": s, "parallel_window": 0} for s in divisors(c)]
        return opts + [{"SIMD": c, "parallel_window": 1}]

    def valid(self, node, opt) -> bool:
        if not opt.get("parallel_window"):
            return True
        try:
            work = copy.deepcopy(node)
            set_attrs(work, opt)
            return specialized(work, "rtl").select_impl_style() == "parallel"
        except Exception:
            return False

    def cycles(self, node):
        return int(specialized(node, "rtl").get_exp_cycles()), \
            f"{FINN} ConvolutionInputGenerator_rtl.get_exp_cycles"

    def decide(self, model, node, board) -> None:
        custom_op(node).set_nodeattr("ram_style", swg_ram_style(node, board))

    def resources(self, model, node, board) -> dict:
        part = board.finn_part
        spec = specialized(node, "rtl")
        style = spec.get_nodeattr("ram_style")
        lut = int(spec.lut_estimation(part))
        lutram = lut - 300 if style == "distributed" else 0
        bram18 = int(spec.bram_estimation(part))
        return {"resources": {"LUT": lut, "FF": ff_base(spec) + spec.get_instream_width(),
                              "BRAM36": bram18 / 2, "DSP": 0, "LUTRAM": lutram},
                "models": {"LUT": f"{FINN} ConvolutionInputGenerator_rtl.lut_estimation",
                           "BRAM36": f"{FINN} ConvolutionInputGenerator_rtl.bram_estimation / 2",
                           "FF": OURS, "DSP": "none"},
                "ram_style": style, "impl_style": spec.select_impl_style()}


# ----------------------------------------------------------------------------- FMPadding
class FMPaddingOwner(_FinnRtlOwner):
    op_types = rtl_ops = ("FMPadding",)
    kind = "FMPadding"
    module_prefixes = ("FMPadding",)

    def options(self, model, node):
        return [{"SIMD": s} for s in divisors(custom_op(node).get_nodeattr("NumChannels"))]

    def resources(self, model, node, board) -> dict:
        op = custom_op(node)
        iw, _ = stream_widths(op)
        return {"resources": {"LUT": 60 + iw, "FF": ff_base(op), "BRAM36": 0, "DSP": 0, "LUTRAM": 0},
                "models": {"LUT": OURS, "FF": OURS, "BRAM36": "none", "DSP": "none"}}


# ----------------------------------------------------------------------------- Thresholding
#: ``depth_trigger_bram`` that keeps every threshold memory in LUT RAM (finn-rtllib thresholding.sv:
#: memories at least this deep go to block RAM, the others are forced distributed)
ALL_DISTRIBUTED = 1 << 30


def depth_trigger_of(node) -> int:
    """The declared threshold-memory decision of a generic ``Thresholding`` node: the raw ONNX
    attribute ``depth_trigger_bram`` (finn-plus' ``Thresholding_rtl`` attribute, which the generic
    class does not declare; SpecializeLayers copies it onto the ``_rtl`` node, whose generator
    writes it into the RTL). 0 = not decided (finn-rtllib leaves the memory style to the tool)."""
    for a in node.attribute:
        if a.name == "depth_trigger_bram":
            return int(helper.get_attribute_value(a))
    return 0


def set_depth_trigger(node, value: int) -> None:
    for a in list(node.attribute):
        if a.name == "depth_trigger_bram":
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute("depth_trigger_bram", int(value)))


def threshold_memories(node) -> list[tuple[int, int]]:
    """(width, depth) of each PE's threshold memory per binary-search stage (finn-plus'
    ``Thresholding_rtl.get_pe_mem_geometries``: depth channels/PE * 2**stage)."""
    return [(int(w), int(d)) for w, d in specialized(node, "rtl").get_pe_mem_geometries()]


def threshold_memory_cost(node, trigger: int, mems: list[tuple[int, int]] | None = None) -> tuple[int, int]:
    """(RAMB18, LUTRAM LUTs) of the threshold memories with ``depth_trigger_bram = trigger``
    (memories at least ``trigger`` deep in BRAM, the others in LUT RAM), all PEs. ``mems``: the
    node's :func:`threshold_memories` when the caller has them already."""
    pe = custom_op(node).get_nodeattr("PE")
    bram18 = lut = 0
    for w, d in threshold_memories(node) if mems is None else mems:
        if trigger and d >= trigger:
            bram18 += bram18_geometry(w, d)
        else:
            lut += lutram_luts(w, d)
    return pe * bram18, pe * lut


#: a threshold memory goes to BRAM (style "block") when it fills at least this share of its RAMB18s
BRAM_MIN_FILL = 0.5


def block_trigger(node) -> int:
    """The BRAM trigger of style "block": the shallowest stage depth whose memory fills at least
    :data:`BRAM_MIN_FILL` of its RAMB18s (the deeper stages, each twice as deep, fill them too);
    none: the deepest stage."""
    mems = sorted(threshold_memories(node), key=lambda wd: wd[1])
    for w, d in mems:
        if w * d >= BRAM_MIN_FILL * bram18_geometry(w, d) * 18432:
            return d
    return mems[-1][1] if mems else 1


class ThresholdingOwner(_FinnRtlOwner, ChannelPEOwner):
    """Memory decision: ``depth_trigger_bram`` (:func:`depth_trigger_of`): "distributed" = every
    threshold memory in LUT RAM; "block" = the deep binary-search stages in BRAM
    (:func:`block_trigger`). Default: the style whose memories use the smaller fraction of their
    board resources; the folder's BRAM<->LUTRAM repairs move it (8-bit activations: 255
    thresholds per channel, the deep stages belong in BRAM)."""

    op_types = rtl_ops = ("Thresholding",)
    kind = "Thresholding"
    module_prefixes = ("Thresholding",)
    memory_attr = "depth_trigger_bram"

    def _style(self, node) -> str:
        t = depth_trigger_of(node)
        return "block" if 0 < t < ALL_DISTRIBUTED else "distributed"

    def decide(self, model, node, board) -> None:
        trig = block_trigger(node)
        b18, blut = threshold_memory_cost(node, trig)
        _, dlut = threshold_memory_cost(node, ALL_DISTRIBUTED)
        frac_block = b18 / (2 * board.bram36) + blut / board.lutram
        frac_dist = dlut / board.lutram
        set_depth_trigger(node, trig if frac_block < frac_dist else ALL_DISTRIBUTED)

    def set_ram_style(self, node, style: str) -> None:
        if style not in ("block", "distributed"):
            raise ValueError(f"node {node.name}: threshold memory style {style!r}: use block or distributed")
        set_depth_trigger(node, block_trigger(node) if style == "block" else ALL_DISTRIBUTED)

    def resources(self, model, node, board) -> dict:
        pe = custom_op(node).get_nodeattr("PE")
        spec = specialized(node, "rtl")
        trig = depth_trigger_of(node) or ALL_DISTRIBUTED
        mems = [(int(w), int(d)) for w, d in spec.get_pe_mem_geometries()]   # threshold_memories
        bram18, mem_lut = threshold_memory_cost(node, trig, mems)
        a = spec.get_input_datatype(0).bitwidth()
        stages = max(1, math.ceil(math.log2(spec.get_nodeattr("numSteps") + 1)))
        comp = pe * stages * (a + 2)
        w_bits = sum(w * d for w, d in mems) * pe
        return {"resources": {"LUT": mem_lut + comp, "FF": ff_base(spec) + pe * stages * (a + 2),
                              "BRAM36": bram18 / 2, "DSP": 0, "LUTRAM": mem_lut},
                "models": {"LUT": f"{OURS} threshold memories below depth_trigger_bram={trig} in LUT RAM "
                                  "(finn's 64-deep LUT6 model) + PE*ceil(log2(steps+1))*(bits+2) "
                                  "(binary-search comparators)",
                           "BRAM36": f"{OURS} memories at least depth_trigger_bram deep, finn-plus' BRAM18 "
                                     "geometry / 2", "FF": OURS, "DSP": "none"},
                "ram_style": self._style(node), "depth_trigger_bram": trig, "weight_bits": int(w_bits)}


SWG = register(SwgOwner())
FMPADDING = register(FMPaddingOwner())
THRESHOLDING = register(ThresholdingOwner())
