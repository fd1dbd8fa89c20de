"""`tsmfpga sim --streams N`: many cameras through one multi-stream accelerator.

A seeded random schedule of whole frames: N cameras, each a sequence of clips of random length
(1..T frames, cut at a random offset from the input clips) with a clip start on each clip's first
frame; cameras are interleaved in random order, frame by frame, with random idle stretches (a
camera absent from the stream for a while, the others filling the pipeline). The golden is N
*independent* runs: each camera's own clips through the integer HW graph in Python
(:func:`tsmfpga.core.clip.run_clip`, state threaded frame to frame, cleared at each clip start);
every simulated output frame must equal its camera's golden bit for bit and carry its camera on
``m_axis_tdest``. Runs: back to back under the configured random valid/ready (backpressure), and
without backpressure frames paced at the measured interval, where the latency of every steady-state
frame must be the same whichever camera came before it (reported by "same / other camera before").
Every figure is ``rtl_sim``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsmfpga.core.clip import run_clip
from tsmfpga.core.executor import executor
from tsmfpga.core.errors import UserFacingError
from tsmfpga.sim import harness


@dataclass
class Schedule:
    """Frames in accelerator order: camera, clip start, and where each frame came from."""

    camera: np.ndarray        # (F,) camera of each frame
    start: np.ndarray         # (F,) 1 on the first frame of a camera's clip
    source: np.ndarray        # (F, 2) (input clip, frame) the frame's codes come from
    clip_lengths: dict        # camera -> list of its clip lengths


def make_schedule(n_cameras: int, n_frames: int, n_clips: int, t_frames: int, seed: int) -> Schedule:
    """A seeded random schedule of at least ``n_frames`` frames over ``n_cameras`` cameras (each
    camera gets at least one clip, so up to ``n_cameras * t_frames`` frames); source frames are
    drawn from ``n_clips`` input clips of ``t_frames``."""
    if n_cameras < 1:
        raise UserFacingError(f"--streams {n_cameras}: must be >= 1")
    rng = np.random.default_rng(seed)
    per_cam: dict[int, list[tuple[int, int, int]]] = {c: [] for c in range(n_cameras)}  # (start, clip, frame)
    lengths: dict[int, list[int]] = {c: [] for c in range(n_cameras)}
    target = max(n_frames, n_cameras)
    cams = list(range(n_cameras)) + list(rng.integers(0, n_cameras, size=target))  # every camera once
    total = 0
    for n, c in enumerate(cams):
        if total >= target and n >= n_cameras:   # every camera has had one clip
            break
        length = int(rng.integers(1, t_frames + 1))
        clip, off = int(rng.integers(0, n_clips)), int(rng.integers(0, t_frames - length + 1))
        per_cam[int(c)] += [(int(k == 0), clip, off + k) for k in range(length)]
        lengths[int(c)].append(length)
        total += length
    # interleave: pick a random camera with frames left; sometimes a camera goes idle for a while
    queues = {c: list(v) for c, v in per_cam.items() if v}
    idle_until = {c: 0 for c in queues}
    order = []
    step = 0
    while queues:
        ready = [c for c in queues if idle_until[c] <= step] or list(queues)
        c = int(rng.choice(ready))
        order.append((c, *queues[c].pop(0)))
        if not queues[c]:
            del queues[c]
        elif rng.random() < 0.15:           # this camera pauses (a gap in its stream)
            idle_until[c] = step + int(rng.integers(2, 2 + 2 * n_cameras))
        step += 1
    a = np.array(order, dtype=np.int64)
    return Schedule(a[:, 0], a[:, 1], a[:, 2:4], lengths)


def independent_golden(core, codes: np.ndarray, sched: Schedule, prepare) -> np.ndarray:
    """Expected output per scheduled frame from N independent runs: each camera's clips alone
    through the HW graph (:func:`run_clip`), in that camera's own order. A clip's outputs depend
    only on its source frames, so camera clips cut from the same input clip at the same offset
    share one run (the longest needed; shorter clips take its prefix)."""
    out = [None] * len(sched.camera)
    clips_of = []
    for cam in np.unique(sched.camera):
        idx = np.flatnonzero(sched.camera == cam)
        clips, cur = [], []
        for i in idx:
            if sched.start[i] and cur:
                clips.append(cur)
                cur = []
            cur.append(i)
        clips.append(cur)
        clips_of += clips
    need: dict[tuple[int, int], int] = {}
    for clip in clips_of:
        key = (int(sched.source[clip[0], 0]), int(sched.source[clip[0], 1]))
        need[key] = max(need.get(key, 0), len(clip))
    core = executor(core)
    runs = {(c, off): [np.asarray(y).reshape(-1) for y in
                       run_clip(core, [prepare(codes[c, off + k]) for k in range(n)])]
            for (c, off), n in sorted(need.items())}
    for clip in clips_of:
        ys = runs[(int(sched.source[clip[0], 0]), int(sched.source[clip[0], 1]))]
        for k, i in enumerate(clip):
            out[i] = ys[k]
    return np.stack(out).astype(np.int64)


def run_streams_sim(exe, rtl, work, manifest: dict, core, codes: np.ndarray, prepare, n_cameras: int,
                    *, simulator: str, seed: int, p_valid: int, p_ready: int, ideal: int, split_warmup,
                    log=print) -> dict:
    """The multi-camera regression (see the module doc); returns the report part ``streams``
    with its ``failures`` (empty when everything passed). ``split_warmup``: the single-stream
    sim's warm-up rule (:func:`tsmfpga.sim.fullsim.split_warmup`), applied to the paced run."""
    design = (manifest.get("streams") or {}).get("streams", 1)
    if n_cameras > design:
        raise UserFacingError(f"--streams {n_cameras}: the design serves {design} stream(s); "
                              f"compile with --streams {n_cameras} (or more)")
    n_clips, t_frames = codes.shape[:2]
    sched = make_schedule(n_cameras, n_clips * t_frames, n_clips, t_frames, seed)
    n = len(sched.camera)
    log(f"[sim] streams: {n} frames of {n_cameras} cameras in a random schedule (seed {seed}); "
        f"{n_cameras} independent golden runs ...")
    expected = independent_golden(core, codes, sched, prepare)
    flat = np.stack([prepare(codes[c, f]).reshape(-1) for c, f in sched.source]).astype(np.int64)
    failures: list[str] = []

    def check(name: str, r, values) -> int:
        got = np.full(expected.size, np.iinfo(np.int64).min, np.int64)
        got[: min(values.size, expected.size)] = values[: expected.size]
        bad = int(np.sum(got.reshape(expected.shape) != expected)) + max(0, values.size - expected.size)
        if bad:
            rows = np.flatnonzero((got.reshape(expected.shape) != expected).any(axis=1))
            failures.append(f"streams {name} run: {bad} of {expected.size} values differ from the cameras' "
                            f"independent goldens (first frame {int(rows[0])}, camera {int(sched.camera[rows[0]])})")
        dest = [r.out_dest.get(f) for f in range(n)] if r.out_dest is not None else []
        wrong = [f for f in range(n) if f < len(dest) and dest[f] is not None and dest[f] != sched.camera[f]]
        if r.out_dest is None or len([d for d in dest if d is not None]) < n or wrong:
            failures.append(f"streams {name} run: m_axis_tdest wrong or missing on {len(wrong) or 'some'} "
                            "output frame(s)")
        if r.bad_tdest:
            failures.append(f"streams {name} run: m_axis_tdest changed inside an output frame")
        if r.timeout or r.bad_tlast or r.status_error:
            failures.append(f"streams {name} run: timeout={r.timeout} bad_tlast={r.bad_tlast} "
                            f"status_error={r.status_error}")
        return bad

    budget = int(n * ideal * 4 * (256 / p_valid) * (256 / p_ready)) + 1_000_000
    log(f"[sim] streams: back to back, p_valid {p_valid}/256, p_ready {p_ready}/256 ...")
    values, r = harness.stream(exe, rtl, work, manifest, flat, sched.start, stream_ids=sched.camera,
                               simulator=simulator, seed=seed + 1, p_valid=p_valid, p_ready=p_ready,
                               max_cycles=budget)
    mismatches = check("back-to-back", r, values)
    starts = [r.in_start[f] for f in range(n) if f in r.in_start]
    steady = np.diff(starts)[len(starts) // 2:] if len(starts) > 2 else np.diff(starts)
    ii = float(np.mean(steady)) if len(steady) else None
    lat, warm, by_prev = [], [], {}
    period = 0
    if p_valid == 256 and p_ready == 256 and ii:
        period = int(np.max(steady))
        log(f"[sim] streams: latency run, frames offered every {period} cycles ...")
        values, r2 = harness.stream(exe, rtl, work, manifest, flat, sched.start, stream_ids=sched.camera,
                                    simulator=simulator, seed=seed + 1, period=period,
                                    max_cycles=n * (period + ideal) * 4 + 1_000_000)
        mismatches += check("latency", r2, values)
        per = [r2.out_end[f] - r2.in_start[f] for f in range(n) if f in r2.out_end and f in r2.in_start]
        fill, ok, bound = split_warmup(per, period)
        warm, lat = per[:fill], per[fill:]
        for f in range(fill + 1, len(per)):
            key = "same camera before" if sched.camera[f - 1] == sched.camera[f] else "other camera before"
            by_prev.setdefault(key, set()).add(per[f])
        if not ok or (lat and max(lat) != min(lat)):
            failures.append(f"streams: latency not fixed across cameras: steady frames {min(lat or [0])}.."
                            f"{max(lat or [0])} cycles, {fill} warm-up frames (bound {bound})")
    return {
        "source": "rtl_sim",
        "cameras": int(n_cameras),
        "design_streams": int(design),
        "frames": int(n),
        "values": int(expected.size),
        "mismatches": int(mismatches),
        "bit_exact": mismatches == 0,
        "seed": int(seed),
        "schedule": {"frames_per_camera": {int(c): int(np.sum(sched.camera == c)) for c in range(n_cameras)},
                     "clips_per_camera": {int(c): len(v) for c, v in sched.clip_lengths.items()},
                     "clip_lengths": sorted({x for v in sched.clip_lengths.values() for x in v}),
                     "camera_switches": int(np.sum(sched.camera[1:] != sched.camera[:-1])),
                     "order": "random camera per frame, random clip lengths 1..T and clip starts per camera, "
                              "cameras idle for random stretches"},
        "golden": "each camera's clips alone through the integer HW graph (run_clip), N independent runs",
        "backpressure": {"p_valid": p_valid / 256, "p_ready": p_ready / 256},
        "ii_cycles": ii,
        "latency_cycles": ({"min": int(min(lat)), "max": int(max(lat)), "steady_frames": len(lat),
                            "warmup_frames": warm, "frame_period_cycles": period,
                            "by_previous_camera": {k: sorted(int(x) for x in v) for k, v in by_prev.items()}}
                           if lat else None),
        "failures": failures,
    }
