"""One owner per hardware op kind: the base class, the registry and shared estimate helpers.

An *owner* (:class:`OpOwner`) holds everything the flow knows about one kind of HW layer:

* its legal folding options, least parallel first (:meth:`OpOwner.options`), how to apply one
  (:meth:`OpOwner.apply`) and whether an option is valid (:meth:`OpOwner.valid`);
* its cycles per frame (:meth:`OpOwner.cycles`) and analytical resource estimate
  (:meth:`OpOwner.resources`; the per-layer record is :func:`estimate_layer`);
* its default decisions (:meth:`OpOwner.decide`: MAC implementation, ``ram_style``) and the
  decisions the folder's repair loops may change (:attr:`OpOwner.memory_attr`,
  :meth:`OpOwner.set_mac_impl`) -- always *declared* node attributes that the RTL backend honours;
* its RTL backend (:meth:`OpOwner.rtl`, an :class:`~tsmfpga.hw.backend.base.RtlInstance` for the
  stitcher), its RTL module name(s) and the resource ``kind`` reports file it under.

The folding algorithm (``tsmfpga.flow.folding``) and the RTL generation only call owners;
:func:`owner_for` finds the owner of a node or op type (a generic owner with finn-plus' own
estimates and no RTL for op types nobody registered).

Estimate sources: every figure is ``"source": "analytical"``; a layer's ``models`` field names
the model of each figure: ``finn-plus <Class>.<method>`` (finn-plus' own model on the generic
node or on a copy re-typed as its specialized ``_hls`` / ``_rtl`` class, :func:`specialized`) or
``tsmfpga formula`` (ours, documented in the owner module). FF (every op):
``2*(in + out stream width) + 32`` (I/O registers + control) plus op-specific terms. BRAM figures
of finn-plus are RAMB18 counts; a layer's ``BRAM36`` = RAMB18 / 2 (may be .5). ``LUTRAM`` (LUTs
used as distributed memory) is a subset of ``LUT``, reported separately because only SLICEM LUTs
(``board.lutram``) can hold memory. Not modelled: FIFOs and data-width converters inserted later,
AXI infrastructure, place-and-route effects.
"""

from __future__ import annotations

import copy
import hashlib
import math
from typing import Any

import numpy as np

from tsmfpga.hw.backend.base import BackendError, RtlInstance, Stream

#: resources of every estimate record (LUTRAM is a subset of LUT)
RESOURCES = ("LUT", "FF", "BRAM36", "DSP", "LUTRAM")
#: ``ram_style`` decisions our RTL implements ("auto" = undecided: the owner's default)
RAM_STYLES = ("block", "distributed")
#: MAC implementations of the MVAU (finn's ``resType``)
MAC_IMPLS = ("dsp", "lut")

FINN = "finn-plus"
OURS = "tsmfpga formula"

_HLS_DOMAIN = "finn.custom_op.fpgadataflow.hls"
_RTL_DOMAIN = "finn.custom_op.fpgadataflow.rtl"


# ----------------------------------------------------------------------------- shared helpers
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


def divisors(n: int) -> list[int]:
    return [d for d in range(1, int(n) + 1) if n % d == 0]


def set_attrs(node, attrs: dict) -> None:
    """Set integer folding attributes (PE, SIMD, parallel_window) on ``node``."""
    op = custom_op(node)
    for k, v in attrs.items():
        op.set_nodeattr(k, int(v))


def fold_attrs(node) -> tuple[int, int]:
    """(PE, SIMD) of a node as the folding report shows them (1 where the op has none)."""
    op = custom_op(node)
    types = op.get_nodeattr_types()
    pe = int(op.get_nodeattr("PE")) if "PE" in types else 1
    simd = int(op.get_nodeattr("SIMD")) if "SIMD" in types else 1
    return pe, simd


def stream_widths(op) -> tuple[int, int]:
    try:
        iw = int(op.get_instream_width())
    except Exception:
        iw = 0
    try:
        ow = int(op.get_outstream_width())
    except Exception:
        ow = 0
    return iw, ow


def ff_base(op) -> int:
    """Our FF formula common to every op: I/O registers + control."""
    iw, ow = stream_widths(op)
    return 2 * (iw + ow) + 32


def decision(node, field: str, allowed: tuple[str, ...], default: str) -> str:
    """The declared decision attribute ``field`` of ``node`` for the RTL backend: one of
    ``allowed``; "auto" (undecided, e.g. a graph that was never folded) gives ``default``.
    Anything else is a :class:`BackendError` naming the node and the field."""
    from onnx import helper

    raw = next((helper.get_attribute_value(a) for a in node.attribute if a.name == field), "auto")
    value = raw.decode() if isinstance(raw, bytes) else str(raw)
    if value == "auto":
        return default
    if value not in allowed:
        raise BackendError(f"node {node.name} ({node.op_type}): attribute {field} = {value!r} is not "
                           f"one of {', '.join(repr(a) for a in allowed)} (or 'auto')")
    return value


# ----------------------------------------------------------------------------- the owner
class OpOwner:
    """Base owner: finn-plus' expected cycles, no folding options, no RTL. Subclasses override."""

    #: op types (generic HW graph) this owner handles
    op_types: tuple[str, ...] = ()
    #: resource kind of the instances in reports (``hw/resources.py``)
    kind: str = ""
    #: RTL modules this owner instantiates (exact names, ours)
    modules: tuple[str, ...] = ()
    #: name prefixes of generated RTL modules (finn-plus wrappers are named after the node)
    module_prefixes: tuple[str, ...] = ()
    #: declared attribute ("block" / "distributed") of a memory the repair loop may move
    memory_attr: str | None = None
    #: op types of ``op_types`` that :meth:`rtl` builds
    rtl_ops: tuple[str, ...] = ()

    # ---- folding
    def options(self, model, node) -> list[dict] | None:
        """Folding choices, least parallel first ([]: keep the attributes; None: folded together
        with its consumer)."""
        return []

    def valid(self, node, opt: dict) -> bool:
        return True

    def apply(self, model, node, opt: dict) -> int:
        """Set ``opt`` on ``node``; returns its cycles per frame."""
        set_attrs(node, opt)
        return self.cycles(node)[0]

    def cycles(self, node) -> tuple[int, str]:
        """(expected cycles per frame, model) with the node's current folding."""
        return int(custom_op(node).get_exp_cycles()), f"{FINN} {node.op_type}.get_exp_cycles"

    # ---- estimate and decisions
    def resources(self, model, node, board) -> dict:
        """``{"resources": {LUT, FF, BRAM36, DSP, LUTRAM}, "models": {...}, ...extras}``."""
        op = custom_op(node)
        t = node.op_type
        r = op.node_res_estimation(board.finn_part)
        return {"resources": {"LUT": int(r["LUT"]), "FF": ff_base(op), "BRAM36": r["BRAM_18K"] / 2,
                              "DSP": int(r["DSP"]), "LUTRAM": 0},
                "models": {"LUT": f"{FINN} {t}.lut_estimation", "BRAM36": f"{FINN} {t}.bram_estimation / 2",
                           "DSP": f"{FINN} {t}.dsp_estimation", "FF": OURS}}

    def decide(self, model, node, board) -> None:
        """Default decisions (MAC implementation, memory style) for the node's folding."""

    def set_ram_style(self, node, style: str) -> None:
        if self.memory_attr is None:
            raise ValueError(f"{node.op_type} has no memory whose style can be chosen")
        custom_op(node).set_nodeattr(self.memory_attr, style)

    def set_mac_impl(self, node, impl: str) -> None:
        raise ValueError(f"{node.op_type} has no MAC implementation to choose")

    def dsp_capable(self, model, node, board) -> bool:
        """Can this node's MACs go to DSP slices at all (beyond the default rule of
        :meth:`decide`)? The folder's LUT -> DSP rebalancing moves only such nodes."""
        return False

    # ---- RTL
    def rtl(self, model, node, ctx: dict) -> RtlInstance:
        raise BackendError(
            f"node {node.name} ({node.op_type}): no RTL backend for this op type; "
            f"supported: {', '.join(rtl_op_types())}")


def fold_with_window(owner: "OpOwner", model, node, opt: dict, depthwise_only: bool = False) -> int:
    """Set ``opt`` on a layer that consumes a sliding window's depthwise stream (Pool, VVAU) and
    SIMD = its PE on that ConvolutionInputGenerator (``depthwise_only``: only if the window is
    marked depthwise); returns the slower of the two's cycles per frame."""
    set_attrs(node, opt)
    cyc = owner.cycles(node)[0]
    prod = model.find_producer(node.input[0])
    if (prod is not None and prod.op_type == "ConvolutionInputGenerator"
            and (not depthwise_only or custom_op(prod).get_nodeattr("depthwise"))):
        set_attrs(prod, {"SIMD": opt["PE"]})
        cyc = max(cyc, owner_for(prod).cycles(prod)[0])
    return cyc


class ChannelPEOwner(OpOwner):
    """Ops folded by PE over a channel count (``channels_attr``; None: the last output dim)."""

    channels_attr: str | None = "NumChannels"

    def options(self, model, node):
        op = custom_op(node)
        n = op.get_nodeattr(self.channels_attr) if self.channels_attr else op.get_normal_output_shape()[-1]
        return [{"PE": p} for p in divisors(n)]


# ----------------------------------------------------------------------------- registry
OWNERS: dict[str, OpOwner] = {}
_FALLBACK = OpOwner()


def register(owner: OpOwner) -> OpOwner:
    for t in owner.op_types:
        if t in OWNERS:
            raise ValueError(f"owner for {t} registered twice")
        OWNERS[t] = owner
    return owner


def owner_for(node_or_op_type) -> OpOwner:
    """The owner of a node (or op type); a generic owner (finn-plus estimates, no RTL) if none."""
    t = node_or_op_type if isinstance(node_or_op_type, str) else node_or_op_type.op_type
    return OWNERS.get(t, _FALLBACK)


def rtl_op_types() -> list[str]:
    """Op types with an RTL backend."""
    return sorted({t for o in OWNERS.values() for t in o.rtl_ops})


def module_kinds() -> tuple[dict[str, str], dict[str, str]]:
    """({RTL module: kind}, {module name prefix: kind}) of every registered owner."""
    exact, prefix = {}, {}
    for o in OWNERS.values():
        exact.update({m: o.kind for m in o.modules})
        prefix.update({p: o.kind for p in o.module_prefixes})
    return exact, prefix


def estimate_layer(model, node, board) -> dict:
    """Analytical estimate of one generic HW node with its current folding attributes.

    Returns ``{name, op, pe, simd, cycles, source, resources{LUT,FF,BRAM36,DSP,LUTRAM}, models,
    ...}``; MVAUs also carry ``mac_impl`` / ``ram_style``, memories their ``ram_style``."""
    key = _estimate_key(model, node, board)
    hit = _ESTIMATES.get(key)
    if hit is None:
        if len(_ESTIMATES) >= _ESTIMATES_MAX:
            _ESTIMATES.clear()
        hit = _ESTIMATES[key] = _estimate_layer(model, node, board)
    return copy.deepcopy(hit)


#: :func:`estimate_layer` records by :func:`_estimate_key`: the folder's repairs and the stream
#: planner re-estimate every layer after each change, though one layer changed (or none did)
_ESTIMATES: dict[bytes, dict] = {}
_ESTIMATES_MAX = 1 << 14


def _estimate_key(model, node, board) -> bytes:
    """Everything an estimate reads: the board, the node (its attributes hold every folding and
    memory decision), its tensors' types and shapes, the initializers it reads (weights decide
    accumulator widths) and its neighbours (a window generator folded with its consumer)."""
    h = hashlib.sha256(repr(board).encode())
    h.update(node.SerializeToString(deterministic=True))
    inits = {t.name: t for t in model.graph.initializer}
    for t in (*node.input, *node.output):
        h.update(f"\0{t}\0{model.get_tensor_datatype(t)}\0{model.get_tensor_shape(t)}".encode())
        if t in inits:
            h.update(inits[t].SerializeToString(deterministic=True))
    neighbours = [model.find_producer(t) for t in node.input] + [c for t in node.output for c in (model.find_consumers(t) or [])]
    for n in neighbours:
        if n is not None:
            h.update(b"\0n" + n.SerializeToString(deterministic=True))
    return h.digest()


def _estimate_layer(model, node, board) -> dict:
    owner = owner_for(node)
    cycles, cyc_model = owner.cycles(node)
    pe, simd = fold_attrs(node)
    out: dict[str, Any] = {"name": node.name, "op": node.op_type, "pe": pe, "simd": simd,
                           "cycles": cycles, "source": "analytical"}
    e = owner.resources(model, node, board)
    e["models"]["cycles"] = cyc_model
    out.update(e)
    out["resources"] = {k: (int(v) if k != "BRAM36" else float(v)) for k, v in out["resources"].items()}
    return out


# ----------------------------------------------------------------------------- RTL helpers
def bits_signed(lo: int, hi: int) -> int:
    """Fewest two's-complement bits holding every integer in [lo, hi]."""
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def hex_words(words, width: int) -> str:
    """``$readmemh`` text: one ``width``-bit word per line."""
    digits = max(1, -(-width // 4))
    mask = (1 << width) - 1
    return "".join(f"{int(w) & mask:0{digits}x}\n" for w in words)


def pack(values, bits: int) -> int:
    """Pack integers LSB-first, ``bits`` each (two's complement)."""
    word, mask = 0, (1 << bits) - 1
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * bits)
    return word


def axis_stream(model, node, ind: int, is_input: bool, prefix: str, **kw) -> Stream:
    """The AXI-Stream port ``<prefix>_tdata/_tvalid/_tready`` of one of our modules for input or
    output ``ind`` of ``node`` (lanes from the folded shape, element bits from the tensor type)."""
    inst = custom_op(node)
    tensor = node.input[ind] if is_input else node.output[ind]
    folded = inst.get_folded_input_shape(ind) if is_input else inst.get_folded_output_shape(ind)
    bits = model.get_tensor_datatype(tensor).bitwidth()
    lanes = int(folded[-1])
    return Stream(f"{prefix}_tdata", f"{prefix}_tvalid", f"{prefix}_tready", lanes, bits,
                  lanes * bits, **kw)


def activation_rom(model, node, channels: int, pe: int, lo: int, hi: int, label: str):
    """The activation of an MVAU / VVAU backend from its true accumulator range [lo, hi]:
    ``(nsteps, threshold words or None, threshold bits, accumulator bits)``. noActivation: no
    thresholds, the accumulator typed to its range (the output type must hold it). Otherwise the
    node's integer thresholds (one row broadcast to every channel), clipped to [lo, hi + 1]
    (outside the range: never / always), packed ``PE * NSTEPS`` per word, one word per channel
    group."""
    odt = model.get_tensor_datatype(node.output[0])
    if custom_op(node).get_nodeattr("noActivation"):
        if not (odt.allowed(lo) and odt.allowed(hi)):
            raise BackendError(f"node {node.name}{label}: output type {odt.name} narrower than the "
                               f"accumulator range [{lo}, {hi}]")
        return 0, None, 1, bits_signed(lo, hi)
    thr = np.asarray(model.get_initializer(node.input[2]))
    if thr.shape[0] == 1 and channels > 1:
        thr = np.repeat(thr, channels, axis=0)
    if not np.array_equal(thr, np.round(thr)):
        raise BackendError(f"node {node.name}{label}: non-integer thresholds (run RoundAndClipThresholds)")
    thr = np.clip(thr.astype(np.int64), lo, hi + 1)
    nsteps = thr.shape[1]
    acc_bits = bits_signed(min(lo, int(thr.min())), max(hi, int(thr.max())))
    words = [pack([thr[g * pe + p, t] for p in range(pe) for t in range(nsteps)], acc_bits)
             for g in range(channels // pe)]
    return nsteps, words, acc_bits, acc_bits
