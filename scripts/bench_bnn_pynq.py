"""Benchmark brevitas_examples' BNN-PYNQ networks through tsmfpga (minimal; `make bench-bnn`).

For each network: export with ``export_qonnx`` unmodified (the exact published architecture,
random-initialised: the pretrained weights live on GitHub, which this machine cannot reach; BN
statistics from a few train-mode forwards so thresholds are non-trivial), ``tsmfpga compile
--input-type UINT8 --input-scale 1/255`` (timed), ``tsmfpga sim`` (Verilator, timed), and
finn-plus' own estimate at the rate our folding reached. Writes ``out/bench/bnn_pynq.json``
(every figure labelled: rtl_sim, analytical, python_exec, measured) and prints a table.

    .venv/bin/python scripts/bench_bnn_pynq.py [--nets tfc_2w2a cnv_1w1a cnv_1w1a@3050] [--clips N] [--append]

``NAME@FPS`` folds for that frame rate (default: the most that fits the board budget); ``--append``
adds to / replaces entries of an existing report instead of starting a new one.

The exporter is shared with the tests (``tests/model_zoo.py``: ``export_bnn_pynq``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # model_zoo: the BNN-PYNQ exporter the tests use

from model_zoo import export_bnn_pynq  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402

from tsmfpga.core.records import write_json  # noqa: E402
from tsmfpga.flow.compile import run_compile  # noqa: E402
from tsmfpga.flow.config import CompileConfig  # noqa: E402
from tsmfpga.flow.finn_estimate import finn_estimate  # noqa: E402
from tsmfpga.hw.boards import get_board  # noqa: E402
from tsmfpga.sim.fullsim import SimConfig, run_sim  # noqa: E402

#: published BNN-PYNQ figures (FINN / BNN-PYNQ on PYNQ-Z1 at 100 MHz; issue #14's anchor)
PUBLISHED = {
    "cnv_1w1a": {"fps": 3050, "LUT": 26072, "BRAM36": 124, "source": "BNN-PYNQ (published, PYNQ-Z1, 100 MHz)"},
    "cnv_2w2a": {"fps": 870, "source": "BNN-PYNQ (published, PYNQ-Z1, 100 MHz)"},
}


def compile_and_sim(cfg: CompileConfig, name: str, clips: int) -> tuple[dict, dict]:
    """``tsmfpga compile`` then ``tsmfpga sim`` of one design, both timed. Returns (compile
    report, the record fields every benchmarked design shares: compile_s, rtl_sim, sim_speed,
    folded)."""
    t0 = time.time()
    rep = run_compile(cfg, log=lambda m: print(f"  [{name}] {m}", flush=True))
    compile_s = time.time() - t0
    t0 = time.time()
    sim = run_sim(SimConfig(build_dir=cfg.out, clips=clips))
    sim_s = time.time() - t0
    res = rep["resources"] or {}
    fps = sim["fps"]
    return rep, {
        "compile_s": {"value": round(compile_s, 1), "source": "measured (wall clock, whole `compile` incl. "
                      "FIFO-sizing simulation)", "per_step": rep["step_seconds"]},
        "rtl_sim": {"bit_exact": sim["bit_exact"], "mismatches": sim["mismatches"], "values": sim["values"],
                    "frames": sim["frames"], "golden_mismatches": (sim.get("golden") or {}).get(
                        "hw_graph_vs_qonnx_mismatches"),
                    "taps_equal": (sim.get("taps") or {}).get("first_divergence") is None,
                    "failures": sim["failures"], "ii_cycles": sim["ii_cycles"],
                    "ideal_ii_cycles": sim["ideal_ii_cycles"], "efficiency": sim["efficiency"], "fps": fps,
                    "latency_cycles": {k: sim["latency_cycles"][k] for k in ("min", "max")},
                    "source": "rtl_sim (Verilator)"},
        "sim_speed": {"frames_per_s": sim.get("sim_speed_fps"), "sim_wall_s": sim.get("sim_wall_s"),
                      "command_s": round(sim_s, 1),
                      "source": "measured (frames_per_s: the main Verilator run alone; command_s: the whole "
                                "`tsmfpga sim` incl. Verilator build, 3 runs, taps, golden)"},
        "folded": {"fps": rep["fps_estimate"], "ideal_ii_cycles": rep["ideal_ii_cycles"],
                   "bottleneck": rep["bottleneck"], "resources": res, "utilization": rep.get("utilization"),
                   "fps_per_kLUT": fps / (res["LUT"] / 1000) if res.get("LUT") else None,
                   "fps_per_BRAM36": fps / res["BRAM36"] if res.get("BRAM36") else None,
                   "source": "analytical (finn-plus estimates + our formulas; fps per resource uses the rtl_sim fps)"},
    }


def bench_one(key: str, out: Path, board: str, clips: int) -> dict:
    name, _, fps_text = key.partition("@")
    target_fps = float(fps_text) if fps_text else None
    d = out / key.replace("@", "_at_")
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    path = export_bnn_pynq(name, d / f"{name}.onnx")
    export_s = time.time() - t0
    cfg = CompileConfig(model_path=path, out=d / "build", board=board, target_fps=target_fps,
                        input_type="UINT8", input_scale="1/255")
    rep, common = compile_and_sim(cfg, name, clips)
    brd = get_board(board)
    hw = ModelWrapper(str(cfg.out / "model_hw.onnx"))
    t0 = time.time()
    finn = finn_estimate(hw, brd.finn_part, rep["clock_mhz"], rep["fps_estimate"])
    finn.pop("layers", None)
    finn_s = time.time() - t0
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({os.cpu_count()} cores, load average after the run "
                   f"{os.getloadavg()[0]:.1f})",
        "target_fps": target_fps,
        "network": f"brevitas_examples.bnn_pynq {name} (exact architecture, random-initialised weights, "
                   "BN statistics from 4 train-mode batches of uniform pixels)",
        "input": rep["input"],
        "ops": rep["ops"],
        **common,
        "export_s": {"value": round(export_s, 1), "source": "measured (wall clock)"},
        "python_exec": {k: rep["python_exec"].get(k) for k in ("bit_exact", "mismatches", "values", "frames")}
                       | {"source": "python_exec (HW graph) vs QONNX golden"},
        "finn_plus_estimate": finn | {"seconds": round(finn_s, 1),
                                      "fps_per_kLUT": (finn["fps"] / (finn["resources"]["LUT"] / 1000)
                                                       if finn.get("fps") and finn["resources"]["LUT"] else None)},
        "published": PUBLISHED.get(name),
    }


def model_names() -> list[str]:
    from brevitas_examples.bnn_pynq import models

    return [m for m in models.__all__ if m != "model_with_cfg" and not m.startswith("resnet")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", nargs="+", default=["tfc_2w2a", "cnv_1w1a"],
                   help="NAME or NAME@FPS (fold for FPS frames/s; default: the most that fits)")
    p.add_argument("--board", default="pynq-z2")
    p.add_argument("--clips", type=int, default=24,
                   help="images simulated per network (default 24: with fewer, FIFOs absorb the input and the "
                        "back-to-back run measures the input rate, not the interval)")
    p.add_argument("--out", default=str(ROOT / "out" / "bench"))
    p.add_argument("--append", action="store_true", help="keep the other entries of an existing report")
    args = p.parse_args(argv)
    out = Path(args.out)
    for key in args.nets:
        name, _, fps_text = key.partition("@")
        try:
            ok = name in model_names() and (not fps_text or float(fps_text) > 0)
        except ValueError:
            ok = False
        if not ok:
            p.error(f"--nets {key!r}: expected NAME or NAME@FPS, NAME one of {', '.join(model_names())}")
    path = out / "bnn_pynq.json"
    report = {"stage": "bench_bnn_pynq", "board": args.board, "networks": {}}
    if args.append and path.is_file():
        report = json.loads(path.read_text())
    for key in args.nets:
        print(f"[bench] {key} ...", flush=True)
        report["networks"][key] = bench_one(key, out, args.board, args.clips)
        write_json(path, report)
    print(f"{'network':14} {'compile s':>9} {'sim f/s':>8} {'bit-exact':>9} {'fps rtl_sim':>11} "
          f"{'LUT (ours)':>10} {'BRAM36':>6} {'finn LUT':>8} {'finn BRAM36':>11}")
    for name, r in report["networks"].items():
        f, fr = r["folded"]["resources"], r["finn_plus_estimate"]["resources"]
        print(f"{name:14} {r['compile_s']['value']:9.0f} {r['sim_speed']['frames_per_s'] or 0:8.1f} "
              f"{str(r['rtl_sim']['bit_exact']):>9} {r['rtl_sim']['fps']:11.0f} {f['LUT']:10.0f} {f['BRAM36']:6.1f} "
              f"{fr['LUT']:8.0f} {fr['BRAM36']:11.1f}")
    print(f"report: {path}")
    return 0 if all(r["rtl_sim"]["bit_exact"] and not r["rtl_sim"]["failures"]
                    for r in report["networks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
