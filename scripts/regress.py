"""`make regress`: the reference design end to end, every check a user can run, one record.

Runs the CLI as a user would (each stage a subprocess), reads the reports the stages save, and
writes ``out/regress/report.json`` plus a one-screen summary (``out/regress/summary.txt``):

1. compile the QAT export twice, in two processes (default simulation-sized FIFOs): RTL byte-identical
2. sim: whole clips, bit-exact vs the HW graph and the QONNX golden, layer taps, fixed latency,
   X propagation under 3 seeds
3. extremes: every arithmetic layer alone at its accumulator ends and threshold boundaries
4. mutation: every mutant caught (or proved equivalent)
5. FIFOs under stress: >= 1,000 frames under random valid/ready (30 % input, 60 % output), then
   a bursty DMA; bit-exact, no deadlock, latency distribution
6. fuzz: N examples of the config-space property (tests/sim/test_fuzz.py, outcomes in fuzz.jsonl)

Every figure is the stage report's own (``rtl_sim`` / ``analytical``). A failed stage fails the
command (exit 1) after the record is written. Usage:
``python scripts/regress.py --qat out/qat --out out/regress [--fuzz 200] [--stress-clips 125]``.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _run(name: str, cmd: list[str], log: Path) -> dict:
    t0 = time.time()
    print(f"[regress] {name}: {' '.join(cmd)}", flush=True)
    with open(log, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    row = {"stage": name, "command": " ".join(cmd), "exit": rc, "seconds": round(time.time() - t0, 1),
           "log": str(log)}
    print(f"[regress] {name}: exit {rc} in {row['seconds']} s", flush=True)
    return row


def _rtl_identical(a: Path, b: Path) -> tuple[bool, list[str]]:
    cmp = filecmp.dircmp(a, b)
    diff = cmp.diff_files + cmp.left_only + cmp.right_only
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    diff = sorted(set(diff) | set(mismatch) | set(errors))
    return not diff, diff


def _load(p: Path) -> dict | None:
    return json.loads(p.read_text()) if p.is_file() else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qat", default="out/qat", help="finished `tsmfpga qat` folder (model.onnx, test_clips.npy)")
    ap.add_argument("--out", default="out/regress")
    ap.add_argument("--board", default="pynq-z2")
    ap.add_argument("--clips", type=int, default=16, help="clips of the main sim (default 16)")
    ap.add_argument("--stress-clips", type=int, default=125, help="clips of the stress runs (125 x 8 = 1,000 frames)")
    ap.add_argument("--fuzz", type=int, default=0, help="config-space examples (0: skip; `make fuzz` runs 200)")
    ap.add_argument("--skip", default="", help="comma-separated stages to skip (mutation,stress,burst; compile: "
                                               "reuse the two builds of a previous run)")
    a = ap.parse_args(argv)
    qat, out = Path(a.qat), Path(a.out)
    if not (qat / "model.onnx").is_file() or not (qat / "report.json").is_file():
        print(f"regress: error: no finished QAT run in {qat} (model.onnx, report.json): run `make qat` first",
              file=sys.stderr)
        return 2
    skip = set(filter(None, a.skip.split(",")))
    out.mkdir(parents=True, exist_ok=True)
    prev = _load(out / "report.json") or {}
    (out / "report.json").unlink(missing_ok=True)
    cli = [sys.executable, "-m", "tsmfpga"]
    inputs = ["--inputs", str(qat / "test_clips.npy")]
    rows, checks = [], {}
    t_all = time.time()

    builds = [out / "build", out / "build_twin"]
    for k, b in enumerate(builds):
        if "compile" in skip and (b / "rtl" / "manifest.json").is_file():
            rows.append({"stage": f"compile_{k + 1}", "command": "reused (--skip compile)", "exit": 0, "seconds": 0})
            continue
        shutil.rmtree(b, ignore_errors=True)
        rows.append(_run(f"compile_{k + 1}", cli + ["compile", str(qat / "model.onnx"), *inputs, "--board", a.board,
                                                   "--out", str(b)], out / f"compile_{k + 1}.log"))
    same, diff = _rtl_identical(builds[0] / "rtl", builds[1] / "rtl") if all(r["exit"] == 0 for r in rows) else (False, ["compile failed"])
    checks["reproducible_rtl"] = {"passed": same, "differing_files": diff[:20],
                                  "how": "two `tsmfpga compile` processes, default (simulation-sized) FIFOs"}
    b = builds[0]
    carried = []        # skipped stages: their checks come from the previous record (same builds), said so
    for stage, keys in (("sim", ("sim", "taps", "x_propagation", "extremes")), ("mutation", ("mutation",))):
        if stage in skip:
            for k in keys:
                if k in prev.get("checks", {}):
                    checks[k] = prev["checks"][k]
                    carried.append(k)
    if carried:
        checks["carried_over"] = {"from_record_of": prev.get("date"), "checks": carried}
    if rows[0]["exit"] == 0 and "sim" not in skip:
        rows.append(_run("sim", cli + ["sim", str(b), *inputs, "--clips", str(a.clips), "--x-seeds", "3",
                                       "--extremes"], out / "sim.log"))
        sim = _load(b / "sim" / "report.json") or {}
        checks["sim"] = {k: sim.get(k) for k in ("passed", "bit_exact", "mismatches", "values", "frames",
                                                "latency_cycles", "ii_cycles", "ideal_ii_cycles", "efficiency",
                                                "fps", "latency_us", "sim_speed_fps")}
        if isinstance(checks["sim"].get("latency_cycles"), dict):
            checks["sim"]["latency_cycles"] = {k: v for k, v in checks["sim"]["latency_cycles"].items()
                                               if k != "per_frame"}
        checks["taps"] = {k: (sim.get("taps") or {}).get(k) for k in ("streams", "values", "first_divergence")}
        checks["x_propagation"] = sim.get("x_propagation")
        ext = _load(b / "sim" / "extremes.json")
        checks["extremes"] = ({"passed": ext["passed"], "layers": len(ext["layers"]),
                               "vectors": sum(r["vectors"] for r in ext["layers"]),
                               "mismatches": sum(r["mismatches"] for r in ext["layers"]),
                               "failures": ext["failures"]} if ext else {"passed": False, "error": "no extremes.json"})
        if "mutation" not in skip:
            rows.append(_run("mutation", cli + ["sim", str(b), *inputs, "--clips", "2", "--no-golden", "--no-taps",
                                                "--mutate"], out / "mutation.log"))
            mut = _load(b / "sim" / "mutation.json")
            checks["mutation"] = ({k: mut[k] for k in ("mutants", "caught", "equivalent", "score", "survivors")}
                                  if mut else {"passed": False, "error": "no mutation.json"})
    if rows[0]["exit"] == 0:
        clips = np.load(qat / "test_clips.npy", mmap_mode="r")
        stress_in = out / "stress_clips.npy"   # seeded random codes: as many clips as asked
        np.save(stress_in, np.random.default_rng(5).integers(0, 256, size=(a.stress_clips, *clips.shape[1:]),
                                                             dtype=np.int64).astype(clips.dtype))
        for name, extra in (("stress", ["--p-valid", "77", "--p-ready", "154"]),
                            ("burst", ["--p-valid", "230", "--p-ready", "230", "--burst", "256,768"])):
            if name in skip:
                continue
            sdir = out / f"{name}_sim"
            rows.append(_run(name, cli + ["sim", str(b), "--inputs", str(stress_in), "--clips", str(a.stress_clips),
                                          "--no-golden",
                                          "--no-taps", "--seed", "5", *extra], out / f"{name}.log"))
            r = _load(b / "sim" / "report.json") or {}
            shutil.rmtree(sdir, ignore_errors=True)
            if (b / "sim").is_dir():
                shutil.copytree(b / "sim", sdir)
            checks[name] = {"passed": r.get("passed"), "frames": r.get("frames"), "mismatches": r.get("mismatches"),
                            "complete": r.get("complete"), "backpressure": r.get("backpressure"),
                            "latency_percentiles": (r.get("latency_cycles") or {}).get("percentiles"),
                            "ii_cycles": r.get("ii_cycles")}
    if a.fuzz:
        log = out / "fuzz.jsonl"
        log.unlink(missing_ok=True)
        rows.append(_run("fuzz", [sys.executable, "-m", "pytest", "tests/sim/test_fuzz.py", "-m", "slow", "-k", "fuzz_config_space",
                                   "--fuzz-examples", str(a.fuzz), "--fuzz-log", str(log), "-p", "no:randomly", "-q"],
                         out / "fuzz.log"))
        ex = [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []
        checks["fuzz"] = {"examples": len(ex), "bit_exact": sum(e["outcome"].startswith("bit-exact") for e in ex),
                          "refused_up_front": sum(e["outcome"].startswith("refused") for e in ex),
                          "failed": [e for e in ex if e["outcome"].startswith("FAILED")][:20]}
    failed = [r["stage"] for r in rows if r["exit"] != 0] + [k for k, v in checks.items()
                                                           if isinstance(v, dict) and v.get("passed") is False]
    report = {"stage": "regress", "passed": not failed, "failed": sorted(set(failed)), "checks": checks, "runs": rows,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "commit": subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                                       text=True).stdout.strip() or None,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
              "seconds": round(time.time() - t_all, 1), "source": "rtl_sim (figures of the stage reports)"}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"regress {report['date']} ({report['machine']}): {'PASSED' if not failed else 'FAILED ' + ', '.join(failed)}"]
    for k, v in checks.items():
        if isinstance(v, dict):
            brief = {x: y for x, y in v.items() if x in ("passed", "bit_exact", "mismatches", "frames", "score",
                                                          "survivors", "examples", "vectors", "identical", "fps", "streams",
                                                          "latency_percentiles", "refused_up_front")}
            lines.append(f"  {k:<16} {json.dumps(brief)[:160]}")
    lines += [f"  {r['stage']:<16} exit {r['exit']} ({r['seconds']} s)" for r in rows]
    text = "\n".join(lines)
    (out / "summary.txt").write_text(text + "\n")
    print(text)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
