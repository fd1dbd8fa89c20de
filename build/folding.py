"""Folding (PE / SIMD per layer) of the generic HW graph to a frame rate, within a resource budget.

finn-plus' ``SetFolding`` only handles specialized (``_hls`` / ``_rtl``) nodes -- on the generic
graph it skips every node -- and knows nothing of ``TemporalShift``, so the folding loop is ours.
It follows SetFolding's rules and constraints:

* every layer gets the least parallelism (smallest PE*SIMD, valid divisors only) whose expected
  cycles per frame (the op owner's ``cycles``, :mod:`tsmfpga.hw.ops`) are <= the target cycles
  ``clock / target_fps``; MVAU ties are broken by the cheaper analytical resource estimate;
* MVAU: PE | MH, SIMD | MW. Thresholding / DuplicateStreams / ElementwiseAdd / GlobalAccPool:
  PE | channels. TemporalShift: PE | gcd(NumChannels, ShiftChannels). FMPadding and a dense
  ConvolutionInputGenerator: SIMD | channels (RTL SWG ``parallel_window`` after full SIMD). A depthwise
  ConvolutionInputGenerator feeding a Pool or a VVAU gets SIMD = its consumer's PE (raised until both
  meet the target). VVAU (depthwise conv): PE | Channels, SIMD = 1.

Then the analytical estimates are totalled and checked against ``budget_fraction`` of the board
(LUT, LUTRAM, BRAM36, DSP, FF). Repairs before giving up: MVAUs switch from DSP to LUT multipliers
(the fewest LUTs added for the DSPs needed first) while DSPs are over budget; the reverse while
LUTs are over and DSPs have room (also layers the default rule gives LUT MACs, e.g. 2-bit ones,
which hw/rtl/mvau.sv packs 3 to a DSP; the most LUTs saved per DSP first); memories move from BRAM to LUTRAM (lowest
BRAM efficiency first) while BRAM is over budget, and from LUTRAM to BRAM (largest first) while
LUTRAM is over and BRAM has room. Otherwise :class:`FoldingError` names the
resource, needed vs budget, and the largest consumer. Without a target the highest frame rate that
fits is found by bisection over the achievable bottleneck cycle counts.

The per-op knowledge (options, cycles, estimates, default decisions, which memories may move)
belongs to the op owners (:mod:`tsmfpga.hw.ops`); this module is only the algorithm. Every decision
is a declared node attribute the RTL backend honours: MVAU ``PE``, ``SIMD``, ``resType`` ("dsp" |
"lut" MACs) and ``ram_style`` ("block" | "distributed" weights); TemporalShift ``PE`` and
``ram_style`` (frame buffer); sliding windows ``SIMD``, ``parallel_window``, ``ram_style``. Folding
changes no function: Python execution of the folded graph equals the unfolded one.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.records import Folding
from tsmfpga.hw.boards import MAC_POLICIES, get_board
from tsmfpga.hw.ops import estimate_layer, owner_for
from tsmfpga.hw.ops.owner import RESOURCES, custom_op

#: resources checked against the budget (LUTRAM is a subset of LUT that only SLICEMs provide)
CHECKED = ("LUT", "LUTRAM", "BRAM36", "DSP", "FF")

UNITS = {"cycles": "clock cycles per frame", "fps": "frames per second", "clock_mhz": "MHz",
         "LUT": "LUT6", "LUTRAM": "LUT6 used as memory", "FF": "flip-flops", "BRAM36": "36 Kb block RAMs",
         "DSP": "DSP48 slices", "utilization": "fraction of board capacity"}


class FoldingError(UserFacingError):
    """The target frame rate cannot be met, or the design does not fit the board's budget."""


@dataclass
class FoldingResult(Folding):
    """The folding record (:class:`tsmfpga.core.records.Folding`) with its units and a table."""

    units: dict = field(default_factory=lambda: dict(UNITS))

    def table(self) -> str:
        """Human-readable per-layer table."""
        rows = [f"{'layer':<30} {'PE':>4} {'SIMD':>4} {'cycles':>8} {'LUT':>7} {'FF':>7} {'BRAM36':>6} "
                f"{'DSP':>4}  impl"]
        for r in self.layers:
            x = r["resources"]
            impl = r.get("mac_impl", "") + ("/" + r["ram_style"] if r.get("ram_style") else "")
            rows.append(f"{r['name']:<30} {r['pe']:>4} {r['simd']:>4} {r['cycles']:>8} {x['LUT']:>7} "
                        f"{x['FF']:>7} {x['BRAM36']:>6g} {x['DSP']:>4}  {impl}")
        t = self.totals
        rows.append(f"{'total':<30} {'':>4} {'':>4} {self.ideal_ii_cycles:>8} {t['LUT']:>7} {t['FF']:>7} "
                    f"{t['BRAM36']:>6g} {t['DSP']:>4}")
        rows.append(f"II {self.ideal_ii_cycles} cycles ({self.bottleneck}) -> {self.fps_estimate:,.1f} fps at "
                    f"{self.clock_mhz:g} MHz; utilization " +
                    ", ".join(f"{k} {v:.0%}" for k, v in self.utilization.items()))
        return "\n".join(rows)


# ----------------------------------------------------------------------------- folding options
def _hw_nodes(model):
    from finn.util.fpgadataflow import is_fpgadataflow_node

    return [n for n in model.graph.node if is_fpgadataflow_node(n)]


def _options(model, node) -> list[dict] | None:
    """Folding choices of a node, least parallel first (None: folded together with its consumer)."""
    return owner_for(node).options(model, node)


def _cycles(node) -> int:
    return owner_for(node).cycles(node)[0]


def _parallelism(opt: dict) -> int:
    p = opt.get("PE", 1) * opt.get("SIMD", 1)
    return p * (1000 if opt.get("parallel_window") else 1)


def _apply_option(model, node, opt: dict) -> int:
    """Set ``opt`` on ``node`` (its owner may fold a neighbour with it); returns the cycles."""
    return owner_for(node).apply(model, node, opt)


def _valid(node, opt) -> bool:
    return owner_for(node).valid(node, opt)


def _cost(model, node, board) -> float:
    r = estimate_layer(model, node, board)["resources"]
    return r["LUT"] / board.lut + r["DSP"] / max(board.dsp, 1) + r["BRAM36"] / max(board.bram36, 1)


def _fold_node(model, node, target: int, board) -> tuple[int, dict]:
    """Least parallel valid option meeting ``target``; else the fastest. Returns (cycles, option)."""
    opts = _options(model, node)
    if opts is None or not opts:
        return _cycles(node), {}
    scored = []
    for opt in sorted(opts, key=_parallelism):
        if not _valid(node, opt):
            continue
        scored.append((_apply_option(model, node, opt), opt))
    meeting = [(c, o) for c, o in scored if c <= target]
    if not meeting:
        best = min(scored, key=lambda co: (co[0], _parallelism(co[1])))
        _apply_option(model, node, best[1])
        return best
    least = min(_parallelism(o) for _, o in meeting)
    ties = [(c, o) for c, o in meeting if _parallelism(o) == least]
    if len(ties) > 1 and node.op_type == "MVAU":
        def cost(co):
            _apply_option(model, node, co[1])
            owner_for(node).set_mac_impl(node, "dsp")
            return _cost(model, node, board)
        ties.sort(key=cost)
    _apply_option(model, node, ties[0][1])
    return ties[0]


def cycle_candidates(model) -> tuple[list[int], int, dict[str, int]]:
    """(every cycle count a layer can reach >= the fastest possible II, sorted; the fastest II
    (the largest per-layer minimum); {layer: minimum cycles per frame, fully unfolded})."""
    m = copy.deepcopy(model)
    cands, floor, mins = set(), 1, {}
    for n in _hw_nodes(m):
        opts = _options(m, n)
        if opts is None:
            continue  # folded with its consumer
        reach = [_apply_option(m, n, o) for o in opts if _valid(n, o)] or [_cycles(n)]
        cands.update(reach)
        mins[n.name] = min(reach)
        floor = max(floor, min(reach))
    return sorted(c for c in cands if c >= floor), floor, mins


# ----------------------------------------------------------------------------- budget
def _fmt(v) -> str:
    return f"{v:,.1f}" if isinstance(v, float) and v != int(v) else f"{int(v):,}"


def _totals(layers) -> dict:
    tot = {k: 0 for k in RESOURCES}
    for r in layers:
        for k in RESOURCES:
            tot[k] += r["resources"][k]
    tot["BRAM36"] = float(tot["BRAM36"])
    return tot


def _over(totals, budget) -> list[str]:
    return [k for k in CHECKED if totals[k] > budget[k]]


def _estimate_all(model, board) -> list[dict]:
    return [estimate_layer(model, n, board) for n in _hw_nodes(model)]


def _assign_memories_and_macs(model, board) -> None:
    """Default decisions of every owner: DSP MACs where the DSP MVU can do them, cheaper memory
    per buffer."""
    for n in _hw_nodes(model):
        owner_for(n).decide(model, n, board)


def _movable(r) -> bool:
    """A layer whose memory the repair loops may move between BRAM and LUTRAM."""
    return owner_for(r["op"]).memory_attr is not None


def _cheapest_dsp_switch(model, board, nodes, layers, deficit: float):
    """The DSP-MAC layer to switch to LUT MACs next: of those whose switch alone frees ``deficit``
    DSPs, the one adding the fewest LUTs; if none does, the fewest LUTs added per DSP freed.
    (With packed DSP MACs the largest DSP consumer is often not the cheapest to give up.)"""
    cands = []
    for r in layers:
        if r.get("mac_impl") != "dsp" or r["resources"]["DSP"] <= 0:
            continue
        n = nodes[r["name"]]
        owner = owner_for(n)
        owner.set_mac_impl(n, "lut")
        lut = estimate_layer(model, n, board)["resources"]["LUT"]
        owner.set_mac_impl(n, "dsp")
        cands.append((lut - r["resources"]["LUT"], r["resources"]["DSP"], r["name"]))
    if not cands:
        return None
    covers = [c for c in cands if c[1] >= deficit]
    best = (min(covers, key=lambda c: (c[0], c[2])) if covers
            else min(cands, key=lambda c: (c[0] / c[1], c[2])))
    return nodes[best[2]]


def _best_lut_to_dsp(model, board, nodes, layers, room: float):
    """The LUT-MAC layer to move to DSP MACs next while LUTs are over budget: of the layers whose
    owner can use DSPs (:meth:`OpOwner.dsp_capable`) and whose DSPs fit the ``room`` left, the
    most LUTs saved per DSP spent (None if no move saves LUTs)."""
    cands = []
    for r in layers:
        if r.get("mac_impl") != "lut":
            continue
        n = nodes[r["name"]]
        owner = owner_for(n)
        if not owner.dsp_capable(model, n, board):
            continue
        owner.set_mac_impl(n, "dsp")
        new = estimate_layer(model, n, board)["resources"]
        owner.set_mac_impl(n, "lut")
        saved, dsp = r["resources"]["LUT"] - new["LUT"], new["DSP"]
        if saved > 0 and 0 < dsp <= room:
            cands.append((saved / dsp, saved, r["name"]))
    if not cands:
        return None
    return nodes[max(cands, key=lambda c: (c[0], c[1], c[2]))[2]]


def _move_macs(model, board, budget, layers, over: str, impl: str, pick) -> list[dict]:
    """While resource ``over`` is over budget, set the MACs of ``pick(layers, totals)`` (None:
    stop) to ``impl`` and re-estimate. Returns the estimates."""
    tot = _totals(layers)
    while tot[over] > budget[over]:
        n = pick(layers, tot)
        if n is None:
            break
        owner_for(n).set_mac_impl(n, impl)
        layers = _estimate_all(model, board)
        tot = _totals(layers)
    return layers


def _repair(model, board, budget) -> list[dict]:
    """DSP -> LUT MACs while DSPs are over; LUT -> DSP MACs while LUTs are over and DSPs have
    room (the balance: DSPs left unused are spent where they save the most LUTs); BRAM -> LUTRAM
    while BRAM is over. Returns estimates."""
    nodes = {n.name: n for n in _hw_nodes(model)}
    layers = _estimate_all(model, board)
    layers = _move_macs(model, board, budget, layers, "DSP", "lut", lambda lay, tot: _cheapest_dsp_switch(
        model, board, nodes, lay, tot["DSP"] - budget["DSP"]))
    layers = _move_macs(model, board, budget, layers, "LUT", "dsp", lambda lay, tot: _best_lut_to_dsp(
        model, board, nodes, lay, budget["DSP"] - tot["DSP"]))
    tot = _totals(layers)
    while tot["BRAM36"] > budget["BRAM36"]:
        movable = [r for r in layers if r["resources"]["BRAM36"] > 0 and _movable(r)]
        if not movable:
            break

        def efficiency(r):  # stored bits per allocated BRAM bit (low first)
            bits = r.get("weight_bits") or r.get("buffer_bits") or 0
            return bits / (r["resources"]["BRAM36"] * 36864)
        r = min(movable, key=efficiency)
        n = nodes[r["name"]]
        owner_for(n).set_ram_style(n, "distributed")
        layers = _estimate_all(model, board)
        tot = _totals(layers)
    tried = set()
    while tot["LUTRAM"] > budget["LUTRAM"]:  # the reverse: LUTRAM memories to BRAM while BRAM has room
        movable = [r for r in layers if r.get("ram_style") == "distributed" and r["name"] not in tried
                   and _movable(r)]
        if not movable:
            break
        r = max(movable, key=lambda r: r["resources"]["LUTRAM"])
        tried.add(r["name"])
        n = nodes[r["name"]]
        owner = owner_for(n)
        owner.set_ram_style(n, "block")
        new_layers = _estimate_all(model, board)
        new_tot = _totals(new_layers)
        if new_tot["BRAM36"] > budget["BRAM36"] or new_tot["LUTRAM"] >= tot["LUTRAM"]:
            owner.set_ram_style(n, "distributed")
            continue
        layers, tot = new_layers, new_tot
    return layers


def _fit_message(what: str, board, totals, budget, budget_fraction, layers) -> str:
    worst = max(_over(totals, budget), key=lambda k: totals[k] / max(budget[k], 1e-9))
    top = max(layers, key=lambda r: r["resources"][worst])
    cap = board.capacity()[worst]
    advice = "Lower the frame rate, raise budget_fraction, or pick a larger board."
    if worst == "DSP" and budget["DSP"] == 0:
        advice = f"{top['name']} cannot do without DSP slices; compile with --macs auto."
    if top.get("streams", 1) > 1:
        advice = (f"Serve fewer streams (it holds {top['streams']:,} frame buffers; --streams), lower the "
                  "frame rate, raise budget_fraction, or pick a larger board.")
    return (f"{what} does not fit {board.name}: {worst} needed {_fmt(totals[worst])} > budget "
            f"{_fmt(budget[worst])} ({budget_fraction:.0%} of {_fmt(cap)}); largest consumer: "
            f"{top['name']} ({_fmt(top['resources'][worst])} {worst}). {advice}")


def _fold_at(model: ModelWrapper, board, target_cycles: int, budget: dict, budget_fraction: float,
             what: str) -> tuple[ModelWrapper, list[dict]]:
    """Fold a copy of ``model`` so every layer meets ``target_cycles`` and the budget (or raise)."""
    m = copy.deepcopy(model)
    for n in _hw_nodes(m):
        _fold_node(m, n, target_cycles, board)
    misses = [(c, n.name) for n in _hw_nodes(m) if (c := _cycles(n)) > target_cycles]
    if misses:
        cyc, name = max(misses)
        others = f" ({len(misses) - 1} more layers also miss it)" if len(misses) > 1 else ""
        raise FoldingError(
            f"{what} is unreachable: {name} needs at least {cyc:,} cycles per frame even fully unfolded "
            f"(> target {target_cycles:,} cycles){others}")
    _assign_memories_and_macs(m, board)
    layers = _repair(m, board, budget)
    totals = _totals(layers)
    if _over(totals, budget):
        raise FoldingError(_fit_message(what, board, totals, budget, budget_fraction, layers))
    return m, layers


def _result(layers, board, clock_mhz, budget, budget_fraction, target_fps, target_cycles, limit,
            mins=None, macs: str = "auto") -> FoldingResult:
    totals = _totals(layers)
    cap = board.capacity()
    ii = int(max(r["cycles"] for r in layers))
    ties = [r for r in layers if r["cycles"] == ii]
    # of equally slow layers, name one that cannot go faster (fully unfolded) if there is one
    bott = next((r for r in ties if mins and mins.get(r["name"]) == ii), ties[0])
    return FoldingResult(
        layers=layers, ideal_ii_cycles=ii, bottleneck=bott["name"],
        fps_estimate=clock_mhz * 1e6 / ii if ii else float("inf"),
        totals=totals, budget=budget, capacity=cap,
        utilization={k: round(totals[k] / cap[k], 4) for k in CHECKED},
        target_fps=target_fps, board=board.name, clock_mhz=clock_mhz, budget_fraction=budget_fraction,
        target_cycles=target_cycles,
        mac_impl={"dsp": [r["name"] for r in layers if r.get("mac_impl") == "dsp"],
                  "lut": [r["name"] for r in layers if r.get("mac_impl") == "lut"]},
        macs=macs, limit=limit)


def _board(board):
    if isinstance(board, str):
        return get_board(board)
    return board


def _budget(cap: dict, budget_fraction: float, macs: str) -> dict:
    """``budget_fraction`` of every checked resource of the board; no DSP with ``macs`` "lut"."""
    if macs not in MAC_POLICIES:
        raise FoldingError(f"macs = {macs!r}: must be one of {', '.join(MAC_POLICIES)}")
    budget = {k: (int(cap[k] * budget_fraction) if k != "BRAM36" else float(cap[k] * budget_fraction))
              for k in CHECKED}
    if macs == "lut":
        budget["DSP"] = 0
    return budget


def fold(model: ModelWrapper, board, clock_mhz: float | None = None, target_fps: float | None = None,
         budget_fraction: float = 0.8, macs: str = "auto") -> tuple[ModelWrapper, FoldingResult]:
    """Fold the generic HW graph ``model`` (not modified) for ``board`` (name or Board).

    With ``target_fps``: the least parallel folding meeting ``clock/target_fps`` cycles per frame in
    every layer, checked against ``budget_fraction`` of the board (FoldingError if impossible).
    Without: the highest frame rate whose folding fits the budget. Returns (folded copy, result).
    ``macs``: "auto" (DSP MACs by finn-plus' rule, rebalanced to the budget) or "lut" (DSP budget 0).
    """
    board = _board(board)
    clock_mhz = board.clock(clock_mhz)
    if not 0 < budget_fraction <= 1:
        raise FoldingError(f"budget_fraction = {budget_fraction} must be in (0, 1]")
    budget = _budget(board.capacity(), budget_fraction, macs)
    clock_hz = clock_mhz * 1e6

    if target_fps is not None:
        if target_fps <= 0:
            raise FoldingError(f"target_fps = {target_fps} must be > 0")
        target_cycles = max(1, int(math.floor(clock_hz / target_fps)))
        what = f"target {target_fps:,g} fps ({target_cycles:,} cycles per frame at {clock_mhz:g} MHz)"
        m, layers = _fold_at(model, board, target_cycles, budget, budget_fraction, what)
        return m, _result(layers, board, clock_mhz, budget, budget_fraction, target_fps, target_cycles, {},
                          macs=macs)

    # no target: bisection over the achievable bottleneck cycle counts
    cands, floor, mins = cycle_candidates(model)
    what = lambda c: f"folding for {clock_hz / c:,.0f} fps ({c:,} cycles per frame)"  # noqa: E731
    best = (cands[-1],) + _fold_at(model, board, cands[-1], budget, budget_fraction,
                                   "the fully folded design (least parallelism)")
    lo, hi = 0, len(cands) - 1  # cands[hi] feasible
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            best = (cands[mid],) + _fold_at(model, board, cands[mid], budget, budget_fraction, what(cands[mid]))
            hi = mid
        except FoldingError:
            lo = mid + 1
    if best[0] != cands[hi]:
        best = (cands[hi],) + _fold_at(model, board, cands[hi], budget, budget_fraction, what(cands[hi]))
    tc, m, layers = best
    ii = max(r["cycles"] for r in layers)
    if ii <= floor:
        at_min = [r["name"] for r in layers if r["cycles"] == ii and mins.get(r["name"]) == ii]
        limit = {"reason": "fully unfolded", "layers": at_min,
                 "detail": f"{', '.join(at_min)} cannot go below {ii:,} cycles per frame at any folding"}
    else:
        faster = max([c for c in cands if c < ii] or [floor])
        try:
            _fold_at(model, board, faster, budget, budget_fraction, what(faster))
            limit = {"reason": "search", "detail": f"{faster} cycles also fits (non-monotone estimates)"}
        except FoldingError as e:
            limit = {"reason": "budget", "next_ii_cycles": int(faster), "detail": str(e)}
    return m, _result(layers, board, clock_mhz, budget, budget_fraction, None, tc, limit, mins, macs)


# ----------------------------------------------------------------------------- streams (cameras)
#: frame rate of one camera for the "cameras served" figure
CAMERA_FPS = 30.0


def _stateful(model) -> list:
    return [n for n in _hw_nodes(model) if n.op_type == "TemporalShift"]


def set_streams(model: ModelWrapper, streams: int) -> list[str]:
    """Give every TemporalShift ``streams`` frame buffers (attribute ``streams``); returns their names."""
    if int(streams) < 1:
        raise FoldingError(f"streams = {streams} must be >= 1")
    names = []
    for n in _stateful(model):
        custom_op(n).set_nodeattr("streams", int(streams))
        names.append(n.name)
    return names


def _fits_streams(model, board, budget, streams: int) -> tuple[bool, dict]:
    """The folded ``model`` with ``streams`` streams, after the folder's default memory decisions
    of the stateful layers and its repairs: (fits the budget, totals)."""
    m = copy.deepcopy(model)
    set_streams(m, streams)
    for n in _stateful(m):
        owner_for(n).decide(m, n, board)
    totals = _totals(_repair(m, board, budget))
    return not _over(totals, budget), totals


def plan_streams(model: ModelWrapper, board, clock_mhz: float | None = None,
                 budget_fraction: float = 0.8, limit: int = 1 << 16, macs: str = "auto") -> dict:
    """Capacity of a folded design in streams (cameras), analytical: the largest N whose N-fold
    temporal-shift state fits ``budget_fraction`` of the board at the folded frame rate (memory
    bound), the cameras of :data:`CAMERA_FPS` the frame rate serves (compute bound), and which binds
    (``macs``: the folding's MAC policy, see :func:`fold`). A design without temporal state has no
    memory bound (``max_streams`` None)."""
    board = _board(board)
    clock_mhz = board.clock(clock_mhz)
    cap = board.capacity()
    budget = _budget(cap, budget_fraction, macs)
    ii = max(_cycles(n) for n in _hw_nodes(model))
    fps = clock_mhz * 1e6 / ii
    compute = int(fps // CAMERA_FPS)
    out = {"source": "analytical", "camera_fps": CAMERA_FPS, "fps": round(fps, 1), "ii_cycles": int(ii),
           "budget_fraction": budget_fraction, "cameras_compute_bound": compute,
           "stateful_layers": [n.name for n in _stateful(model)]}
    if not out["stateful_layers"]:
        return {**out, "max_streams": None, "cameras": compute, "bound": "compute",
                "detail": "no temporal state: every stream shares the pipeline; the frame rate alone limits cameras"}
    ok, _ = _fits_streams(model, board, budget, 1)
    if not ok:
        return {**out, "max_streams": 0, "cameras": 0, "bound": "memory",
                "detail": "even one stream does not fit the budget"}
    lo, hi = 1, 2
    while hi <= limit and _fits_streams(model, board, budget, hi)[0]:
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:  # lo fits, hi does not (or is past the limit)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _fits_streams(model, board, budget, mid)[0] else (lo, mid)
    _, totals = _fits_streams(model, board, budget, lo)
    cameras = min(lo, compute)
    bound = "compute" if compute <= lo else "memory"
    return {**out, "max_streams": lo, "max_streams_totals": totals, "cameras": cameras, "bound": bound,
            "detail": (f"{fps:,.0f} fps / {CAMERA_FPS:g} fps = {compute} cameras (compute); the state of "
                       f"{lo:,} streams fits {budget_fraction:.0%} of {board.name} (memory{', at the search limit' if lo >= limit else ''}); "
                       f"{bound}-bound: {cameras} cameras")}
