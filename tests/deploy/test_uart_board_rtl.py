"""The ECP5 host path end to end in simulation (Verilator): the host driver
(``Accelerator.from_backend(SerialTransport(...))``, the code that talks to /dev/ttyUSB0) sends
whole clips as UART bytes at the board's baud rate into the board design (power-on reset,
``uart_frame_bridge``, the stitched accelerator of the small TSM build; the bitstream's wiring
from ``tsmfpga.deploy.ecp5.write_board_top``, the oscillator pin clocking the fabric instead of
the PLL) and decodes the result bytes from txd. Every output value must equal the integer HW
graph executed in Python (per-clip state) and the bridge must never overrun. Negative checks: a
frame sent without the clip-start header bit gives the continued-state output, not the fresh one
(and the same frame with the bit, the fresh one); the comparison catches one changed value; at
4 clocks per bit (25 Mbaud at 100 MHz) the bridge outruns this accelerator's input, overrun rises
and the host times out (slow tier).

Icarus is not run: Icarus 11 cannot parse the finn-rtllib parts of the stitched top (see
tsmfpga.sim.harness); uart_frame_bridge alone runs on both (tests/hw/test_uart_bridge_rtl.py)."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from model_zoo import TSM_SIZE, TSM_T
from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core.clip import run_clip, run_clips
from tsmfpga.core.graph import hw_core
from tsmfpga.deploy.ecp5 import BOARD_TOP, DEFAULT_BAUD, uart_clks_per_bit, write_board_top
from tsmfpga.deploy.package import build_config
from tsmfpga.sim.runner import SimulationError, run_cocotb

TB_DIR = Path(__file__).parent / "tb"


def mismatches(got, want) -> int:
    """Values that differ (shapes must agree): the comparison every check below uses."""
    got, want = np.asarray(got, np.int64), np.asarray(want, np.int64)
    assert got.shape == want.shape, f"{got.shape} != {want.shape}"
    return int(np.count_nonzero(got != want))


def _hw_frame(f):
    return np.asarray(f, np.float32)[None]   # (H, W, C) codes -> HW graph input (1, H, W, C)


def run_uart_board(build_dir: Path, work: Path, n_clips: int, seed: int,
                   baud: int = DEFAULT_BAUD) -> tuple[dict, dict]:
    """Simulate ``n_clips`` random clips (then clip 0's first frame without and with clip start)
    through the board design, the host UART at ``baud`` and the bridge at the clocks per bit the
    bitstream flow sets for that baud rate. Returns (case, result). A failing bench raises (its
    result file ``work/result.json`` is written all the same)."""
    rtl = build_dir / "rtl"
    manifest = json.loads((rtl / "manifest.json").read_text())
    cfg = build_config(build_dir, board="ulx3s-85f")
    core = hw_core(ModelWrapper(str(build_dir / "model_hw.onnx")))
    rng = np.random.default_rng(seed)
    clips = rng.integers(0, 256, size=(n_clips, TSM_T, TSM_SIZE, TSM_SIZE, 1), dtype=np.uint8)
    expected = run_clips(core, clips, prepare=_hw_frame).astype(np.int64)
    # clip 0's first frame after the last clip, without clip start: state of the last clip's last frame
    continued = np.asarray(run_clip(core, [_hw_frame(f) for f in [*clips[-1], clips[0][0]]])[-1]).reshape(-1)

    clock_mhz = float(cfg["clock_mhz"])
    cpb = uart_clks_per_bit(clock_mhz, baud)              # as the bitstream flow sets the bridge
    in_bytes = 1 + manifest["input"]["frame_beats"] * ((manifest["input"]["width"] + 7) // 8)
    out_bytes = manifest["output"]["frame_beats"] * ((manifest["output"]["width"] + 7) // 8)
    ii = json.loads((build_dir / "report.json").read_text())["ideal_ii_cycles"]
    timeout_cycles = 4 * (10 * cpb * (in_bytes + out_bytes) + ii) + 100_000   # per frame's results
    case = {"config": cfg, "clips": clips.tolist(), "bit_ps": round(1e12 / baud),
            "timeout_ps": round(timeout_cycles * 1e6 / clock_mhz), "clks_per_bit": cpb,
            "in_bytes": in_bytes, "expected": expected.tolist(), "continued": continued.astype(np.int64).tolist()}
    sim = work / "sim"
    sim.mkdir(parents=True)
    for p in rtl.iterdir():   # $readmemh files, read from the simulator's working directory
        if p.suffix in (".hex", ".dat"):
            shutil.copy(p, sim / p.name)
    (work / "case.json").write_text(json.dumps(case))
    sources = write_board_top(rtl, manifest, work / f"{BOARD_TOP}.sv", "", cpb)
    run_cocotb(toplevel=BOARD_TOP, sources=sources, test_module="tb_uart_board", test_dir=TB_DIR,
               build_dir=sim, simulator="verilator", seed=seed,
               extra_env={"TSM_UART_CASE": str(work / "case.json"), "TSM_UART_RESULT": str(work / "result.json")})
    return case, json.loads((work / "result.json").read_text())


def _seed(request) -> int:
    return zlib.crc32(request.node.nodeid.encode()) % (1 << 31)


@pytest.mark.parametrize("n_clips", [pytest.param(1, id="1clip"),
                                     pytest.param(3, id="3clips", marks=pytest.mark.slow)])
def test_uart_board_bit_exact(tsm_build, tmp_path, request, n_clips):
    build_dir, _ = tsm_build
    case, r = run_uart_board(build_dir, tmp_path, n_clips, _seed(request))
    expected = np.asarray(case["expected"])
    frames = n_clips * TSM_T + 2
    # one header per frame: clip start on each clip's first frame, then the continued / restarted frame
    assert r["headers"] == ([1] + [0] * (TSM_T - 1)) * n_clips + [0, 1]
    assert r["frames_in"] == r["frames_out"] == frames
    assert r["bytes_sent"] == frames * case["in_bytes"]
    # bit exact through the UART: every value of every frame of every clip
    assert mismatches(r["raw"], expected) == 0, f"UART outputs {r['raw']} != HW graph {expected.tolist()}"
    assert r["overrun"] == 0 and r["status_error"] == 0 and r["error"] is None
    assert r["extra_bytes"] == r["framing_errors"] == r["glitches"] == 0
    # the header bit is the clip start: without it the state carries over (continued golden,
    # not the fresh output), with it the same frame gives the fresh output again
    assert mismatches(r["continued_frame"], [case["continued"]]) == 0
    assert mismatches(r["continued_frame"], expected[:1, 0]) > 0
    assert mismatches(r["restarted_frame"], expected[:1, 0]) == 0
    # the comparison catches a single changed value
    bad = expected.copy()
    bad[-1, -1, 0] += 1
    assert mismatches(r["raw"], bad) == 1
    # a frame's round trip covers at least its bytes on the line
    assert min(r["round_trip_cycles"]) >= 10 * case["clks_per_bit"] * case["in_bytes"]


@pytest.mark.slow
def test_uart_board_overrun_at_4_clocks_per_bit(tsm_build, tmp_path, request):
    """25 Mbaud (4 clocks per bit at 100 MHz): an 8-bit input beat every 40 cycles is faster than
    this accelerator takes them; with no flow control on the UART the bridge drops beats, the
    sticky overrun rises, the frame never completes and the host's read times out."""
    build_dir, _ = tsm_build
    # SystemExit: cocotb's runner exits when the simulator reports a failed test
    with pytest.raises((SimulationError, SystemExit)):
        run_uart_board(build_dir, tmp_path, 1, _seed(request), baud=25_000_000)
    r = json.loads((tmp_path / "result.json").read_text())
    assert r["overrun"] == 1
    assert r["error"] and "result bytes arrived over the UART" in r["error"]
