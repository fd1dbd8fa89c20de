"""`tsmfpga bitstream`: resource estimate (yosys), Vivado project, bitstream when Vivado exists,
deploy package. Writes ``DIR/bitstream/report.json`` (last, atomically) and ``DIR/deploy/``.
Boards of a Lattice family (ECP5) take the open flow instead (:mod:`tsmfpga.deploy.ecp5`:
synthesis, place and route, timing and a bitstream, all here).

Without Vivado on PATH everything up to it is built and checked, the report says
``"vivado": {"found": false}`` and ``"bitstream": null``, and the command exits non-zero
naming the one command to run where Vivado exists.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core import toolenv
from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.records import get_meta, write_json
from tsmfpga.deploy import ecp5
from tsmfpga.deploy.package import write_deploy
from tsmfpga.flow.finn_estimate import finn_estimate
from tsmfpga.hw.boards import get_board
from tsmfpga.hw.resources import estimate_build
from tsmfpga.hw.vivado.project import write_project


class OverCapacityError(UserFacingError):
    """The design does not fit the board (yosys estimate)."""


class BoardMismatch(UserFacingError):
    """The design was folded for another board."""


class VivadoMissing(UserFacingError):
    """Everything up to Vivado was built; Vivado itself is not on this machine."""


def folded_for(build_dir: Path, model: ModelWrapper, compile_report: dict) -> str | None:
    """The board a build was folded for (the design record; the report of older builds)."""
    design = get_meta(model, "tsmfpga.design")
    return design.board if design else compile_report.get("board")


def run_bitstream(build_dir: Path, board_name=None, clock_mhz: float | None = None,
                  qat_report: Path | None = None, skip_estimate: bool = False, log=print,
                  seed: int = 1, allow_timing_fail: bool = False) -> dict:
    """``board_name``: a board of the table (None: the one the design was folded for; another
    one is refused), or a Board object (custom capacities, no check). ``seed`` and
    ``allow_timing_fail``: place and route of the open ECP5 flow (ignored for Xilinx boards)."""
    t0 = time.time()
    build_dir = Path(build_dir)
    for rel in ("rtl/manifest.json", "report.json", "model_hw.onnx"):
        if not (build_dir / rel).is_file():
            raise UserFacingError(f"{build_dir / rel} not found: run `tsmfpga compile` into {build_dir} first")
    compile_report = json.loads((build_dir / "report.json").read_text())
    if compile_report.get("status", "complete") != "complete":
        raise UserFacingError(f"{build_dir / 'report.json'}: the compile {compile_report.get('status')} at step "
                              f"{compile_report.get('failed_step')} ({compile_report.get('error')}); fix it first")
    model = ModelWrapper(str(build_dir / "model_hw.onnx"))
    target = folded_for(build_dir, model, compile_report)
    if board_name is None:
        board_name = target or "pynq-z2"
    if isinstance(board_name, str) and target and board_name != target:
        raise BoardMismatch(
            f"{build_dir} was folded for {target}, not {board_name}: folding depends on the board's "
            f"resources and clock. Compile again with `tsmfpga compile ... --board {board_name}`, or run "
            f"bitstream with --board {target}")
    # a board name from the table, or a Board object (custom capacities)
    board = get_board(board_name) if isinstance(board_name, str) else board_name
    board_name = board_name if isinstance(board_name, str) else getattr(board, "name", "custom")
    clock = board.clock(clock_mhz or compile_report.get("clock_mhz"))
    if board.vendor == "lattice":
        return ecp5.run_ecp5(build_dir, board, clock, seed=seed, allow_timing_fail=allow_timing_fail, log=log)
    out = build_dir / "bitstream"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").unlink(missing_ok=True)
    capacity = {k: v for k, v in board.capacity().items() if k != "LUTRAM"}

    est = None
    if not skip_estimate:
        log(f"[bitstream] yosys synth_xilinx estimate of the stitched top for {board.part} ...")
        est = estimate_build(build_dir, out / "yosys", board, log=log)
        over = {k: (est["total"].get(k, 0), cap) for k, cap in capacity.items() if est["total"].get(k, 0) > cap}
        if over:
            worst = ", ".join(f"{m} ({v.get('LUT', 0):.0f} LUT)" for m, v in est.get("largest", []))
            raise OverCapacityError(
                f"the design does not fit {board_name}: " + ", ".join(f"{k} {u:.0f} > {c}" for k, (u, c) in over.items())
                + f" (yosys estimate); largest consumers: {worst}. Compile again with a lower --target-fps "
                "or a smaller --budget")

    log(f"[bitstream] Vivado project for {board_name} ({board.part}) ...")
    proj = write_project(build_dir, board, out / "vivado", clock)

    toolenv.prepare_finn_env(build_dir)
    fps = compile_report.get("fps_estimate") or 1000.0
    sim_report = build_dir / "sim" / "report.json"
    sim = json.loads(sim_report.read_text()) if sim_report.is_file() else None
    if sim and sim.get("fps"):
        fps = sim["fps"]
    finn = finn_estimate(model, board.finn_part, clock, fps)
    finn_ours = finn_estimate(model, board.finn_part, clock, fps, decisions="ours")

    vivado = shutil.which("vivado")
    bit = hwh = None
    if vivado:
        log(f"[bitstream] running {proj['command']} in {out / 'vivado'} (this takes a while) ...")
        proc = subprocess.run(proj["command"].split(), cwd=out / "vivado", capture_output=True, text=True)
        (out / "vivado.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0 or not Path(proj["bitstream"]).is_file():
            raise UserFacingError(f"Vivado failed (exit {proc.returncode}); log: {out / 'vivado.log'}")
        bit, hwh = str(proj["bitstream"]), str(proj["hwh"])

    ours_fps = sim["fps"] if sim and sim.get("fps") else compile_report.get("fps_estimate")
    resources = est["total"] if est else None
    report = {
        "stage": "bitstream",
        "board": board_name,
        "part": board.part,
        "clock_mhz": clock,
        "source": "yosys" if est else "none (--skip-estimate)",
        "resources": ({k: resources.get(k) for k in ("LUT", "FF", "BRAM36", "DSP", "LUT_memory", "RAMB18", "RAMB36")}
                      if resources else None),
        "capacity": capacity,
        "utilization": ({k: resources.get(k, 0) / c for k, c in capacity.items()} if resources else None),
        "modules": est.get("by_kind") if est else None,
        "largest": est.get("largest") if est else None,
        "yosys_seconds": est.get("seconds") if est else None,
        "yosys_cache": est.get("cache") if est else None,
        "yosys_stage_seconds": est.get("stage_seconds") if est else None,
        "fps": ours_fps,
        "fps_source": "rtl_sim" if sim and sim.get("fps") else "analytical",
        "latency_cycles": (sim or {}).get("latency_cycles", {}).get("max"),
        "finn_plus_estimate": finn,
        "finn_plus_estimate_our_decisions": finn_ours,
        "comparison": _compare(ours_fps, resources, finn, finn_ours),
        "vivado": {"found": bool(vivado), "path": vivado, "project": str(out / "vivado"),
                   "command": f"cd {out / 'vivado'} && {proj['command']}"},
        "bitstream": bit,
        "hwh": hwh,
        "seconds": round(time.time() - t0, 1),
    }
    log("[bitstream] deploy package ...")
    deploy = write_deploy(build_dir, build_dir / "deploy", qat_report=qat_report, board=board_name,
                          bitstream_dir=Path(bit).parent if bit else None)
    report["deploy"] = {"dir": str(build_dir / "deploy"), "bitstream_present": bool(bit),
                        "files": sorted(p.name for p in (build_dir / "deploy").iterdir())}
    del deploy
    write_json(out / "report.json", report)
    if not vivado:
        raise VivadoMissing(
            "Vivado is not on PATH: NOT built: synthesis, implementation, bitstream (.bit) and .hwh. "
            f"Built: yosys estimate, the Vivado project ({out / 'vivado'}), the deploy package "
            f"({build_dir / 'deploy'}), {out / 'report.json'}. Where Vivado exists run:\n"
            f"    {report['vivado']['command']}")
    return report


def _compare(fps, res, finn, finn_ours=None) -> dict | None:
    if not res or not finn or not fps or not finn.get("fps"):
        return None
    ours_lut, ours_bram = res.get("LUT") or 0, res.get("BRAM36") or 0

    def per(f, key, scale):
        v = f["resources"][key] if f else 0
        return scale * f["fps"] / v if f and v and f.get("fps") else None
    return {
        "fps_per_klut": {"ours": 1000 * fps / ours_lut if ours_lut else None,
                         "finn_plus": per(finn, "LUT", 1000), "finn_plus_our_decisions": per(finn_ours, "LUT", 1000)},
        "fps_per_bram36": {"ours": fps / ours_bram if ours_bram else None,
                           "finn_plus": per(finn, "BRAM36", 1), "finn_plus_our_decisions": per(finn_ours, "BRAM36", 1)},
        "dsp": {"ours": res.get("DSP"), "finn_plus": finn["resources"]["DSP"],
                "finn_plus_our_decisions": finn_ours["resources"]["DSP"] if finn_ours else None},
        "note": "ours: yosys synthesis of our RTL, fps measured in rtl_sim; finn-plus: its analytical "
                "estimates (HLS-based flow), not synthesized; 'finn_plus' with its default MAC/memory "
                "attributes, 'finn_plus_our_decisions' with our folding's resType / ram_style",
    }


def summary(r: dict) -> str:
    if r.get("family") == "ecp5":
        return ecp5.summary(r)
    res, cap = r.get("resources") or {}, r["capacity"]
    lines = [f"bitstream: {r['board']} ({r['part']}) @ {r['clock_mhz']} MHz"]
    if res:
        lines.append("  resources (yosys): " + ", ".join(
            f"{k} {res.get(k, 0):.0f}/{cap[k]} ({100 * res.get(k, 0) / cap[k]:.1f} %)" for k in ("LUT", "FF", "BRAM36", "DSP")))
        c = r.get("yosys_cache")
        lines.append(f"  yosys: {r.get('yosys_seconds')} s" + (
            f", {c['instances']} instances / {c['unique_modules']} unique modules, {c['hits']} from the cache, "
            f"{c['misses']} synthesized" if c else ""))
    f = r["finn_plus_estimate"]
    lines.append(f"  finn-plus estimate (analytical) at {f['target_fps']:.0f} fps: LUT {f['resources']['LUT']:.0f}, "
                 f"BRAM36 {f['resources']['BRAM36']:.1f}, DSP {f['resources']['DSP']:.0f}, fps {f['fps'] or 0:.0f}")
    lines.append(f"  fps {r['fps']:.0f} ({r['fps_source']})")
    lines.append(f"  vivado: {'found' if r['vivado']['found'] else 'NOT FOUND'}; bitstream: {r['bitstream']}")
    lines.append(f"  deploy package: {r['deploy']['dir']}")
    return "\n".join(lines)
