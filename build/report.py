"""The compile report (``DIR/report.json``) and its terminal summary."""

from __future__ import annotations

import json

from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core.graph import op_histogram
from tsmfpga.core.records import HwInput, get_meta
from tsmfpga.flow.config import CompileConfig
from tsmfpga.flow.folding import plan_streams
from tsmfpga.flow.rtlgen import STAGE_SECONDS_FILE
from tsmfpga.flow.transforms.ties import META_KEY as INTEGER_THRESHOLDS_KEY


def build_report(model: ModelWrapper, cfg: CompileConfig, timings: dict, status: str = "complete",
                 failed_step: str | None = None, error: str | None = None) -> dict:
    """The compile report; ``status`` "failed" (with the step and error) when a check failed."""
    folding = get_meta(model, "tsmfpga.folding")
    folding = folding.to_dict() if folding else {}
    hw_input = get_meta(model, "tsmfpga.hw_input") or HwInput()
    design = get_meta(model, "tsmfpga.design")
    thresholds = get_meta(model, INTEGER_THRESHOLDS_KEY)  # IntegerThresholds (front end)
    inp = model.graph.input[0].name
    return {
        "stage": "compile",
        "status": status,
        "failed_step": failed_step,
        "error": error,
        "design": design.to_dict() if design else None,
        "model": str(cfg.model_path),
        "board": cfg.board,
        "clock_mhz": folding.get("clock_mhz"),
        "target_fps": cfg.target_fps,
        "budget_fraction": cfg.budget_fraction,
        "fps_estimate": folding.get("fps_estimate"),
        "ideal_ii_cycles": folding.get("ideal_ii_cycles"),
        "bottleneck": folding.get("bottleneck"),
        "latency_estimate_cycles": folding.get("latency_estimate_cycles"),
        "resources": folding.get("totals"),
        "budget": folding.get("budget"),
        "capacity": folding.get("capacity"),
        "utilization": folding.get("utilization"),
        "layers": folding.get("layers", []),
        "estimate_source": "analytical",
        "python_exec": get_meta(model, "tsmfpga.python_exec", {}),
        "integer_thresholds": thresholds.to_dict() if thresholds else None,
        "input": {
            "name": inp,
            "dtype": model.get_tensor_datatype(inp).name,
            "shape": model.get_tensor_shape(inp),
            "layout": hw_input.layout,
            "scale": hw_input.scale,
            "zero_point": hw_input.zero_point,
            "declared": hw_input.declared,
        },
        "temporal_shift": get_meta(model, "tsmfpga.temporal_shift", []),
        "postproc": get_meta(model, "tsmfpga.postproc", []),
        "ops": op_histogram(model),
        "rtl": get_meta(model, "tsmfpga.rtl"),
        "streams": _streams(model, cfg, folding),
        "step_seconds": timings,
        "stage_seconds": _stage_seconds(cfg, timings),
        "units": {"stage_seconds": "s wall clock: steps, and the rtl step's parts (rtl.*)","clock_mhz": "MHz", "fps_estimate": "frames/s (analytical)",
                  "ideal_ii_cycles": "clock cycles per frame (analytical)",
                  "step_seconds": "s wall clock"},
    }


def _stage_seconds(cfg: CompileConfig, timings: dict) -> dict:
    """Wall time of every step plus the parts of the rtl step (RTL generation, FIFO-sizing RTL,
    Verilator build, sizing simulation; from ``DIR/rtl_stage_seconds.json``), and their total."""
    stages = dict(timings)
    parts = cfg.out / STAGE_SECONDS_FILE
    if "rtl" in timings and parts.is_file():
        for k, v in json.loads(parts.read_text()).items():
            stages[f"rtl.{k}"] = v
    stages["total"] = round(sum(timings.values()), 2)
    return stages


def _streams(model: ModelWrapper, cfg: CompileConfig, folding: dict) -> dict | None:
    """Streams served by the design (``--streams``) and the capacity plan of the folded design
    (:func:`tsmfpga.flow.folding.plan_streams`, analytical); None before folding."""
    if not folding.get("board") or not folding.get("layers"):
        return None
    plan = plan_streams(model, folding["board"], folding.get("clock_mhz"), folding.get("budget_fraction", 0.8),
                        macs=folding.get("macs", "auto"))
    return {"design_streams": int(cfg.streams), **plan}


def summary(report: dict) -> str:
    pe = report["python_exec"]
    lines = [
        f"compile: {report['model']} -> {report['board']} @ {report['clock_mhz']} MHz",
        f"  ops: {', '.join(f'{k} {v}' for k, v in sorted(report['ops'].items()))}",
        f"  fps {report['fps_estimate']:.0f} (analytical), ideal II {report['ideal_ii_cycles']} cycles, "
        f"bottleneck {report['bottleneck']}",
    ]
    if report.get("resources"):
        res = report["resources"]
        cap = report["capacity"]
        lines.append("  resources (analytical): " + ", ".join(
            f"{k} {res[k]:.0f}/{cap[k]}" for k in ("LUT", "FF", "BRAM36", "DSP") if k in res and k in cap))
    lines.append(f"  python exec vs QONNX golden: {pe.get('mismatches')} mismatches over {pe.get('frames')} "
                 f"frames ({pe.get('values')} values) -> bit exact: {pe.get('bit_exact')}")
    lines.append(f"  input: {report['input']['dtype']} {report['input']['shape']} "
                 f"scale {report['input']['scale']} zero-point {report['input']['zero_point']}"
                 + (" (declared: --input-type/--input-scale)" if report["input"].get("declared") else ""))
    st = report.get("streams")
    if st:
        mem = "no temporal state" if st["max_streams"] is None else f"state of {st['max_streams']:,} streams fits"
        lines.append(f"  streams: design serves {st['design_streams']}; capacity (analytical): {mem} "
                     f"{st['budget_fraction']:.0%} of the board, {st['cameras_compute_bound']} cameras at "
                     f"{st['camera_fps']:g} fps by frame rate -> {st['cameras']} cameras ({st['bound']}-bound)")
    st_s = report.get("stage_seconds")
    if st_s:
        lines.append("  stages (s): " + ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) and not
                                                  isinstance(v, bool) else f"{k} {v}" for k, v in st_s.items()))
    if report.get("rtl"):
        r = report["rtl"]
        lines.append(f"  rtl: {r['dir']}/{r['top']}.sv ({r['files']} files, {r['fifos']} FIFOs, {r['dwcs']} "
                     f"width converters; FIFO sizing {r['fifo_sizing']}) -> simulate with `tsmfpga sim`")
    return "\n".join(lines)
