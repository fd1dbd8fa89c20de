"""`tsmfpga sim`: the stitched accelerator simulated on whole clips, compared bit for bit with
the integer HW graph's Python execution, latency and throughput measured in cycles.

Writes ``DIR/sim/outputs.npy`` (RTL integer outputs, (clips, frames, values)),
``DIR/sim/logits.npy`` (after the host-side output scale/bias) and ``DIR/sim/report.json``
(last, atomically). Every figure here is ``rtl_sim`` (measured in simulation) unless labelled.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsmfpga.core.clip import dequantize, is_step_graph, load_codes, run_clips, to_nhwc
from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.float64 import float64_golden
from tsmfpga.core.graph import apply_output_affine, hw_core, load_model, output_affine
from tsmfpga.core.records import HwInput, get_meta
from tsmfpga.core.streams import clip_starts
from tsmfpga.sim import harness
from tsmfpga.sim.latency import isolated_clips, split_warmup, steady_clips
from tsmfpga.sim.multistream import run_streams_sim
from tsmfpga.sim.taps import compare_taps


@dataclass
class SimConfig:
    """What `tsmfpga sim` reads."""

    #: build folder of `tsmfpga compile` (model_hw.onnx, rtl/, report.json)
    build_dir: Path
    #: clips to simulate (from the inputs); None: all of --inputs, else 8
    clips: int | None = None
    #: .npy of integer input codes in the model's input layout, (N, T, C, H, W) for a TSM;
    #: None: the clips the compile step verified with, else seeded random codes
    inputs: Path | None = None
    #: .npy of integer class labels for the clips (default: test_labels.npy next to the inputs)
    labels: Path | None = None
    #: verilator (fast, runs finn-rtllib) or icarus
    simulator: str = "verilator"
    #: probability (of 256) that the testbench offers an input beat / accepts an output beat
    p_valid: int = 256
    p_ready: int = 256
    #: seed of the random input codes and of the testbench's valid/ready pattern
    seed: int = 0
    #: compare with the QONNX golden too (slower; gives accuracy.quant)
    golden: bool = True
    #: layer taps: simulate the first clip again recording every inter-layer stream and compare
    #: each with the HW graph's tensor (names the first divergent layer, frame and beat)
    taps: bool = True
    #: bursty DMA: (on, off) -- the input offers beats and the output accepts them only in the
    #: first ``on`` of every ``on + off`` cycles (output window shifted by on/2); (0, 0): none
    burst: tuple[int, int] = (0, 0)
    #: X propagation: rebuild with Verilator --x-assign/--x-initial unique and run every clip
    #: under this many random-initialisation seeds; outputs must equal the main run's (0: skip)
    x_seeds: int = 0
    #: cameras of the multi-stream regression (``--streams N``, :mod:`tsmfpga.sim.multistream`);
    #: None: every stream the design serves (1: the single-stream runs only)
    streams: int | None = None
    #: simulator processes the main run is split over, running at once (whole clips each, at least
    #: MIN_SHARD_FRAMES frames each); None: one per CPU core
    shards: int | None = None
    #: output folder (default DIR/sim)
    out: Path | None = None
    #: compiled simulator models, one folder per key (RTL, testbench, flags, toolchain); default
    #: DIR/sim_cache: a second sim of the same build (any --out) does not recompile
    build_cache: Path | None = None

    def __post_init__(self):
        self.build_dir = Path(self.build_dir)
        self.out = Path(self.out) if self.out else self.build_dir / "sim"
        self.build_cache = Path(self.build_cache) if self.build_cache else self.build_dir / "sim_cache"
        for name in ("inputs", "labels"):
            v = getattr(self, name)
            setattr(self, name, Path(v) if v is not None else None)
        if self.simulator not in ("verilator", "icarus"):
            raise UserFacingError(f"--simulator {self.simulator!r}: use verilator or icarus")
        if self.shards is not None and self.shards < 1:
            raise UserFacingError(f"--shards {self.shards}: must be >= 1 (simulator processes of the main run)")
        if self.streams is not None and self.streams < 1:
            raise UserFacingError(f"--streams {self.streams}: must be >= 1 (cameras to interleave)")
        self.burst = tuple(int(v) for v in self.burst)
        if len(self.burst) != 2 or min(self.burst) < 0 or (self.burst[1] and not self.burst[0]):
            raise UserFacingError(f"burst {self.burst}: give ON,OFF cycles (ON > 0, OFF >= 0), e.g. --burst 256,768")
        for name in ("p_valid", "p_ready"):
            if not 1 <= getattr(self, name) <= 256:
                raise UserFacingError(f"{name} must be in 1..256 (of 256), got {getattr(self, name)}")


def _load(cfg: SimConfig):
    from qonnx.core.modelwrapper import ModelWrapper

    d = cfg.build_dir
    need = {"model_hw.onnx": "tsmfpga compile", "report.json": "tsmfpga compile",
            "rtl/manifest.json": "tsmfpga compile (with the rtl step)"}
    for rel, what in need.items():
        if not (d / rel).is_file():
            raise UserFacingError(f"{d / rel} not found: run `{what}` into {d} first")
    report = json.loads((d / "report.json").read_text())
    manifest = json.loads((d / "rtl" / "manifest.json").read_text())
    return ModelWrapper(str(d / "model_hw.onnx")), report, manifest


def _codes(cfg: SimConfig, report: dict, golden, hw_input: HwInput, frames: int, is_clip: bool):
    """Integer input codes (N, T, C, H, W) / (N, 1, C, H, W) and labels (or None)."""
    shape = tuple(golden.get_tensor_shape(golden.graph.input[0].name)[1:])
    src = cfg.inputs
    if src is None:
        p = Path(str(report.get("python_exec", {}).get("inputs", "")))
        src = p if p.suffix == ".npy" and p.is_file() else None
    labels = None
    if src is not None:
        codes = load_codes(src, (frames, *shape) if is_clip else shape)
        lab = cfg.labels or src.with_name("test_labels.npy")
        if lab.is_file():
            labels = np.load(lab).astype(np.int64)
            if len(labels) != len(codes):
                raise UserFacingError(f"labels {lab}: {len(labels)} labels for {len(codes)} clips")
        elif cfg.labels:
            raise UserFacingError(f"--labels {cfg.labels} does not exist")
        n = cfg.clips or len(codes)
        origin = str(src)
    else:
        n = cfg.clips or 8
        rng = np.random.default_rng(cfg.seed)
        lo = 0 if hw_input.code_min is None else int(hw_input.code_min)
        hi = 255 if hw_input.code_max is None else int(hw_input.code_max)
        codes = rng.integers(lo, hi + 1, size=(n, frames, *shape) if is_clip else (n, *shape))
        origin = f"random integer codes {lo}..{hi} (seed {cfg.seed})"
    codes = codes[:n].astype(np.int64)
    if not is_clip:
        codes = codes[:, None]
    return codes, (labels[:n] if labels is not None else None), origin


#: fewest frames a run streams (short clip sets are repeated): the interval is measured on the
#: second half of the frame starts and the steady latency needs the pipeline filled first
MIN_TIMING_FRAMES = 24
#: fewest frames one simulator process of the main run streams (its interval is measured on the
#: second half of its own frames)
MIN_SHARD_FRAMES = 16


def _stats(values) -> dict:
    a = np.asarray(values, dtype=np.int64)
    return {"min": int(a.min()), "max": int(a.max()), "mean": float(a.mean())} if a.size else {}


def run_sim(cfg: SimConfig, log=print) -> dict:
    """Simulate, compare, measure; the report lists every failed check under ``failures``
    (the command fails when it is not empty)."""
    t_start = time.time()
    model, report, manifest = _load(cfg)
    served = (manifest.get("streams") or {}).get("streams", 1)
    if cfg.streams is not None and cfg.streams > served:   # before any simulation
        raise UserFacingError(f"--streams {cfg.streams}: the design serves {served} stream(s); "
                              f"compile with --streams {cfg.streams} (or more)")
    golden = load_model(Path(report["model"]))
    is_clip = is_step_graph(golden)
    frames = json.loads(golden.get_metadata_prop("tsmfpga.frames") or "8") if is_clip else 1
    hw_input = get_meta(model, "tsmfpga.hw_input") or HwInput()
    codes, labels, origin = _codes(cfg, report, golden, hw_input, frames, is_clip)
    n_req = codes.shape[0]   # the clips asked for (outputs, golden and accuracy are about them)
    if 0 < codes.shape[0] * codes.shape[1] < MIN_TIMING_FRAMES:
        # a few short clips cannot show the interval or a steady latency: repeat them
        reps = -(-MIN_TIMING_FRAMES // (codes.shape[0] * codes.shape[1]))
        codes = np.concatenate([codes] * reps)
        labels = np.concatenate([labels] * reps) if labels is not None else None
        origin += (f" (the {codes.shape[0] // reps} clip(s) repeated x{reps}: interval and steady latency need "
                   f">= {MIN_TIMING_FRAMES} frames)")
    n_clips, t_frames = codes.shape[:2]
    core = hw_core(model)
    o_info = manifest["output"]

    def hw_frame(f):  # golden layout (C, H, W) -> HW graph input (1, H, W, C)
        return to_nhwc(f, hw_input.layout)

    # expected: the integer HW graph executed in Python, clip by clip with state
    log(f"[sim] Python execution of the HW graph on {n_clips} clip(s) x {t_frames} frame(s) ...")
    stages: dict[str, float] = {}
    t0 = time.time()
    expected = run_clips(core, codes, prepare=hw_frame).astype(np.int64)
    t_pyexec = stages["python_exec"] = round(time.time() - t0, 2)
    # stimulus: frames in the HW layout, clip start on each clip's first frame
    flat = np.stack([hw_frame(f).reshape(-1) for clip in codes for f in clip]).astype(np.int64)
    starts = clip_starts(n_clips, t_frames)
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "report.json").unlink(missing_ok=True)
    exe = harness.build(cfg.build_dir / "rtl", manifest, cfg.out, cfg.simulator, log=log, cache_dir=cfg.build_cache)
    build_info = harness.build.last
    stages["build"] = build_info.seconds
    rtl = (cfg.build_dir / "rtl").resolve()
    log(f"[sim] {cfg.simulator}: {len(flat)} frames ...")
    # generous cycle budget: every frame at 4x the folding's interval, slowed by the random
    # valid/ready duty; running out of it means deadlock (or a far too slow design)
    ideal = report.get("ideal_ii_cycles") or 4 * manifest["input"]["frame_beats"]
    duty = (cfg.burst[0] / (cfg.burst[0] + cfg.burst[1])) if cfg.burst[0] else 1.0
    budget = int(n_clips * t_frames * ideal * 4 * (256 / cfg.p_valid) * (256 / cfg.p_ready) / duty ** 2) + 1_000_000
    n_frames = n_clips * t_frames
    shards = max(1, min(cfg.shards or os.cpu_count() or 1, n_clips, n_frames // MIN_SHARD_FRAMES))
    if shards > 1:
        log(f"[sim] main run split over {shards} simulator processes (whole clips each) ...")
    got, run = harness.stream_shards(exe, rtl, cfg.out, manifest, flat, starts, shards, simulator=cfg.simulator,
                                     seed=cfg.seed + 1, p_valid=cfg.p_valid, p_ready=cfg.p_ready,
                                     max_cycles=budget, burst=cfg.burst)
    stages["main_run"] = round(run.wall_s, 2)
    failures: list[str] = []

    def check(name, values, r, clips=None):
        """Compare one run's outputs with the HW graph (its first ``clips`` clips, default all);
        record every failed check by run."""
        exp = expected[:clips] if clips is not None else expected
        full = np.full(exp.size, np.iinfo(np.int64).min, dtype=np.int64)
        full[: min(values.size, exp.size)] = values[: exp.size]
        full = full.reshape(exp.shape)
        bad = np.argwhere(full != exp)
        n_bad = int(len(bad)) + max(0, values.size - exp.size)
        if n_bad:
            failures.append(f"{name} run: {n_bad} of {exp.size} values differ from the HW graph")
        if r.timeout:
            failures.append(f"{name} run: timeout after {r.cycles} cycles (deadlock or far too slow)")
        if r.bad_tlast:
            failures.append(f"{name} run: m_axis_tlast not on the last beat of every frame")
        if r.status_error:
            failures.append(f"{name} run: status_error (a clip-start flag was lost)")
        return full, n_bad, bad

    got_full, mismatches, bad = check("main", got, run)
    traces = [{"clip": int(c), "frame": int(t), "index": int(i), "rtl": int(got_full[c, t, i]),
               "expected": int(expected[c, t, i])} for c, t, i in bad[:20]]
    # the interval is the rate frames leave the pipeline (input starts can run ahead while FIFOs
    # fill), measured on the second half of the back-to-back frames of each simulator process
    steady = []
    for a, n in run.segments or [(0, n_frames)]:
        ends_out = [run.out_end[f] for f in range(a, a + n) if f in run.out_end]
        steady += list(np.diff(ends_out)[len(ends_out) // 2:] if len(ends_out) > 2 else np.diff(ends_out))
    steady = np.asarray(steady, np.int64)
    ii = float(np.mean(steady)) if len(steady) else None
    lat, lat_iso, warmup, period = [], [], [], 0
    # every frame of the main run has its latency measured (back to back: FIFOs fill, so it grows)
    lat_b2b = [run.out_end[f] - run.in_start[f] for f in range(n_frames) if f in run.out_end and f in run.in_start]
    lat_runs = {}
    if cfg.p_valid == 256 and cfg.p_ready == 256 and not cfg.burst[0] and len(steady):
        # latency as a camera sees it: frames offered at the measured interval, no backpressure;
        # on as many whole clips as the measurement needs (tsmfpga.sim.latency), not all of them
        period = int(np.max(steady))
        plan = {"steady": steady_clips(lat_b2b, period, t_frames, n_clips), "isolated": isolated_clips(t_frames, n_clips)}
        for name in ("steady", "isolated"):
            # isolated: one frame in flight at a time (period > the steady latency)
            p = period if name == "steady" else (int(max(lat) + period) if lat else 4 * period)
            t_run, retried = time.time(), False
            while True:
                nc = plan[name]
                nf = nc * t_frames
                log(f"[sim] latency run ({name}): {nc} clip(s), frames offered every {p} cycles ...")
                values, r = harness.stream(exe, rtl, cfg.out, manifest, flat[:nf], starts[:nf], simulator=cfg.simulator,
                                           seed=cfg.seed + 1, period=p, max_cycles=nf * (p + ideal) * 4 + 1_000_000)
                per = [r.out_end[f] - r.in_start[f] for f in range(nf) if f in r.out_end and f in r.in_start]
                if name == "steady":
                    fill, steady_ok, bound = split_warmup(per, period)
                    if not steady_ok and nc < n_clips:   # not settled yet: all clips, as before
                        log(f"[sim] latency not settled within {nf} frames: again on all {n_clips} clips")
                        plan[name], retried = n_clips, True
                        continue
                break
            mismatches += check(f"latency ({name})", values, r, nc)[1]
            lat_runs[name] = {"clips": nc, "frames": nf, "period_cycles": p, "retried_on_all_clips": retried,
                              "wall_s": round(r.wall_s, 2)}
            stages[f"latency_{name}"] = round(time.time() - t_run, 2)
            if name == "steady":
                warmup, lat = per[:fill], per[fill:]
                if not steady_ok:
                    failures.append(f"latency is not fixed in steady state: the last {len(lat)} of {len(per)} "
                                    f"frames keep one value, the first {fill} differ (allowed: at most {bound} "
                                    "warm-up frames and at least half the frames steady)")
            else:
                lat_iso = per
    else:
        lat = lat_b2b
    x_prop = None
    t_stage = time.time()
    if cfg.x_seeds:
        if cfg.simulator != "verilator":
            raise UserFacingError("--x-seeds needs --simulator verilator (random initial values)")
        exe_x = harness.build(cfg.build_dir / "rtl", manifest, cfg.out, "verilator", log=log, x_unique=True,
                              cache_dir=cfg.build_cache)
        per_seed = {}
        for seed in range(1, cfg.x_seeds + 1):
            log(f"[sim] X propagation: random initial values, seed {seed} ...")
            values, r = harness.stream(exe_x, rtl, cfg.out, manifest, flat, starts, x_seed=seed,
                                       seed=cfg.seed + 1, p_valid=cfg.p_valid, p_ready=cfg.p_ready,
                                       max_cycles=budget)
            per_seed[seed] = check(f"X seed {seed}", values, r)[1]
        x_prop = {"seeds": list(per_seed), "mismatches_per_seed": per_seed,
                  "identical": not any(per_seed.values()),
                  "build": f"verilator {' '.join(harness.X_UNIQUE_FLAGS)}; run +verilator+seed+N "
                           "+verilator+rand+reset+2 (every uninitialised variable random)",
                  "compared": "every output value vs the integer HW graph (= the main run when it passes)"}
        stages["x_propagation"] = round(time.time() - t_stage, 2)
    taps = None
    t_stage = time.time()
    if cfg.taps:
        log(f"[sim] layer taps: clip 0 ({t_frames} frames), every inter-layer stream ...")
        clip0 = [hw_frame(f) for f in codes[0]]
        _, r = harness.stream(exe, rtl, cfg.out, manifest, flat[:t_frames], starts[:t_frames],
                              simulator=cfg.simulator, seed=cfg.seed + 1, taps=True)
        taps = compare_taps(core, manifest, clip0, r.taps or {})
        d = taps["first_divergence"]
        if d is not None:
            failures.append(f"taps: first divergence at layer {d['producer']} (tensor {d['tensor']}) "
                            f"frame {d['frame']} beat {d['beat']}: rtl {d['rtl']} vs expected {d['expected']}")
        stages["taps"] = round(time.time() - t_stage, 2)
    streams = None
    t_stage = time.time()
    n_cams = cfg.streams or (manifest.get("streams") or {}).get("streams", 1)
    if n_cams > 1 or manifest.get("streams"):
        streams = run_streams_sim(exe, rtl, cfg.out, manifest, core, codes, hw_frame, n_cams,
                                  simulator=cfg.simulator, seed=cfg.seed, p_valid=cfg.p_valid,
                                  p_ready=cfg.p_ready, ideal=ideal, split_warmup=split_warmup, log=log)
        failures += streams["failures"]
        stages["streams"] = round(time.time() - t_stage, 2)
    folding = report.get("ideal_ii_cycles")
    clock = float(report.get("clock_mhz") or 100.0)
    got_full, expected, codes = got_full[:n_req], expected[:n_req], codes[:n_req]
    labels = labels[:n_req] if labels is not None else None
    np.save(cfg.out / "outputs.npy", got_full)
    # host side: output scale/bias, clip consensus, accuracy
    pp = output_affine(model)
    logits = apply_output_affine(model, got_full)
    np.save(cfg.out / "logits.npy", logits)
    accuracy, golden_cmp = None, None
    t_stage = time.time()
    if cfg.golden:
        log("[sim] QONNX golden (float64) on the same clips ...")
        g_logits = run_clips(float64_golden(golden), codes, prepare=lambda f: dequantize(f, hw_input.scale, hw_input.zero_point)[None])
        g_logits = g_logits.astype(np.float64)
        exp_logits = apply_output_affine(model, expected)
        implied = (g_logits - (pp[1] if pp else 0.0)) / (pp[0] if pp else 1.0)
        flips = int(np.sum(np.round(implied).astype(np.int64) != expected))
        if flips:
            failures.append(f"HW graph vs QONNX golden: {flips} of {expected.size} values differ")
        golden_cmp = {"hw_graph_vs_qonnx_mismatches": flips, "max_abs_logit_diff":
                      float(np.abs(g_logits - exp_logits).max()),
                      "source": "python_exec vs QONNX golden executed in float64"}
        if labels is not None:
            def acc(lg):
                return float(np.mean(lg.mean(axis=1).argmax(axis=-1) == labels))
            f_logits, f_note = _float_logits(Path(report["model"]), codes, g_logits.shape[-1])
            accuracy = {"hw": acc(logits), "quant": acc(g_logits),
                        "float": acc(f_logits) if f_logits is not None else None, "float_note": f_note,
                        "clips": int(n_req), "labels": "clip consensus (mean of per-frame logits), top-1",
                        "source": "rtl_sim (hw), qonnx (quant), torch (float)"}
        stages["golden"] = round(time.time() - t_stage, 2)
    stages["total"] = round(time.time() - t_start, 2)
    result = {
        "stage": "sim",
        "source": "rtl_sim",
        "simulator": cfg.simulator,
        "passed": not failures,
        "failures": failures,
        "bit_exact": bool(mismatches == 0 and not run.timeout),
        "mismatches": mismatches,
        "values": int(expected.size),
        "frames": int(n_frames),
        "clips": int(n_clips),
        "complete": not any("timeout" in f for f in failures),
        "runs": 2 if period else 1,
        "timeout": run.timeout,
        "tlast_ok": not run.bad_tlast,
        "status_error": run.status_error,
        "inputs": origin,
        "compared": "RTL integer outputs vs the integer HW graph executed in Python (every value)",
        "traces": traces,
        "latency_cycles": {**_stats(lat), "per_frame": lat,
                           "definition": "first input beat of a frame to its last output beat",
                           "frame_period_cycles": period or None,
                           "conditions": (f"steady state: frames offered every {period} cycles (the measured "
                                          "interval), no output backpressure. Warm-up frames (listed apart) are "
                                          "derived from the measured sequence: the frames before the latency "
                                          "reached the value it keeps to the end; they met a pipeline still "
                                          "filling. They must end within ceil(L/P)+1 frames or rise "
                                          "monotonically to the steady value (FIFOs filling), and leave at least "
                                          "half the frames steady, else the sim fails (latency not fixed)")
                                         if period else
                                         "back-to-back frames with the configured random valid/ready "
                                         "(and burst pattern): a distribution, not a fixed latency",
                           "percentiles": ({f"p{q}": float(np.percentile(lat, q)) for q in (0, 50, 90, 99, 100)}
                                           if lat and not period else None),
                           "warmup_frames": warmup,
                           "back_to_back": {**_stats(lat_b2b), "per_frame": lat_b2b,
                                            "conditions": "main run: every clip back to back (FIFOs fill, "
                                                          "so it grows); measured on every frame"}
                           if lat_b2b and period else None,
                           "runs": lat_runs or None,
                           "steady_frames": [len(warmup), len(warmup) + len(lat) - 1] if lat else None,
                           "isolated": {**_stats(lat_iso), "conditions": "one frame in flight at a time"}
                           if lat_iso else None},
        "latency_us": (float(np.max(lat)) / clock if lat else None),
        "ii_cycles": ii,
        "ideal_ii_cycles": folding,
        "efficiency": (float(folding) / ii if ii and folding else None),
        "clock_mhz": clock,
        "fps": (clock * 1e6 / ii if ii else None),
        "backpressure": {"p_valid": cfg.p_valid / 256, "p_ready": cfg.p_ready / 256, "seed": cfg.seed + 1,
                         "burst_on_off_cycles": list(cfg.burst) if cfg.burst[0] else None},
        "golden": golden_cmp,
        "taps": taps,
        "x_propagation": x_prop,
        "streams": streams,
        "accuracy": accuracy,
        "sim_wall_s": round(run.wall_s, 2),
        "sim_speed_fps": round(n_frames / run.wall_s, 2) if run.wall_s else None,
        "sim_processes": len(run.segments or [None]),
        "sim_cycles": run.cycles,
        "python_exec_s": round(t_pyexec, 2),
        "seconds": round(time.time() - t_start, 1),
        "stage_seconds": stages,
        "build": {"simulator": cfg.simulator, "cached": build_info.cached, "seconds": build_info.seconds,
                  "key": build_info.key, "dir": build_info.dir, "threads": build_info.threads,
                  "jobs": build_info.jobs, "notes": harness.BUILD_NOTES},
        "units": {"stage_seconds": "s wall clock per stage (build: 0.x s when cached)","latency_cycles": "clock cycles (rtl_sim)", "ii_cycles": "clock cycles per frame (rtl_sim)",
                  "ideal_ii_cycles": "clock cycles per frame (analytical, from the folding)",
                  "fps": "frames/s at clock_mhz (rtl_sim)", "latency_us": "microseconds at clock_mhz (rtl_sim)",
                  "sim_speed_fps": "simulated frames per wall-clock second on this machine (main run, "
                                   "sim_processes simulator processes at once, whole clips each)"},
    }
    tmp = cfg.out / "report.json.tmp"
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, cfg.out / "report.json")
    return result


def _float_logits(model_path: Path, codes: np.ndarray, classes: int):
    """Per-frame logits of the float TSM the QAT stage trained (its last checkpoint) on the same
    clips, or (None, why not)."""
    import dataclasses

    qat = model_path.parent
    if not (qat / "report.json").is_file() or not (qat / "ckpt").is_dir():
        return None, f"no QAT run next to {model_path} (report.json + ckpt/): float model unavailable"
    try:
        import torch

        from tsmfpga.quant.config import QATConfig, from_dict
        from tsmfpga.quant.nets import make_net
        from tsmfpga.quant.train import latest_checkpoint, predict

        rep = json.loads((qat / "report.json").read_text())
        cfg = from_dict(QATConfig, rep["config"])
        found = latest_checkpoint(qat / "ckpt", "tsm_float")
        if found is None or len(rep["data"]["class_names"]) != classes:
            return None, "the QAT run's float TSM does not match this model (alarm model or other classes)"
        mcfg = dataclasses.replace(cfg.model, num_classes=classes, in_channels=codes.shape[2])
        net = make_net(mcfg, "tsm", quantized=False)
        net.load_state_dict(torch.load(found[1], map_location="cpu", weights_only=False)["model"])
        return predict(net, codes.astype(np.uint8), desc="float TSM"), \
            f"float TSM from {found[1]} (torch, same clips)"
    except Exception as exc:  # the float model is a bonus figure: say why it is missing
        return None, f"float model could not be evaluated: {type(exc).__name__}: {exc}"
