"""`make bench`: efficiency against FINN on its own benchmarks (issue #14), one report.

For each design: ``tsmfpga compile`` (timed), ``tsmfpga sim`` (Verilator: bit-exactness, fps,
latency; timed), the yosys estimate of the stitched RTL (per unique module, cached; timed) and
finn-plus' own estimate of the same network at the same frame rate, twice: with finn-plus'
default MAC / memory attributes and with our folding's decisions. Designs:

* ``reference``: the reference TSM (``out/qat/model.onnx`` when ``make qat`` ran, else the
  reference config with random weights), the most that fits the board;
* BNN-PYNQ networks from brevitas_examples (``NAME`` or ``NAME@FPS``, exported unmodified, see
  ``scripts/bench_bnn_pynq.py``) with the published BNN-PYNQ figures beside them.

Writes ``out/bench/report.json`` (every figure labelled rtl_sim / yosys / analytical / measured)
and prints a table. A design that is not bit-exact fails the command (exit 1).

    .venv/bin/python scripts/bench.py [--nets reference tfc_2w2a cnv_1w1a@3050 cnv_2w2a@870] [--append]
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
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_bnn_pynq import PUBLISHED, bench_one, compile_and_sim, model_names  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402

from tsmfpga.core import toolenv  # noqa: E402
from tsmfpga.core.records import write_json  # noqa: E402
from tsmfpga.flow.config import CompileConfig  # noqa: E402
from tsmfpga.flow.finn_estimate import finn_estimate  # noqa: E402
from tsmfpga.hw.boards import get_board  # noqa: E402
from tsmfpga.hw.resources import estimate_build  # noqa: E402
from tsmfpga.quant.config import load_config  # noqa: E402
from tsmfpga.quant.export import export_random_step_graph  # noqa: E402

DEFAULT_NETS = ["reference", "tfc_2w2a", "cnv_1w1a@3050", "cnv_2w2a@870"]


def _reference(out: Path, board: str, clips: int) -> dict:
    """The reference TSM: compile (most that fits), sim, the same record shape as bench_one."""
    d = out / "reference"
    d.mkdir(parents=True, exist_ok=True)
    trained = ROOT / "out" / "qat" / "model.onnx"
    inputs = ROOT / "out" / "qat" / "test_clips.npy"
    if trained.is_file() and inputs.is_file():
        path, source = trained, "trained (make qat: out/qat/model.onnx, its test clips)"
    else:
        cfg = load_config("reference")
        path, inputs = d / "step.onnx", None
        export_random_step_graph(cfg.model, path, cfg.data.frames, seed=0)
        source = "reference config, random weights (no make qat run found)"
    cc = CompileConfig(model_path=path, out=d / "build", board=board, verify_inputs=inputs, verify_clips=16)
    _, common = compile_and_sim(cc, "reference", clips)
    return {"network": f"reference TSM ({source})", **common, "build": str(cc.out), "published": None}


def bench_design(key: str, out: Path, board: str, clips: int) -> dict:
    r = _reference(out, board, clips) if key == "reference" else bench_one(key, out, board, clips)
    return estimates(key, r, out, board)


def estimates(key: str, r: dict, out: Path, board: str) -> dict:
    """The yosys estimate and finn-plus' baselines of a built design record ``r`` (updated)."""
    build = Path(r["build"]) if r.get("build") else out / key.replace("@", "_at_") / "build"
    brd = get_board(board)
    t0 = time.time()
    est = estimate_build(build, build / "bench_yosys", brd, cache_dir=out / "yosys_cache",
                         log=lambda m: print(f"  [{key}] {m}", flush=True))
    yosys_s = time.time() - t0
    fps = r["rtl_sim"]["fps"]
    tot = est["total"]
    r.update({
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})",
        "yosys": {k: tot.get(k) for k in ("LUT", "FF", "BRAM36", "DSP", "LUT_memory")}
                 | per(tot.get("LUT"), tot.get("BRAM36"), fps)
                 | {"seconds": round(yosys_s, 1), "cache_hits": (est.get("cache") or {}).get("hits"),
                    "source": "yosys synth_xilinx (per unique module), fps from rtl_sim"},
        "build": str(build),
        "published": r.get("published") or PUBLISHED.get(key.partition("@")[0]),
    })
    r["finn_plus"] = finn_baselines(build, board, fps)
    return r


def per(res_lut, res_bram, f_fps) -> dict:
    return {"fps_per_kLUT": 1000 * f_fps / res_lut if res_lut else None,
            "fps_per_BRAM36": f_fps / res_bram if res_bram else None}


def finn_baselines(build: Path, board: str, fps: float) -> dict:
    """finn-plus' estimate of the compiled network at ``fps``: with its default MAC / memory
    attributes ("finn") and with our folding's decisions ("ours")."""
    hw = ModelWrapper(str(Path(build) / "model_hw.onnx"))
    clock = json.loads((Path(build) / "report.json").read_text())["clock_mhz"]
    out = {}
    for d in ("finn", "ours"):
        f = finn_estimate(hw, get_board(board).finn_part, clock, fps, decisions=d)
        out[d] = ({"resources": f["resources"], "fps": f["fps"], "decisions": f["decisions"]}
                  | per(f["resources"]["LUT"], f["resources"]["BRAM36"], f["fps"] or 0))
    return out


def table(report: dict) -> str:
    rows = [f"{'design':16} {'fps':>9} {'exact':>5} {'LUT':>7} {'FF':>7} {'BRAM36':>6} {'DSP':>4} {'fps/kLUT':>8} "
            f"{'fps/BRAM':>8} | {'finn LUT':>8} {'BRAM36':>6} {'DSP':>4} {'fps/kLUT':>8} | {'published':>22} | "
            f"{'compile':>7} {'sim':>5} {'yosys':>5}"]
    for k, r in report["designs"].items():
        y, f, p = r["yosys"], r["finn_plus"]["finn"], r.get("published") or {}
        pub = f"{p.get('fps', '')} fps {p.get('LUT', '')} LUT" if p else "-"
        rows.append(f"{k:16} {r['rtl_sim']['fps']:9.0f} {str(r['rtl_sim']['bit_exact'])[:5]:>5} {y['LUT']:7} "
                    f"{y['FF']:7} {y['BRAM36']:6g} {y['DSP']:4} {y['fps_per_kLUT'] or 0:8.0f} "
                    f"{y['fps_per_BRAM36'] or 0:8.0f} | {f['resources']['LUT']:8.0f} {f['resources']['BRAM36']:6g} "
                    f"{f['resources']['DSP']:4.0f} {f['fps_per_kLUT'] or 0:8.0f} | {pub:>22} | "
                    f"{r['compile_s']['value']:7.0f} {r['sim_speed']['command_s']:5.0f} {y['seconds']:5.0f}")
    rows.append("fps: rtl_sim; LUT/FF/BRAM36/DSP: yosys; finn: finn-plus' analytical estimate at the same fps "
                "with its default MAC/memory attributes (report.json also has it with our decisions); "
                "times in s (measured)")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", nargs="+", default=DEFAULT_NETS,
                   help="'reference' and/or BNN-PYNQ NAME or NAME@FPS (default: %(default)s)")
    p.add_argument("--board", default="pynq-z2")
    p.add_argument("--clips", type=int, default=24, help="clips / images simulated per design")
    p.add_argument("--out", default=str(ROOT / "out" / "bench"))
    p.add_argument("--append", action="store_true", help="keep the other designs of an existing report")
    p.add_argument("--finn-only", action="store_true",
                   help="only recompute finn-plus' estimates of the designs already in the report (no rebuild)")
    p.add_argument("--estimates-only", action="store_true",
                   help="recompute the yosys and finn-plus estimates of the designs already in the report "
                        "(their builds and rtl_sim figures kept; after a synthesis-script change)")
    args = p.parse_args(argv)
    names = model_names()
    for key in args.nets:
        name, _, fps_text = key.partition("@")
        try:
            ok = key == "reference" or (name in names and (not fps_text or float(fps_text) > 0))
        except ValueError:
            ok = False
        if not ok:
            p.error(f"--nets {key!r}: expected 'reference', NAME or NAME@FPS, NAME one of {', '.join(names)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    toolenv.prepare_finn_env(out / "finn")
    path = out / "report.json"
    report = {"stage": "bench", "board": args.board, "designs": {}}
    only = "--finn-only" if args.finn_only else "--estimates-only" if args.estimates_only else None
    if (args.append or only) and path.is_file():
        report = json.loads(path.read_text())
    for key in args.nets:
        if only:
            r = report["designs"].get(key)
            if r is None:
                p.error(f"{only}: {key!r} is not in {path}")
            if args.finn_only:
                build = Path(r.get("build") or out / key.replace("@", "_at_") / "build")
                r["finn_plus"] = finn_baselines(build, args.board, r["rtl_sim"]["fps"])
            else:
                print(f"[bench] {key}: estimates ...", flush=True)
                estimates(key, r, out, args.board)
            write_json(path, report)
            continue
        print(f"[bench] {key} ...", flush=True)
        report["designs"][key] = bench_design(key, out, args.board, args.clips)
        write_json(path, report)
    text = table(report)
    (out / "report.txt").write_text(text + "\n")
    print(text)
    print(f"report: {path}")
    return 0 if all(r["rtl_sim"]["bit_exact"] and not r["rtl_sim"]["failures"]
                    for r in report["designs"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
