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

from tsmfpga.core.errors import UserFacingError
from tsmfpga.sim import harness


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
    #: output folder (default DIR/sim)
    out: Path | None = None

    def __post_init__(self):
        self.build_dir = Path(self.build_dir)
        self.out = Path(self.out) if self.out else self.build_dir / "sim"
        for name in ("inputs", "labels"):
            v = getattr(self, name)
            setattr(self, name, Path(v) if v is not None else None)
        if self.simulator not in ("verilator", "icarus"):
            raise UserFacingError(f"--simulator {self.simulator!r}: use verilator or icarus")
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


def _codes(cfg: SimConfig, report: dict, golden, frames: int, is_clip: bool):
    """Integer input codes (N, T, C, H, W) / (N, C, H, W) and labels (or None)."""
    shape = tuple(golden.get_tensor_shape(golden.graph.input[0].name)[1:])
    src = cfg.inputs
    if src is None:
        p = Path(str(report.get("python_exec", {}).get("inputs", "")))
        src = p if p.suffix == ".npy" and p.is_file() else None
    labels = None
    if src is not None:
        try:
            codes = np.load(src)
        except (OSError, ValueError) as exc:
            raise UserFacingError(f"--inputs {src}: not a readable .npy file ({exc})") from None
        want = (frames, *shape) if is_clip else shape
        if codes.ndim != len(want) + 1 or tuple(codes.shape[1:]) != tuple(want):
            raise UserFacingError(f"--inputs {src}: shape {codes.shape}, expected (N, "
                                  f"{', '.join(map(str, want))}) integer codes")
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
        lo, hi = 0, 255
        codes = rng.integers(lo, hi + 1, size=(n, frames, *shape) if is_clip else (n, *shape))
        origin = f"random integer codes 0..255 (seed {cfg.seed})"
    codes = codes[:n].astype(np.int64)
    if not is_clip:
        codes = codes[:, None]
    return codes, (labels[:n] if labels is not None else None), origin


def _stats(values) -> dict:
    a = np.asarray(values, dtype=np.int64)
    return {"min": int(a.min()), "max": int(a.max()), "mean": float(a.mean())} if a.size else {}


def run_sim(cfg: SimConfig, log=print) -> dict:
    from tsmfpga.flow.compile import load_model
    from tsmfpga.flow.transforms.tsm_frontend import run_hw_clip, split_postproc
    from tsmfpga.flow.verify import _postproc

    t_start = time.time()
    model, report, manifest = _load(cfg)
    golden = load_model(Path(report["model"]))
    is_clip = len(golden.graph.input) > 1
    frames = json.loads(golden.get_metadata_prop("tsmfpga.frames") or "8") if is_clip else 1
    codes, labels, origin = _codes(cfg, report, golden, frames, is_clip)
    n_clips, t_frames = codes.shape[:2]
    core, _ = split_postproc(model)
    meta = json.loads(model.get_metadata_prop("tsmfpga.hw_input") or "{}")
    nhwc = meta.get("layout") == "NHWC"
    i_info, o_info = manifest["input"], manifest["output"]
    out_dt = core.get_tensor_datatype(core.graph.output[0].name)

    def hw_frame(f):  # golden layout (C, H, W) -> HW graph input (1, H, W, C)
        x = f.astype(np.float32)[None]
        return x.transpose(0, 2, 3, 1) if nhwc and x.ndim == 4 else x

    # expected: the integer HW graph executed in Python, clip by clip with state
    log(f"[sim] Python execution of the HW graph on {n_clips} clip(s) x {t_frames} frame(s) ...")
    t0 = time.time()
    expected = np.stack([np.stack([np.asarray(o).reshape(-1) for o in run_hw_clip(core, [hw_frame(f) for f in clip])])
                         for clip in codes]).astype(np.int64)
    t_pyexec = time.time() - t0
    # stimulus: NHWC frames flattened, cut into beats; tuser on each clip's first beat
    flat = np.stack([hw_frame(f).reshape(-1) for clip in codes for f in clip]).astype(np.int64)
    words = harness.pack_beats(flat, i_info["lanes"], i_info["elem_bits"]).reshape(-1)
    users = np.zeros(len(words), dtype=np.int64)
    users[:: i_info["frame_beats"] * t_frames] = 1
    n_out = n_clips * t_frames * o_info["frame_beats"]
    cfg.out.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json",):
        (cfg.out / stale).unlink(missing_ok=True)
    exe = harness.build(cfg.build_dir / "rtl", manifest, cfg.out, cfg.simulator, log=log)
    log(f"[sim] {cfg.simulator}: {len(words)} input beats, {n_clips * t_frames} frames ...")
    # generous cycle budget: every frame at 4x the folding's interval, slowed by the random
    # valid/ready duty; running out of it means deadlock (or a far too slow design)
    ideal = report.get("ideal_ii_cycles") or 4 * i_info["frame_beats"]
    budget = int(n_clips * t_frames * ideal * 4 * (256 / cfg.p_valid) * (256 / cfg.p_ready)) + 1_000_000
    run = harness.run(exe, (cfg.build_dir / "rtl").resolve(), cfg.out, words, users, i_info["width"], n_out,
                      simulator=cfg.simulator, seed=cfg.seed + 1, p_valid=cfg.p_valid, p_ready=cfg.p_ready,
                      max_cycles=budget)
    n_frames = n_clips * t_frames

    def check(r):
        got = harness.unpack_beats(r.outputs, o_info["lanes"], o_info["elem_bits"], out_dt.signed())
        full = np.full(expected.size, np.iinfo(np.int64).min, dtype=np.int64)
        full[: min(got.size, expected.size)] = got[: expected.size]
        full = full.reshape(expected.shape)
        bad = np.argwhere(full != expected)
        return full, int(len(bad)) + max(0, got.size - expected.size), bad, got.size == expected.size

    got_full, mismatches, bad, complete = check(run)
    traces = [{"clip": int(c), "frame": int(t), "index": int(i), "rtl": int(got_full[c, t, i]),
               "expected": int(expected[c, t, i])} for c, t, i in bad[:20]]
    starts = [run.in_start[f] for f in range(n_frames) if f in run.in_start]
    steady = np.diff(starts)[len(starts) // 2:] if len(starts) > 2 else np.diff(starts)
    ii = float(np.mean(steady)) if len(steady) else None
    lat, lat_iso, warmup, period = [], [], [], 0
    if cfg.p_valid == 256 and cfg.p_ready == 256 and len(steady):
        # latency as a camera sees it: frames offered at the measured interval, no backpressure
        period = int(np.max(steady))
        runs = {}
        for name, p in (("steady", period), ("isolated", None)):
            if p is None:  # one frame in flight at a time: period > the steady latency
                p = int(max(lat) + period) if lat else 4 * period
            log(f"[sim] latency run ({name}): frames offered every {p} cycles ...")
            r = harness.run(exe, (cfg.build_dir / "rtl").resolve(), cfg.out, words, users, i_info["width"],
                            n_out, simulator=cfg.simulator, seed=cfg.seed + 1, period=p,
                            max_cycles=n_clips * t_frames * (p + ideal) * 4 + 1_000_000)
            _, m2, _, c2 = check(r)
            mismatches += m2
            complete = complete and c2 and not r.timeout
            per = [r.out_end[f] - r.in_start[f] for f in range(n_frames) if f in r.out_end and f in r.in_start]
            runs[name] = per
            if name == "steady":
                # the first frames meet an empty pipeline (frames in flight = latency / period)
                fill = min(len(per) - 1, -(-max(per) // period) - 1) if per else 0
                warmup, lat = per[:fill], per[fill:]
            else:
                lat_iso = per
    else:
        lat = [run.out_end[f] - run.in_start[f] for f in range(n_frames) if f in run.out_end and f in run.in_start]
    folding = report.get("ideal_ii_cycles")
    clock = float(report.get("clock_mhz") or 100.0)
    np.save(cfg.out / "outputs.npy", got_full)
    # host side: output scale/bias, clip consensus, accuracy
    pp = _postproc(model)
    logits = got_full.astype(np.float64) * (pp[0] if pp else 1.0) + (pp[1] if pp else 0.0)
    np.save(cfg.out / "logits.npy", logits)
    accuracy, golden_cmp = None, None
    if cfg.golden:
        log("[sim] QONNX golden on the same clips ...")
        g_logits = _golden_logits(golden, codes, meta, is_clip)
        exp_logits = expected.astype(np.float64) * (pp[0] if pp else 1.0) + (pp[1] if pp else 0.0)
        implied = (g_logits - (pp[1] if pp else 0.0)) / (pp[0] if pp else 1.0)
        flips = int(np.sum(np.round(implied).astype(np.int64) != expected))
        golden_cmp = {"hw_graph_vs_qonnx_mismatches": flips, "max_abs_logit_diff":
                      float(np.abs(g_logits - exp_logits).max()), "source": "python_exec vs QONNX golden"}
        if labels is not None:
            def acc(lg):
                return float(np.mean(lg.mean(axis=1).argmax(axis=-1) == labels))
            f_logits, f_note = _float_logits(Path(report["model"]), codes, g_logits.shape[-1])
            accuracy = {"hw": acc(logits), "quant": acc(g_logits),
                        "float": acc(f_logits) if f_logits is not None else None, "float_note": f_note,
                        "clips": int(n_clips), "labels": "clip consensus (mean of per-frame logits), top-1",
                        "source": "rtl_sim (hw), qonnx (quant), torch (float)"}
    result = {
        "stage": "sim",
        "source": "rtl_sim",
        "simulator": cfg.simulator,
        "bit_exact": bool(mismatches == 0 and complete and not run.timeout and not run.status_error),
        "mismatches": mismatches,
        "values": int(expected.size),
        "frames": int(n_frames),
        "clips": int(n_clips),
        "complete": bool(complete and not run.timeout),
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
                                          "interval), no output backpressure; the first frames after reset "
                                          "meet an empty pipeline and are listed under warmup_frames")
                                         if period else
                                         "back-to-back frames with the configured random valid/ready",
                           "warmup_frames": warmup,
                           "isolated": {**_stats(lat_iso), "conditions": "one frame in flight at a time"}
                           if lat_iso else None},
        "latency_us": (float(np.max(lat)) / clock if lat else None),
        "ii_cycles": ii,
        "ideal_ii_cycles": folding,
        "efficiency": (float(folding) / ii if ii and folding else None),
        "clock_mhz": clock,
        "fps": (clock * 1e6 / ii if ii else None),
        "backpressure": {"p_valid": cfg.p_valid / 256, "p_ready": cfg.p_ready / 256, "seed": cfg.seed + 1},
        "golden": golden_cmp,
        "accuracy": accuracy,
        "sim_wall_s": round(run.wall_s, 2),
        "sim_speed_fps": round(n_frames / run.wall_s, 2) if run.wall_s else None,
        "sim_cycles": run.cycles,
        "python_exec_s": round(t_pyexec, 2),
        "seconds": round(time.time() - t_start, 1),
        "units": {"latency_cycles": "clock cycles (rtl_sim)", "ii_cycles": "clock cycles per frame (rtl_sim)",
                  "ideal_ii_cycles": "clock cycles per frame (analytical, from the folding)",
                  "fps": "frames/s at clock_mhz (rtl_sim)", "latency_us": "microseconds at clock_mhz (rtl_sim)",
                  "sim_speed_fps": "simulated frames per wall-clock second on this machine"},
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
        from tsmfpga.quant.models import VideoNet
        from tsmfpga.quant.train import latest_checkpoint, predict

        rep = json.loads((qat / "report.json").read_text())
        cfg = from_dict(QATConfig, rep["config"])
        found = latest_checkpoint(qat / "ckpt", "tsm_float")
        if found is None or len(rep["data"]["class_names"]) != classes:
            return None, "the QAT run's float TSM does not match this model (alarm model or other classes)"
        mcfg = dataclasses.replace(cfg.model, num_classes=classes, in_channels=codes.shape[2])
        net = VideoNet(mcfg, "tsm", quantized=False)
        net.load_state_dict(torch.load(found[1], map_location="cpu", weights_only=False)["model"])
        return predict(net, codes.astype(np.uint8), desc="float TSM"), \
            f"float TSM from {found[1]} (torch, same clips)"
    except Exception as exc:  # the float model is a bonus figure: say why it is missing
        return None, f"float model could not be evaluated: {type(exc).__name__}: {exc}"


def _golden_logits(golden, codes, meta, is_clip) -> np.ndarray:
    from qonnx.core.onnx_exec import execute_onnx

    scale, zp = float(meta.get("scale", 1.0)), float(meta.get("zero_point", 0))
    g_in, g_out = golden.graph.input[0].name, golden.graph.output[0].name
    s_in = [i.name for i in golden.graph.input[1:]]
    s_out = [o.name for o in golden.graph.output[1:]]
    result = []
    for clip in codes:
        states = {n: np.zeros(golden.get_tensor_shape(n), np.float32) for n in s_in}
        per = []
        for f in clip:
            x = ((f.astype(np.float64) - zp) * scale).astype(np.float32)[None]
            out = execute_onnx(golden, {g_in: x, **states})
            states = {a: out[b] for a, b in zip(s_in, s_out)}
            per.append(np.asarray(out[g_out], np.float64).reshape(-1))
        result.append(np.stack(per))
    return np.stack(result)


def summary(r: dict) -> str:
    lat = r["latency_cycles"]
    lines = [
        f"sim ({r['simulator']}, rtl_sim): {r['frames']} frames of {r['clips']} clip(s) from {r['inputs']}",
        *([f"  TIMEOUT after {r['sim_cycles']} cycles: not all output beats arrived (deadlock or a far too "
           "slow design); the missing values count as mismatches"] if r["timeout"] else []),
        *(["  STATUS ERROR: a clip-start flag was lost (status_error)"] if r["status_error"] else []),
        f"  bit exact vs integer HW graph: {r['bit_exact']} ({r['mismatches']} mismatches over {r['values']} values)",
        f"  latency: {lat.get('min')}..{lat.get('max')} cycles (max - min = "
        f"{(lat.get('max', 0) - lat.get('min', 0)) if lat else None}), {r['latency_us']} us at {r['clock_mhz']} MHz",
        f"  interval: {r['ii_cycles']} cycles/frame measured vs {r['ideal_ii_cycles']} ideal "
        f"(efficiency {r['efficiency']}) -> {r['fps']} fps",
        f"  simulation speed: {r['sim_speed_fps']} frames/s wall clock ({r['sim_wall_s']} s)",
    ]
    if r.get("golden"):
        lines.append(f"  HW graph vs QONNX golden: {r['golden']['hw_graph_vs_qonnx_mismatches']} mismatches")
    if r.get("accuracy"):
        a = r["accuracy"]
        fl = f"{a['float']:.4f}" if a.get("float") is not None else "n/a"
        lines.append(f"  accuracy on these {a['clips']} clips: hw {a['hw']:.4f}, quant {a['quant']:.4f}, float {fl}")
    return "\n".join(lines)


def simulate_hw_graph(core, clips: np.ndarray, work: Path, fpgapart: str = "xc7z020clg400-1",
                      clock_mhz: float = 100.0, simulator: str = "verilator", p_valid: int = 256,
                      p_ready: int = 256, seed: int = 1, fifo_sizing: str = "analytical", log=print) -> dict:
    """Generate, build and simulate the RTL of a HW-only graph on ``clips`` (N, T, *input shape of
    the graph) and compare with its Python execution. For per-layer tests and fuzzing."""
    from tsmfpga.flow.rtlgen import generate_rtl
    from tsmfpga.flow.transforms.tsm_frontend import run_hw_clip

    work = Path(work)
    manifest = generate_rtl(core, work / "rtl", fpgapart, clock_mhz, fifo_sizing=fifo_sizing, log=log)
    i_info, o_info = manifest["input"], manifest["output"]
    expected = np.stack([np.stack([np.asarray(o).reshape(-1) for o in run_hw_clip(core, [f for f in clip])])
                         for clip in clips]).astype(np.int64)
    n, t = clips.shape[:2]
    flat = clips.reshape(n * t, -1).astype(np.int64)
    words = harness.pack_beats(flat, i_info["lanes"], i_info["elem_bits"]).reshape(-1)
    users = np.zeros(len(words), dtype=np.int64)
    users[:: i_info["frame_beats"] * t] = 1
    exe = harness.build(work / "rtl", manifest, work, simulator, log=log)
    run = harness.run(exe, (work / "rtl").resolve(), work, words, users, i_info["width"],
                      n * t * o_info["frame_beats"], simulator=simulator, seed=seed,
                      p_valid=p_valid, p_ready=p_ready)
    out_dt = core.get_tensor_datatype(core.graph.output[0].name)
    got = harness.unpack_beats(run.outputs, o_info["lanes"], o_info["elem_bits"], out_dt.signed())
    exp = expected.reshape(-1)
    mism = int(np.sum(got[: exp.size] != exp[: got.size])) + abs(got.size - exp.size)
    return {"mismatches": mism, "values": int(exp.size), "got": got, "expected": exp, "run": run,
            "manifest": manifest}
