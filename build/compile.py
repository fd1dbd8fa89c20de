"""`tsmfpga compile`: run the registered build steps, save the graph after each, write the report.

``DIR/steps/NN_<step>.onnx`` after every step; ``DIR/report.json`` last (atomically). A build
that fails leaves ``DIR/status.json`` saying which step failed and why; no report.json, except
when a verification check failed (``status: failed`` in the report, with the check's traces).
"""

from __future__ import annotations

import time

from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core import toolenv
from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.graph import load_model
from tsmfpga.core.records import write_json
from tsmfpga.flow import steps as S
from tsmfpga.flow.config import CompileConfig
from tsmfpga.flow.report import build_report


def step_range(cfg: CompileConfig) -> list[str]:
    names = list(S.DEFAULT_STEPS)
    for opt, value in (("--start-step", cfg.start_step), ("--stop-step", cfg.stop_step)):
        if value is not None and value not in names:
            raise UserFacingError(f"{opt} {value!r} is not a step; steps: {', '.join(names)}")
    first = names.index(cfg.start_step) if cfg.start_step else 0
    last = names.index(cfg.stop_step) if cfg.stop_step else len(names) - 1
    if first > last:
        raise UserFacingError(f"--start-step {cfg.start_step} comes after --stop-step {cfg.stop_step}")
    return names[first : last + 1]


def run_compile(cfg: CompileConfig, log=print) -> dict | None:
    """Run the build; returns the report (None when stopped early with --stop-step)."""
    names = step_range(cfg)
    out = cfg.out
    steps_dir = out / "steps"
    steps_dir.mkdir(parents=True, exist_ok=True)
    for stale in (out / "report.json", out / "status.json"):
        stale.unlink(missing_ok=True)
    toolenv.prepare_finn_env(out)
    all_names = list(S.DEFAULT_STEPS)
    if cfg.start_step:
        idx = all_names.index(cfg.start_step)
        if idx == 0:
            model = load_model(cfg.model_path)
        else:
            prev = steps_dir / f"{idx:02d}_{all_names[idx - 1]}.onnx"
            if not prev.is_file():
                raise UserFacingError(f"--start-step {cfg.start_step} needs {prev} from an earlier build")
            model = ModelWrapper(str(prev))
    else:
        model = load_model(cfg.model_path)
        for old in steps_dir.glob("*.onnx"):
            old.unlink()
    timings = {}
    current = None
    try:
        for name in names:
            current = name
            i = all_names.index(name) + 1
            t0 = time.time()
            log(f"[compile] step {i}/{len(all_names)} {name} ...")
            model = S.run_step(name, model, cfg)
            timings[name] = round(time.time() - t0, 2)
            model.save(str(steps_dir / f"{i:02d}_{name}.onnx"))
            log(f"[compile] step {i}/{len(all_names)} {name} done in {timings[name]:.1f} s "
                f"({len(model.graph.node)} nodes)")
    except S.CheckFailed as exc:
        # a failed check: the report is written (marked failed, with the check's record), then raise
        report = build_report(exc.model, cfg, timings, status="failed", failed_step=current, error=str(exc))
        write_json(out / "report.json", report)
        write_json(out / "status.json", {"status": "failed", "step": current, "error": f"{type(exc).__name__}: {exc}"})
        raise
    except Exception as exc:
        write_json(out / "status.json", {"status": "failed", "step": current, "error": f"{type(exc).__name__}: {exc}"})
        raise
    if names[-1] != all_names[-1]:
        write_json(out / "status.json", {"status": "stopped", "step": names[-1]})
        return None
    report = build_report(model, cfg, timings)
    final = out / "model_hw.onnx"
    model.save(str(final))
    write_json(out / "report.json", report)
    write_json(out / "status.json", {"status": "complete", "step": names[-1]})
    return report
