"""The QAT stage end to end: data -> TSN / float TSM / quantized TSM -> alarm task -> export -> report.

Outputs in ``OUT`` (``out/qat`` for ``make qat``): ``model.onnx`` (QONNX step graph of the
quantized TSM), ``alarm.onnx`` (step graph of the alarm model), ``test_clips.npy`` /
``test_labels.npy`` (the export-check clips as uint8 codes, for later stages' verification),
``report.json``, PNG plots and ``ckpt/`` (a checkpoint per epoch). ``report.json`` is written last and atomically: a folder
without it is not a finished run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from tsmfpga.quant import dist
from tsmfpga.quant import export as qexport
from tsmfpga.quant import plots
from tsmfpga.quant.data import camera, recipes, synthetic
from tsmfpga.quant.config import QATConfig, apply_budget
from tsmfpga.quant.metrics import binary_alarm_report, classification_report, softmax
from tsmfpga.quant.models import copy_matching, count_macs, load_float_into_quant
from tsmfpga.quant.nets import make_net
from tsmfpga.quant.train import calibrate, predict, set_determinism
from tsmfpga.quant.train import train_phase as _train_phase


@dataclasses.dataclass
class TaskData:
    """Clips of one task, uint8 ``(N, T, C, H, W)``, with labels and class names."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: tuple[str, ...]
    info: dict


def _motion_data(cfg: QATConfig, cache: Path) -> TaskData:
    """The main synthetic task: "motion" (32x32 gray digits) or "camera" (RGB shop scenes)."""
    kind, gen = ("camera", camera.CameraConfig) if cfg.data.task == "camera" else ("motion", synthetic.MotionConfig)
    mcfg = gen(**{"T": cfg.data.frames, "size": cfg.data.size, **cfg.data.motion})
    sets = {s: synthetic.load_or_make(kind, getattr(cfg.data, f"{s}_clips"), s, cfg.seed, mcfg, cache)
            for s in ("train", "val", "test")}
    return TaskData(*((sets[s].x, sets[s].y) for s in ("train", "val", "test")),
                    tuple(sets["train"].class_names),
                    {"task": kind, "generator": dataclasses.asdict(mcfg)})


def _alarm_data(cfg: QATConfig, cache: Path) -> TaskData:
    """The alarm task matching data.task: "camera_alarm" for the camera task, else "alarm"."""
    kind, gen = ("camera_alarm", camera.CameraAlarmConfig) if cfg.data.task == "camera" else ("alarm", synthetic.AlarmConfig)
    acfg = gen(**{"T": cfg.data.frames, "size": cfg.data.size,
                  "positive_fraction": cfg.alarm.positive_fraction, **cfg.alarm.scene})
    sets = {s: synthetic.load_or_make(kind, getattr(cfg.alarm, f"{s}_clips"), s, cfg.seed, acfg, cache)
            for s in ("train", "val", "test")}
    return TaskData(*((sets[s].x, sets[s].y) for s in ("train", "val", "test")),
                    tuple(sets["train"].class_names), {"task": kind, "generator": dataclasses.asdict(acfg)})


def _video_data(cfg: QATConfig, cache: Path) -> TaskData:
    r = recipes.load_recipe(cfg.data, cfg.model.in_channels, cfg.seed, cache)
    return TaskData(r.train, r.val, r.test, r.class_names, r.info)


class StopRequested(Exception):
    """``stop_after`` reached: the run stops after that checkpoint (a drill for preemption/resume)."""


def train_models(cfg: QATConfig, data: TaskData, prefix: str, ckpt: Path, resume: bool, log,
                 float_epochs: int, qat_epochs: int, with_tsn: bool,
                 stop_after: tuple[str, int] | None = None, init_state: dict | None = None) -> dict:
    """Float TSM (and TSN), then QAT from the float weights. Returns models and histories.

    ``stop_after = (phase, epoch)`` raises StopRequested once that phase's epoch is checkpointed.
    ``init_state``: warm start of the float TSM (:func:`copy_matching`); ``warm_start`` in the
    result lists the tensors copied."""
    t = cfg.train

    def train_phase(phase, *args):
        stop = stop_after[1] if stop_after is not None and stop_after[0] == phase else None
        hist = _train_phase(phase, *args, stop_after_epoch=stop)
        if stop is not None and hist and hist[-1]["epoch"] == stop:
            raise StopRequested(f"stopped after {phase} epoch {stop} (--stop-after); continue with --resume")
        return hist

    mcfg = dataclasses.replace(cfg.model, num_classes=len(data.class_names), in_channels=data.train[0].shape[2])
    out, history = {}, {}
    if with_tsn:
        torch.manual_seed(cfg.seed)
        out["tsn"] = make_net(mcfg, "tsn", quantized=False)
        history[f"{prefix}tsn_float"] = train_phase(f"{prefix}tsn_float", out["tsn"], data.train, data.val,
                                                    t.tsn_epochs, t.lr, t, cfg.seed, ckpt, resume, log)
    torch.manual_seed(cfg.seed)
    out["float"] = make_net(mcfg, "tsm", quantized=False)
    warm = copy_matching(out["float"], init_state) if init_state is not None else []
    if warm:
        log(f"[qat] {prefix}tsm_float: warm start, {len(warm)} tensors of equal name and shape copied")
    history[f"{prefix}tsm_float"] = train_phase(f"{prefix}tsm_float", out["float"], data.train, data.val,
                                                float_epochs, t.lr, t, cfg.seed, ckpt, resume, log)
    torch.manual_seed(cfg.seed)
    q = make_net(mcfg, "tsm", quantized=True)
    load_float_into_quant(q, out["float"].state_dict())
    calibrate(q, data.train[0], t.batch_size, t.calib_batches)
    history[f"{prefix}tsm_qat"] = train_phase(f"{prefix}tsm_qat", q, data.train, data.val,
                                              qat_epochs, t.qat_lr, t, cfg.seed, ckpt, resume, log)
    out["quant"] = q
    return {"models": out, "history": history, "model_config": mcfg, "warm_start": warm}


def _metadata(cfg: QATConfig, net: torch.nn.Module, data: TaskData, extra: dict | None = None) -> dict:
    scale, zp = qexport.input_quant_params(net)
    meta = {
        "tsmfpga.task": data.info["task"],
        "tsmfpga.frames": cfg.data.frames,
        "tsmfpga.shift_div": net.cfg.shift_div,
        "tsmfpga.shift_direction": net.cfg.shift_direction,
        "tsmfpga.class_names": list(data.class_names),
        "tsmfpga.input_scale": scale,
        "tsmfpga.input_zero_point": zp,
        "tsmfpga.input_dtype": "UINT8",
        "tsmfpga.normalisation": "x = pixel / 255 (uint8 code = pixel); frames (C, H, W), channels "
                                 + ("gray" if net.cfg.in_channels == 1 else "RGB"),
        "tsmfpga.states": [list(s) for s in net.state_shapes()],
        "tsmfpga.model_config": dataclasses.asdict(net.cfg),
    }
    meta.update(extra or {})
    return meta


def _write_json_atomic(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def run_qat(cfg: QATConfig, out: Path, resume: bool = False, log=print,
            stop_after: tuple[str, int] | None = None) -> dict | None:
    """Run the stage; returns the report (also written to ``out/report.json``). On failure the
    final outputs are removed (checkpoints stay, for ``resume``).

    Under torchrun every rank calls this (after :func:`tsmfpga.quant.dist.setup`): all ranks
    train, rank 0 alone evaluates, exports and writes; the other ranks return None."""
    t0 = time.time()
    out = Path(out)
    capped = apply_budget(cfg)  # an unknown budget fails here, before anything is written
    main_rank = dist.current().is_main
    report_path = out / "report.json"
    finals = [report_path, out / "model.onnx", out / "alarm.onnx", out / "test_clips.npy",
              out / "test_labels.npy"]
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
        for path in finals:  # stale results must not make this run look complete if it fails
            path.unlink(missing_ok=True)
    dist.barrier()
    try:
        return _run(cfg, out, resume, log if main_rank else (lambda _s: None), t0, capped, stop_after)
    except BaseException:
        if main_rank:
            for path in finals:
                path.unlink(missing_ok=True)
        raise


def _load_data(fn, *args):
    """Local rank 0 builds (and caches) the data first, the other ranks then read the cache."""
    ctx = dist.current()
    if ctx.local_rank != 0:
        dist.barrier()
    data = fn(*args)
    if ctx.local_rank == 0:
        dist.barrier()
    return data


def _run(cfg: QATConfig, out: Path, resume: bool, log, t0: float, capped: dict,
         stop_after=None) -> dict | None:
    ctx = dist.current()
    set_determinism(cfg.seed, max(1, cfg.train.threads // ctx.local_world))
    if capped:
        log(f"[qat] TRAINING BUDGET '{cfg.budget}': fewer epochs than `make qat` trains "
            f"({budget_text(capped)}); accuracies are those of this shorter run")
    cache = out.parent / "data"
    log(f"[qat] config {cfg.name}: data ({cfg.data.task}) ..."
        + (f" [{ctx.world} processes, {ctx.backend}, {ctx.device}]" if ctx.active else ""))
    data = _load_data(_video_data if cfg.data.task == "video" else _motion_data, cfg, cache)
    log(f"[qat] {len(data.train[0])} train / {len(data.val[0])} val / {len(data.test[0])} test clips, "
        f"{len(data.class_names)} classes, clip shape {data.train[0].shape[1:]}")
    main = train_models(cfg, data, "", out / "ckpt", resume, log, cfg.train.float_epochs,
                        cfg.train.qat_epochs, with_tsn=True, stop_after=stop_after)
    alarm, alarm_hist = None, {}
    if cfg.alarm.enabled:
        init = main["models"]["float"].state_dict() if cfg.alarm.init_from_main else None
        alarm, alarm_hist, alarm_net, adata = _run_alarm(cfg, cache, out, resume, log, stop_after, init)
    if not ctx.is_main:  # rank 0 alone evaluates, exports, plots and reports
        dist.barrier()
        return None
    try:
        return _finish(cfg, out, log, t0, data, main, alarm, alarm_hist,
                       alarm_net if alarm is not None else None, adata if alarm is not None else None,
                       capped)
    finally:
        dist.barrier()


def budget_text(capped: dict[str, list[int]]) -> str:
    """``{key: [config, capped]}`` as "train.float_epochs 10 -> 4, ..."."""
    return ", ".join(f"{k} {a} -> {b}" for k, (a, b) in capped.items())


def _finish(cfg: QATConfig, out: Path, log, t0: float, data: TaskData, main: dict, alarm, alarm_hist,
            alarm_net, adata, capped: dict) -> dict:
    report_path = out / "report.json"
    xt, yt = data.test
    reports = {}
    for key in ("float", "quant", "tsn"):
        logits = predict(main["models"][key], xt, desc=f"test {key}")
        reports[key] = classification_report(logits.mean(1), yt, data.class_names)
    qnet = main["models"]["quant"]

    log("[qat] exporting the QONNX step graph ...")
    model_path = qexport.export_step_graph(qnet, out / "model.onnx", _metadata(cfg, qnet, data))
    n_check = min(cfg.export.check_clips, len(xt))
    check = qexport.check_step_graph(model_path, qnet, xt[:n_check], cfg.export.tolerance)
    if check["frames_beyond_tolerance"] > cfg.export.max_frames_off * check["frames"]:
        raise RuntimeError(f"exported step graph {model_path} disagrees with torch on more frames than "
                           f"rounding-tie flips explain (a systematic export error): {check}")
    if alarm is not None:
        qexport.export_step_graph(alarm_net, out / "alarm.onnx", _metadata(
            cfg, alarm_net, adata, {"tsmfpga.alarm_threshold": alarm["threshold"],
                                    "tsmfpga.alarm_positive_class": 1}))

    # real test clips (integer codes = pixels) for the compiler's and simulator's verification
    np.save(out / "test_clips.npy", xt[:n_check])
    np.save(out / "test_labels.npy", yt[:n_check])
    history = {**main["history"], **alarm_hist}
    pngs = {
        "training_curves": plots.plot_training_curves(history, out / "training_curves.png"),
        "confusion_quant": plots.plot_confusion_matrix(
            np.array(reports["quant"]["confusion_matrix"]), data.class_names, out / "confusion_quant.png",
            title=f"quantized TSM ({cfg.model.weight_bits}-bit W / {cfg.model.act_bits}-bit A), test clips"),
        "confusion_tsn": plots.plot_confusion_matrix(
            np.array(reports["tsn"]["confusion_matrix"]), data.class_names, out / "confusion_tsn.png",
            title="TSN float (no temporal shift), test clips"),
        "accuracy": plots.plot_accuracy_bars(
            {"TSN float": reports["tsn"]["top1"], "TSM float": reports["float"]["top1"],
             f"TSM W{cfg.model.weight_bits}A{cfg.model.act_bits}": reports["quant"]["top1"]},
            out / "accuracy.png", title="top-1 on the same test clips"),
    }
    if alarm is not None:
        pngs["alarm_threshold"] = plots.plot_precision_recall_threshold(alarm, out / "alarm_threshold.png")

    report = {
        "stage": "qat",
        "config": dataclasses.asdict(cfg),
        # epochs below the config's own ("make qat"); empty = the full budget
        "budget": {"name": cfg.budget, "epochs_capped": capped,
                   "full_budget": not capped},
        "data": {**data.info, "class_names": list(data.class_names), "train_clips": len(data.train[0]),
                 "val_clips": len(data.val[0]), "test_clips": len(xt)},
        "model": {"macs_per_frame": count_macs(main["model_config"]), "macs_source": "analytical",
                  "states": [list(s) for s in qnet.state_shapes()]},
        "float": reports["float"], "quant": reports["quant"], "tsn": reports["tsn"],
        "deltas": {"quant_minus_float_points": 100 * (reports["quant"]["top1"] - reports["float"]["top1"]),
                   "tsm_minus_tsn_points": 100 * (reports["float"]["top1"] - reports["tsn"]["top1"])},
        "export": {**check, "path": model_path.name},
        "alarm": alarm,
        "history": history,
        # model selection on validation accuracy (quant/train.py): the epoch each phase kept
        "selected_epochs": {phase: next((r["epoch"] for r in rows if r.get("selected")), None)
                            for phase, rows in history.items()},
        "plots": {k: Path(v).name for k, v in pngs.items()},
        "seconds": round(time.time() - t0, 1),
        "units": {"top1": "fraction of test clips", "seconds": "s wall clock", "macs_per_frame": "MAC"},
    }
    _write_json_atomic(report, report_path)
    return report


def _run_alarm(cfg: QATConfig, cache: Path, out: Path, resume: bool, log, stop_after=None, init_state=None):
    adata = _load_data(_alarm_data, cfg, cache)
    log(f"[qat] alarm task: {len(adata.train[0])} train clips, "
        f"{int(adata.train[1].sum())} positive ({adata.class_names[1]})")
    res = train_models(cfg, adata, "alarm_", out / "ckpt", resume, log, cfg.alarm.float_epochs,
                       cfg.alarm.qat_epochs, with_tsn=False, stop_after=stop_after, init_state=init_state)
    net = res["models"]["quant"]
    if not dist.current().is_main:
        return None, res["history"], net, adata
    scores = {s: softmax(predict(net, getattr(adata, s)[0], desc=f"alarm {s}").mean(1))[:, 1]
              for s in ("val", "test")}
    rep = binary_alarm_report(scores["test"], adata.test[1], beta=cfg.alarm.beta,
                              val_scores=scores["val"], val_labels=adata.val[1])
    rep["model"] = "quantized TSM"
    rep["init"] = (f"main task's float TSM: {len(res['warm_start'])} tensors of equal name and shape"
                   if res["warm_start"] else "from scratch")
    rep["class_names"] = list(adata.class_names)
    return rep, res["history"], net, adata


def summary(report: dict) -> str:
    """Human summary for the terminal."""
    f, q, n, e = report["float"], report["quant"], report["tsn"], report["export"]
    budget = report.get("budget") or {}
    lines = [
        f"QAT stage ({report['config']['name']}): {report['data']['test_clips']} test clips, "
        f"{len(report['data']['class_names'])} classes, {report['seconds']:.0f} s",
        *([f"  TRAINING BUDGET '{budget['name']}' (smaller than `make qat`: "
           f"{budget_text(budget['epochs_capped'])}); accuracies below are of this shorter run"]
          if budget.get("epochs_capped") else []),
        f"  TSN float      top-1 {100 * n['top1']:6.2f} %",
        f"  TSM float      top-1 {100 * f['top1']:6.2f} %",
        f"  TSM quantized  top-1 {100 * q['top1']:6.2f} %   (quant - float {report['deltas']['quant_minus_float_points']:+.2f} pt)",
        f"  export: {e['clips']} clips frame by frame through qonnx vs torch: clip argmax equal "
        f"{e['argmax_equal']}, {e['frames'] - e['frames_beyond_tolerance']}/{e['frames']} frames within "
        f"{e['tolerance']:g} (max |diff| {e['max_abs_diff']:.2e}; the rest are float rounding-tie flips)",
    ]
    a = report.get("alarm")
    if a:
        lines.append(f"  alarm: threshold {a['threshold']:.3f} (on {a['threshold_chosen_on']}), precision "
                     f"{a['precision']:.3f}, recall {a['recall']:.3f}, F2 {a['f2']:.3f}")
    return "\n".join(lines)
