"""`tsmfpga compile`: run the registered build steps, save the graph after each, write the report.

``DIR/steps/NN_<step>.onnx`` after every step; ``DIR/report.json`` last (atomically). A build
that fails leaves ``DIR/status.json`` saying which step failed and why, and no report.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core import toolenv
from tsmfpga.core.errors import UserFacingError
from tsmfpga.flow import steps as S
from tsmfpga.flow.config import CompileConfig


def load_model(path: Path) -> ModelWrapper:
    """Load and sanity-check a QONNX file; clear errors for missing / corrupt / non-ONNX files."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise UserFacingError(f"model file {path} does not exist")
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError / various on garbage
        raise UserFacingError(f"{path} is not a readable ONNX file ({type(exc).__name__}: {exc}); "
                              "pass a QONNX model exported with brevitas export_qonnx") from None
    if len(proto.graph.node) == 0:
        raise UserFacingError(f"{path} holds an empty graph (no nodes)")
    # torch.onnx lists initializers (weights, quantizer parameters) as graph inputs too: they are
    # constants, not inputs (and qonnx would execute them with the wrong dtype)
    inits = {i.name for i in proto.graph.initializer}
    for inp in [i for i in proto.graph.input if i.name in inits]:
        proto.graph.input.remove(inp)
    return ModelWrapper(proto)


def _write_json(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


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
            model = S.STEPS[name](model, cfg)
            timings[name] = round(time.time() - t0, 2)
            model.save(str(steps_dir / f"{i:02d}_{name}.onnx"))
            log(f"[compile] step {i}/{len(all_names)} {name} done in {timings[name]:.1f} s "
                f"({len(model.graph.node)} nodes)")
    except Exception as exc:
        _write_json({"status": "failed", "step": current, "error": f"{type(exc).__name__}: {exc}"},
                    out / "status.json")
        raise
    if names[-1] != all_names[-1]:
        _write_json({"status": "stopped", "step": names[-1]}, out / "status.json")
        return None
    from tsmfpga.flow.report import build_report

    report = build_report(model, cfg, timings)
    final = out / "model_hw.onnx"
    model.save(str(final))
    _write_json(report, out / "report.json")
    _write_json({"status": "complete", "step": names[-1]}, out / "status.json")
    return report
