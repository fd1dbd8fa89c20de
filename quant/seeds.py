"""Seed spread of the QAT stage: one config under several seeds, per-seed figures and mean ± std.

``tsmfpga qat --seeds 0,1,2 --out out/qat_seeds`` (``make qat-seeds``) runs the whole stage once
per seed into ``OUT/seed_K`` (each folder laid out like ``out/qat``, so ``make compile
QAT_OUT=OUT/seed_K`` works) and writes ``OUT/report.json``: the figures of every seed and their
mean, sample standard deviation (n - 1), min and max. The seed drives the synthetic clips (train,
val and test), the initialisation and the batch order, so the spread covers all three. The
aggregate is rewritten after every seed (``complete`` false until the last one), and with
``resume`` a seed whose folder already holds a finished report is not run again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

from tsmfpga.core.errors import UserFacingError
from tsmfpga.quant.config import QATConfig
from tsmfpga.quant.stage import run_qat

#: figure name -> (path in a stage report, unit)
FIGURES: dict[str, tuple[tuple[str, ...], str]] = {
    "tsn_top1": (("tsn", "top1"), "fraction of test clips"),
    "tsm_float_top1": (("float", "top1"), "fraction of test clips"),
    "tsm_quant_top1": (("quant", "top1"), "fraction of test clips"),
    "tsm_minus_tsn_points": (("deltas", "tsm_minus_tsn_points"), "percentage points (float TSM - TSN)"),
    "quant_minus_float_points": (("deltas", "quant_minus_float_points"), "percentage points (W/A quant - float)"),
    "alarm_recall": (("alarm", "recall"), "test recall at the F-beta threshold chosen on validation"),
    "alarm_precision": (("alarm", "precision"), "test precision at that threshold"),
    "alarm_threshold": (("alarm", "threshold"), "score threshold (chosen on validation)"),
}


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (distinct non-negative integers, order kept)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserFacingError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UserFacingError(f"--seeds {text!r}: expected distinct non-negative integers, e.g. 0,1,2")
    return seeds


def _get(report: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(report, dict) or report.get(key) is None:
            return None
        report = report[key]
    return report


def seed_figures(report: dict) -> dict:
    """The figures of one stage report (None where absent, e.g. alarm disabled), plus the epoch
    each phase kept (model selection on validation) and the run time."""
    figs = {name: _get(report, path) for name, (path, _unit) in FIGURES.items()}
    figs["selected_epochs"] = report.get("selected_epochs", {})
    figs["seconds"] = report.get("seconds")
    return figs


def _stats(values: list[float]) -> dict:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "n": n}


def aggregate(per_seed: dict[int, dict], config: dict | None = None, complete: bool = True) -> dict:
    """Spread report from ``{seed: seed_figures(...)}``: mean, sample std (None for one seed),
    min, max of every figure present in all seeds."""
    seeds = sorted(per_seed)
    spread = {}
    for name in FIGURES:
        values = [per_seed[s][name] for s in seeds]
        if values and all(v is not None for v in values):
            spread[name] = _stats([float(v) for v in values])
    return {
        "stage": "qat_seeds",
        "complete": complete,
        "seeds": seeds,
        "config": config,
        "per_seed": {str(s): per_seed[s] for s in seeds},
        "spread": spread,
        "units": {**{name: unit for name, (_p, unit) in FIGURES.items()},
                  "std": "sample standard deviation (n - 1) over the seeds", "seconds": "s wall clock"},
    }


def _write_json_atomic(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def _finished(path: Path, seed: int) -> dict | None:
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    return report if report.get("config", {}).get("seed") == seed else None


def run_seeds(cfg: QATConfig, seeds: list[int], out: Path, resume: bool = False, log=print) -> dict:
    """Run the stage for every seed into ``out/seed_K``; returns (and writes) the spread report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").unlink(missing_ok=True)
    t0, per_seed = time.time(), {}
    for i, seed in enumerate(seeds):
        seed_out = out / f"seed_{seed}"
        report = _finished(seed_out / "report.json", seed) if resume else None
        if report is None:
            log(f"[qat-seeds] seed {seed} ({i + 1}/{len(seeds)}) -> {seed_out}")
            report = run_qat(dataclasses.replace(cfg, seed=seed), seed_out, resume=resume, log=log)
        else:
            log(f"[qat-seeds] seed {seed}: finished run found in {seed_out}, kept")
        per_seed[seed] = seed_figures(report)
        agg = aggregate(per_seed, {**dataclasses.asdict(cfg), "seed": None}, complete=len(per_seed) == len(seeds))
        agg["seconds"] = round(time.time() - t0, 1)
        _write_json_atomic(agg, out / ("report.json" if agg["complete"] else "report.partial.json"))
    (out / "report.partial.json").unlink(missing_ok=True)
    return agg


def summary(report: dict) -> str:
    """Human summary: one row per figure, per seed and mean ± std."""
    seeds = report["seeds"]
    lines = [f"QAT seed spread ({report['config']['name']}): seeds {', '.join(map(str, seeds))}"]
    for name, st in report["spread"].items():
        pct = name.endswith("_top1") or name.startswith("alarm_recall") or name.startswith("alarm_precision")
        k = 100 if pct else 1
        cells = "  ".join(f"{k * report['per_seed'][str(s)][name]:7.2f}" for s in seeds)
        std = "n/a" if st["std"] is None else f"{k * st['std']:.2f}"
        lines.append(f"  {name:26s} {cells}   mean {k * st['mean']:7.2f} ± {std}{' (%)' if pct else ''}")
    return "\n".join(lines)
