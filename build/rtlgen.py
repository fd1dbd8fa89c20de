"""HW graph -> RTL folder: one backend instance per node, FIFO plan, stitched top.

``DIR/rtl/`` holds every source (ours, finn-rtllib, generated wrappers and weight/threshold
files) flat, ``tsmfpga_top.sv`` and ``manifest.json`` (compile order, interface, FIFOs).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core.clip import run_clips
from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.graph import hw_core
from tsmfpga.core.records import get_meta
from tsmfpga.core.streams import clip_starts
from tsmfpga.hw.fifos import DEFAULT_ADDR_WIDTH, addr_width_for, analytical_depths, reconvergent_edges
from tsmfpga.hw.ops import build_instances
from tsmfpga.hw.stitch import edges, fifo_instance, write_rtl
from tsmfpga.sim import harness


class SizingCapError(UserFacingError):
    """A FIFO of the sizing simulation filled up: its measured depth would only be a lower bound."""


#: cap of the sizing simulation's FIFOs (ADDR_WIDTH): 16k beats
SIZING_MAX_ADDR_WIDTH = 14
#: wall times of generate_rtl's parts, written next to the RTL folder (the compile report reads it)
STAGE_SECONDS_FILE = "rtl_stage_seconds.json"
#: fewest frames of the sizing simulation (the reference pipeline holds ~3)
SIZING_FRAMES = 6


def sizing_frames(latencies: list[int], period: int) -> int:
    """Frames the sizing simulation needs: the pipeline's fill (frames in flight when a frame
    enters, ceil(latency / period) + 1, with the latency measured in the sizing run itself) plus
    2 frames in steady state, at least :data:`SIZING_FRAMES`. A deeper pipeline needs more frames
    (its FIFOs reach their steady occupancy later): the run is repeated with that many."""
    if not latencies or not period:
        return SIZING_FRAMES
    return max(SIZING_FRAMES, -(-max(latencies) // int(period)) + 1 + 2)


#: Verilog define of the sizing build: axis_fifo reads a per-instance depth limit (+fifo_limit_...)
FIFO_LIMIT_DEFINE = "TSMFPGA_FIFO_LIMIT"
#: most rounds of sizing-simulation runs, and simulated cycles (of the longest run of each round),
#: spent shrinking chain FIFOs (lean_chain_fifos); budgets in rounds and cycles, not seconds, so
#: the result (the RTL) is the same on every machine
LEAN_MAX_ROUNDS, LEAN_MAX_CYCLES = 40, 24_000_000
#: check runs of one round, simulated at once (a bisection with this many probes per round). A
#: fixed number, not the machine's core count: the probes decide the result, which must not
#: depend on the machine. 2 = the cores of the machines this is built for.
LEAN_PROBES = 2


def probe_points(lo: int, hi: int, probes: int | None = None) -> list[int]:
    """Depths to try in one round of the search for the smallest passing depth in [lo, hi] (hi
    known to pass): up to ``probes`` (default :data:`LEAN_PROBES`) points in [lo, hi), evenly spread."""
    probes = probes or LEAN_PROBES
    return sorted({lo + (hi - lo) * i // (probes + 1) for i in range(1, probes + 1)}) if lo < hi else []


def fifo_limit_args(plan: dict[str, int]) -> tuple[str, ...]:
    """Run-time arguments that hold every FIFO of the sizing build at the memory depth of ``plan``
    (tensor -> ADDR_WIDTH), i.e. simulate the planned depths without rebuilding."""
    return tuple(f"+fifo_limit_{harness.TB}.dut.{fifo_instance(t)}={1 << aw}" for t, aw in sorted(plan.items()))


def smallest_passing(lo: int, hi: int, check: Callable[[list[int]], list[bool]],
                     budget_left: Callable[[], bool] = lambda: True) -> int:
    """The smallest value in [lo, hi] that passes ``check`` (hi passes; passing is monotone),
    searched in rounds: ``check`` gets the round's :func:`probe_points` and returns a pass/fail
    each. Stops early when ``budget_left()`` is false (returns the smallest value known to pass)."""
    while lo < hi and budget_left():
        points = probe_points(lo, hi)
        passed = check(points)
        first = next((i for i, g in enumerate(passed) if g), None)
        if first is None:
            lo = points[-1] + 1
        else:
            hi = points[first]
            lo = points[first - 1] + 1 if first > 0 else lo
    return hi


def lean_chain_fifos(core: ModelWrapper, exe: Path, work: Path, manifest: dict, frames: np.ndarray, period: int,
                     plan: dict[str, int], region: set[str], log=print,
                     interval: int | None = None) -> tuple[dict, dict]:
    """Shrink the measured FIFOs of plain chains (outside every fork -> join region) to the
    smallest depth that keeps the measured interval, each step verified by simulation with every
    FIFO at its planned depth (one build: the sizing build's run-time limits). A chain FIFO
    deeper than its analytical depth only lets a fast producer run ahead of the bottleneck; it
    costs block RAM and buys nothing unless a bursty stage needs the slack (then the run shows a
    longer interval and the depth stays). ``interval``: the output interval of the sizing run
    itself (every FIFO deep); a check passes when it is no longer than that (or ``period``), so a
    design whose true interval is a little above the analytical one is still leaned.

    Rounds of :data:`LEAN_PROBES` check runs simulated at once: first the measured plan and all
    chain FIFOs at their analytical depth; if the latter fails, one FIFO at a time (most bits
    first), searching its depth between the analytical and the measured one with
    :func:`probe_points` (rounds and simulated cycles capped: :data:`LEAN_MAX_ROUNDS`,
    :data:`LEAN_MAX_CYCLES`). A run is accepted when every frame comes out, one every ``period``
    (or ``interval``) cycles or faster at the end, without a timeout."""
    plan0 = analytical_depths(core)
    widths = {t: f["width"] for t, f in manifest["fifos"].items()}
    floor = {t: plan0.get(t, DEFAULT_ADDR_WIDTH) for t in plan}
    chain = sorted((t for t in plan if t not in region and plan[t] > floor[t]),
                   key=lambda t: -((1 << plan[t]) * widths.get(t, 1)))
    info = {"chain_fifos": len(chain), "runs": 0, "rounds": 0, "probes_per_round": LEAN_PROBES, "cycles": 0,
            "shrunk": {}, "kept": [], "untried": [], "verified": False,
            "bits_before": sum((1 << a) * widths.get(t, 1) for t, a in plan.items())}
    if not chain or not period:
        info["bits_after"] = info["bits_before"]
        return plan, info

    def one(k: int, p: dict) -> tuple[bool, int]:
        sub = Path(work) / f"lean_{k}"
        sub.mkdir(parents=True, exist_ok=True)
        _, r = harness.stream(exe, work / "rtl", sub, manifest, frames, clip_starts(1, len(frames)),
                              period=period, plusargs=fifo_limit_args(p))
        ends = [r.out_end[f] for f in sorted(r.out_end)]
        return (not r.timeout and len(ends) == len(frames) and len(ends) > 1
                and ends[-1] - ends[-2] <= max(period, interval or 0)), int(r.cycles)

    def round_ok(plans: list[dict]) -> list[bool]:
        """One round: the plans' check runs at once (the simulators are subprocesses)."""
        with ThreadPoolExecutor(len(plans)) as pool:
            got = list(pool.map(one, range(len(plans)), plans))
        info["runs"] += len(plans)
        info["rounds"] += 1
        info["cycles"] += max(c for _, c in got)
        return [g for g, _ in got]

    def budget_left() -> bool:
        return info["rounds"] < LEAN_MAX_ROUNDS and info["cycles"] < LEAN_MAX_CYCLES

    trial = {**plan, **{t: floor[t] for t in chain}}
    plan_ok, trial_ok = round_ok([plan, trial])
    if not plan_ok:   # the measured plan itself must hold the interval, else nothing to shrink
        log("[compile] FIFO sizing: the planned depths do not hold the interval in the check run; kept as measured")
        info["bits_after"] = info["bits_before"]
        return plan, info
    info["verified"] = True
    if trial_ok:
        info["shrunk"] = {t: [plan[t], floor[t]] for t in chain}
        plan = trial
    else:
        for t in chain:
            if not budget_left():
                info["untried"] = [c for c in chain if c not in info["shrunk"] and c not in info["kept"]]
                break
            hi = smallest_passing(floor[t], plan[t], lambda ds: round_ok([{**plan, t: d} for d in ds]),
                                  budget_left)
            if hi < plan[t]:
                info["shrunk"][t] = [plan[t], hi]
                plan = {**plan, t: hi}
            else:
                info["kept"].append(t)
    info["bits_after"] = sum((1 << a) * widths.get(t, 1) for t, a in plan.items())
    log(f"[compile] FIFO sizing: {len(info['shrunk'])} of {len(chain)} chain FIFOs shrunk to the smallest depth "
        f"that keeps the interval ({info['runs']} check runs in {info['rounds']} rounds of {LEAN_PROBES} at once): "
        f"{info['bits_before']:,} -> {info['bits_after']:,} bits")
    return plan, info


def size_fifos_by_simulation(core: ModelWrapper, instances: dict, work: Path, period: int,
                             log=print, frames_n: int = SIZING_FRAMES, fixed: dict | None = None,
                             capacity: dict | None = None) -> tuple[dict, dict]:
    """FINN-style FIFO sizing: every FIFO one frame deep (capped), frames offered every
    ``period`` cycles (the folding's ideal interval: a FIFO upstream of a stage slower than that
    would fill up, so the measured depths are the ones the target rate needs), no output
    backpressure (timing does not depend on the data); the maximum occupancy of each FIFO is
    measured and depth = maximum + 25 % + 2 beats. Returns (plan, info).

    A FIFO in a plain chain (outside every fork -> join region, :func:`reconvergent_edges`) that
    fills up to the cap only shows a producer running ahead of a slower consumer (e.g. a sliding
    window feeding a deeply folded MVAU): it needs no depth, so the run is repeated with such
    FIFOs at their analytical depth (``fixed``), as they will be built. A FIFO between a fork and
    its join that fills up is given a 4x larger sizing capacity (``capacity``: tensor -> address
    bits) and the run repeated, up to the cap; full at the cap, it is an error (its depth decides
    whether the design deadlocks, and the measurement would only be a lower bound)."""
    t0 = time.time()
    big = {e.tensor: min(SIZING_MAX_ADDR_WIDTH, addr_width_for(e.frame_beats + 2))
           for e in edges(core, instances) if e.dst is not None}
    big.update(capacity or {})
    big.update(fixed or {})
    manifest = write_rtl(core, instances, work / "rtl", big)
    t_rtl = time.time() - t0
    exe = harness.build(work / "rtl", manifest, work, "verilator", log=log, monitor_fifos=True,
                        extra_flags=(f"-D{FIFO_LIMIT_DEFINE}",))
    built = harness.build.last
    i = manifest["input"]
    dt = core.get_tensor_datatype(core.graph.input[0].name)
    rng = np.random.default_rng(0)
    t_sim = time.time()
    while True:
        frames = rng.integers(int(dt.min()), int(dt.max()) + 1, size=(frames_n, i["frame_beats"] * i["lanes"]))
        log(f"[compile] FIFO sizing simulation: {frames_n} frames, every FIFO up to "
            f"{(1 << SIZING_MAX_ADDR_WIDTH) + 1} beats ...")
        _, run = harness.stream(exe, work / "rtl", work, manifest, frames, clip_starts(1, frames_n), period=period)
        need = sizing_frames([run.out_end[f] - run.in_start[f] for f in run.out_end if f in run.in_start], period)
        if run.timeout or need <= frames_n:
            break
        log(f"[compile] the pipeline holds more frames than the sizing run streamed: again with {need}")
        frames_n = need
    capped = {t: occ for t, occ in run.fifo_max.items() if occ >= (1 << big[t]) + 1 and t not in (fixed or {})}
    region = reconvergent_edges(core)
    grow = {t: min(SIZING_MAX_ADDR_WIDTH, big[t] + 2) for t in capped
            if t in region and big[t] < SIZING_MAX_ADDR_WIDTH}
    if grow:   # a fork -> join FIFO needs more than its one-frame sizing capacity: measure it larger
        log(f"[compile] FIFO sizing: {len(grow)} FIFO(s) between a fork and its join filled up their sizing "
            f"capacity: again with 4x the capacity ({', '.join(f'{t}: {(1 << a) + 1} beats' for t, a in sorted(grow.items()))})")
        return size_fifos_by_simulation(core, instances, work, period, log=log, frames_n=frames_n, fixed=fixed,
                                        capacity={**(capacity or {}), **grow})
    chain = sorted(t for t in capped if t not in region)
    if chain and not run.timeout and len(chain) == len(capped):
        names = [f"{getattr(core.find_producer(t), 'name', 'input')} -> "
                 f"{(core.find_consumers(t) or [None])[0].name if core.find_consumers(t) else 'output'}" for t in chain]
        log(f"[compile] FIFO sizing: {len(chain)} chain FIFO(s) filled up ({', '.join(names)}: a producer running "
            f"ahead of a slower consumer): again with them and the chain before them at their analytical depth")
        plan0 = analytical_depths(core)
        upstream = set(chain)   # the chain edges before a filled one would fill next: all at once
        for t in chain:
            prod = core.find_producer(t)
            while prod is not None:
                dyn = [i for i in prod.input if core.get_initializer(i) is None]
                if len(dyn) != 1 or dyn[0] in region:
                    break
                upstream.add(dyn[0])   # up to and including the graph input's FIFO
                prod = core.find_producer(dyn[0])
        again = {**(fixed or {}), **{t: plan0.get(t, DEFAULT_ADDR_WIDTH) for t in upstream if t in big}}
        return size_fifos_by_simulation(core, instances, work, period, log=log, frames_n=frames_n, fixed=again,
                                        capacity=capacity)
    if capped:   # a full FIFO during sizing: its measured occupancy is a lower bound, not a depth
        raise SizingCapError(
            f"FIFO sizing: {len(capped)} FIFO(s) filled up to their sizing capacity ({sorted(capped.items())[:5]} "
            f"beats; cap {(1 << SIZING_MAX_ADDR_WIDTH) + 1}{'; the run deadlocked' if run.timeout else ''}): the "
            "measured depth would be too small. Compile with --fifo-sizing analytical, or fold to a lower --target-fps")
    if run.timeout or not run.fifo_max:
        raise RuntimeError(f"FIFO sizing simulation did not complete (timeout={run.timeout})")
    plan = {t: addr_width_for(occ + occ // 4 + 2) for t, occ in run.fifo_max.items()}
    plan.update(fixed or {})
    t_lean = time.time()
    ends = [run.out_end[f] for f in sorted(run.out_end)]
    plan, lean = lean_chain_fifos(core, exe, work, manifest, frames, period, plan, region, log=log,
                                  interval=(ends[-1] - ends[-2]) if len(ends) > 1 else None)
    info = {"measured_max_occupancy": run.fifo_max, "frames": frames_n, "frame_period_cycles": period,
            "sizing_capacity_beats": {t: (1 << a) + 1 for t, a in big.items()}, "hit_capacity": False,
            "chain_fifos_at_analytical_depth": sorted(fixed or {}),
            "output_interval_cycles_last": (ends[-1] - ends[-2]) if len(ends) > 1 else None,
            "lean": lean,
            "source": "rtl_sim (verilator)",
            "seconds": {"sizing_rtl": round(t_rtl, 2), "sizing_build": built.seconds,
                        "sizing_build_cached": built.cached, "sizing_sim": round(t_lean - t_sim, 2),
                        "fifo_lean": round(time.time() - t_lean, 2)}}
    return plan, info


def generate_rtl(model: ModelWrapper, out_dir: Path, fpgapart: str, clock_mhz: float,
                 fifo_sizing: str = "simulation", period: int | None = None, log=print) -> dict:
    """Write the RTL of ``model`` (post-processing excluded) to ``out_dir``; returns the manifest.
    ``fifo_sizing``: "analytical" (shortcut FIFOs one frame deep, MVAU inputs one vector) or
    "simulation" (measured occupancy, see :func:`size_fifos_by_simulation`)."""
    t0 = time.time()
    core = hw_core(model)
    instances = build_instances(core, fpgapart, clock_mhz)
    plan = analytical_depths(core)
    seconds = {"instances": round(time.time() - t0, 2)}
    sizing = {"method": "analytical (shortcut FIFO = one frame, MVAU input = one vector)"}
    if fifo_sizing == "simulation":
        work = Path(out_dir).parent / "fifo_sizing"
        folding = get_meta(model, "tsmfpga.folding")
        if not period:
            period = int(folding.ideal_ii_cycles) if folding else 0
        t1 = time.time()
        plan, info = size_fifos_by_simulation(core, instances, work, period, log=log)
        shutil.rmtree(work / "rtl", ignore_errors=True)
        sizing = {"method": "simulation (max occupancy + 25 % + 2 beats)", **info,
                  "frames_rule": "ceil(measured latency / period) + 1 (pipeline fill) + 2, at least "
                                 f"{SIZING_FRAMES} (rerun with more when the pipeline holds more)"}
        seconds.update(info.pop("seconds"))
        seconds["fifo_sizing"] = round(time.time() - t1, 2)
        sizing.pop("seconds", None)
    elif fifo_sizing != "analytical":
        raise ValueError(f"fifo_sizing {fifo_sizing!r}: use 'simulation' or 'analytical'")
    t2 = time.time()
    manifest = write_rtl(core, instances, Path(out_dir), plan)
    seconds["write_rtl"] = round(time.time() - t2, 2)
    manifest["fifo_sizing"] = sizing
    (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    # wall times next to the RTL folder, not in it (the RTL is byte-for-byte reproducible)
    (Path(out_dir).parent / STAGE_SECONDS_FILE).write_text(json.dumps(seconds, indent=1) + "\n")
    return manifest


def simulate_hw_graph(core: ModelWrapper, clips: np.ndarray, work: Path, fpgapart: str = "xc7z020clg400-1",
                      clock_mhz: float = 100.0, simulator: str = "verilator", p_valid: int = 256,
                      p_ready: int = 256, seed: int = 1, fifo_sizing: str = "analytical", log=print) -> dict:
    """Generate, build and simulate the RTL of a HW-only graph on ``clips`` (N, T, *input shape of
    the graph) and compare with its Python execution (the clip runner). For per-layer tests and
    fuzzing."""
    work = Path(work)
    manifest = generate_rtl(core, work / "rtl", fpgapart, clock_mhz, fifo_sizing=fifo_sizing, log=log)
    expected = run_clips(core, clips, prepare=lambda f: f).astype(np.int64)
    n, t = clips.shape[:2]
    exe = harness.build(work / "rtl", manifest, work, simulator, log=log)
    got, run = harness.stream(exe, work / "rtl", work, manifest, clips.reshape(n * t, -1), clip_starts(n, t),
                              simulator=simulator, seed=seed, p_valid=p_valid, p_ready=p_ready)
    exp = expected.reshape(-1)
    mism = int(np.sum(got[: exp.size] != exp[: got.size])) + abs(got.size - exp.size)
    return {"mismatches": mism, "values": int(exp.size), "got": got, "expected": exp, "run": run,
            "manifest": manifest}
