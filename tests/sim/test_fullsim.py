"""`tsmfpga sim`: the stitched RTL of a small TSM simulated on whole clips (Verilator) is bit-exact
with the integer HW graph, has a fixed latency and reaches the folding's interval; a corrupted
weight is caught; identical inputs give byte-identical RTL; bad input gets clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from model_zoo import TSM_T, run_cli

from tsmfpga.sim.fullsim import MIN_TIMING_FRAMES


def _simulated_frames(n: int) -> int:
    """Frames a sim of n frames streams: short sets are repeated whole up to MIN_TIMING_FRAMES."""
    return n if n >= MIN_TIMING_FRAMES else n * -(-MIN_TIMING_FRAMES // n)


def _complement_rom(rom) -> None:
    """Bitwise complement of every word of a $readmemh ROM file."""
    lines = rom.read_text().splitlines()
    width = len(lines[0])
    rom.write_text("\n".join(f"{int(w, 16) ^ ((1 << 4 * width) - 1):0{width}x}" for w in lines) + "\n")


@pytest.fixture(scope="module")
def simulated(tsm_build):
    out, _ = tsm_build
    proc = run_cli("sim", str(out), "--clips", "3")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc, json.loads((out / "sim" / "report.json").read_text())


def test_sim_report_contract(simulated):
    out, proc, r = simulated
    assert r["source"] == "rtl_sim" and r["simulator"] == "verilator"
    assert r["bit_exact"] is True and r["mismatches"] == 0 and r["complete"] is True
    # short clip sets are repeated up to MIN_TIMING_FRAMES (the interval needs them), and say so
    assert r["frames"] == _simulated_frames(3 * TSM_T) and r["values"] > 0
    assert r["frames"] == 3 * TSM_T or "repeated" in r["inputs"]
    lat = r["latency_cycles"]
    assert lat["max"] - lat["min"] == 0, lat
    assert 0 < lat["max"] < 100_000            # 1 ms at 100 MHz
    assert r["ii_cycles"] > 0 and r["ideal_ii_cycles"] > 0
    assert r["efficiency"] >= 0.9, (r["ii_cycles"], r["ideal_ii_cycles"])
    assert r["fps"] == pytest.approx(r["clock_mhz"] * 1e6 / r["ii_cycles"])
    assert r["tlast_ok"] and not r["status_error"] and not r["timeout"]
    outputs = np.load(out / "sim" / "outputs.npy")
    assert outputs.shape[:2] == (3, TSM_T)
    assert "bit exact vs integer HW graph: True" in proc.stdout
    # the golden comparison ran on the same clips
    assert r["golden"]["hw_graph_vs_qonnx_mismatches"] == 0


def test_layer_taps_all_equal(simulated):
    out, _, _ = simulated
    r = json.loads((out / "sim" / "report.json").read_text())
    t = r["taps"]
    assert t["first_divergence"] is None and t["mismatching_streams"] == 0
    assert t["streams"] == len(json.loads((out / "rtl" / "manifest.json").read_text())["fifos"])
    assert all(row["got_values"] == row["values"] > 0 for row in t["per_stream"])


def test_x_propagation_seeds_give_identical_outputs(tsm_build, tmp_path):
    """Random initial values (Verilator --x-assign/--x-initial unique) under 3 seeds: the outputs
    equal the HW graph's, so no register relies on a simulator's zero initialisation."""
    out, _ = tsm_build
    work = tmp_path / "b"
    shutil.copytree(out, work, ignore=shutil.ignore_patterns("sim", "fifo_sizing", "steps"))
    proc = run_cli("sim", str(work), "--clips", "2", "--no-golden", "--no-taps", "--x-seeds", "3")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    x = json.loads((work / "sim" / "report.json").read_text())["x_propagation"]
    assert x["seeds"] == [1, 2, 3] and x["identical"] is True
    assert all(v == 0 for v in x["mismatches_per_seed"].values())


def test_warmup_is_derived_from_the_measured_sequence():
    from tsmfpga.sim.fullsim import split_warmup

    assert split_warmup([100, 120, 130, 130, 130, 130], 50) == (2, True, 4)
    assert split_warmup([130] * 6, 50) == (0, True, 4)
    # never settles: the last value holds for too few frames
    assert split_warmup([100, 130, 120, 130, 125, 130], 50)[1] is False
    # settles later than the fill bound ceil(130/50) + 1, but rising monotonically (FIFOs filling)
    assert split_warmup([100, 101, 102, 103, 104, 130, 130, 130, 130, 130, 130, 130], 50) == (5, True, 4)
    # settles late after a non-monotonic warm-up: not a fixed latency
    assert split_warmup([100, 140, 102, 103, 104, 130, 130, 130, 130, 130, 130, 130], 50)[1] is False
    # a late deviation: the final value holds for too few frames
    assert split_warmup([130, 130, 130, 130, 130, 130, 130, 120, 130, 130], 50)[1] is False


def test_deep_layer_error_is_localised_by_taps(simulated, tmp_path):
    """Break one layer deep in the design: the taps name it, with the frame and beat."""
    out, _, _ = simulated
    bad = tmp_path / "b"
    shutil.copytree(out, bad, ignore=shutil.ignore_patterns("sim", "fifo_sizing", "steps"))
    roms = sorted((bad / "rtl").glob("MVAU_*_weights.hex"), key=lambda p: int(p.name.split("_")[1]))
    rom = roms[len(roms) // 2 + 1]            # a layer in the middle of the network, not the first
    layer = rom.name[: -len("_weights.hex")]
    _complement_rom(rom)
    proc = run_cli("sim", str(bad), "--clips", "1", "--no-golden")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    d = json.loads((bad / "sim" / "report.json").read_text())["taps"]["first_divergence"]
    assert d is not None and d["producer"] == layer and d["frame"] == 0, d
    assert isinstance(d["beat"], int) and d["rtl"] != d["expected"]
    assert f"first divergence at layer {layer}" in proc.stderr


def test_corrupted_weight_is_caught(simulated, tmp_path):
    """The check can fail: flip one weight in the RTL ROM of a copy of the build."""
    out, _, _ = simulated
    bad = tmp_path / "b"
    shutil.copytree(out, bad, ignore=shutil.ignore_patterns("sim", "fifo_sizing", "steps"))
    rom = sorted((bad / "rtl").glob("MVAU_0_weights.hex"))[0]
    _complement_rom(rom)   # negate-ish every weight word of the first layer
    proc = run_cli("sim", str(bad), "--clips", "1", "--no-golden")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = json.loads((bad / "sim" / "report.json").read_text())
    assert r["bit_exact"] is False and r["mismatches"] > 0 and r["traces"]
    assert "check(s) failed" in proc.stderr and r["passed"] is False
    assert any(f.startswith("main run:") for f in r["failures"])
    # every run is checked, not only the first: the two latency runs fail too
    assert any(f.startswith("latency (steady) run:") for f in r["failures"])


def test_rtl_is_deterministic(tsm_build, tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.flow.rtlgen import generate_rtl

    out, _ = tsm_build
    toolenv.prepare_finn_env(tmp_path)
    model = ModelWrapper(str(out / "model_hw.onnx"))
    dirs = []
    for i in range(2):
        d = tmp_path / f"rtl{i}"
        generate_rtl(model, d, "xc7z020clg400-1", 100.0, fifo_sizing="analytical")
        dirs.append(d)
    # every MVAU's MAC implementation is the folding's choice
    import json as _json

    folding = {r["name"]: r.get("mac_impl") for r in _json.loads((out / "report.json").read_text())["layers"]}
    manifest = _json.loads((dirs[0] / "manifest.json").read_text())
    mvaus = {i["name"]: i["params"]["MAC_IMPL"] for i in manifest["instances"] if i["module"] == "mvau"}
    assert mvaus and all(folding[n] == impl for n, impl in mvaus.items()), (mvaus, folding)
    names = sorted(p.name for p in dirs[0].iterdir())
    assert names == sorted(p.name for p in dirs[1].iterdir())
    for n in names:
        assert (dirs[0] / n).read_bytes() == (dirs[1] / n).read_bytes(), n


def test_sim_errors(tsm_build, tmp_path):
    out, _ = tsm_build
    proc = run_cli("sim", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "run `tsmfpga compile" in proc.stderr
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((2, 3, 3), np.uint8))
    proc = run_cli("sim", str(out), "--inputs", str(bad))
    assert proc.returncode == 2 and "x.npy" in proc.stderr and "expected" in proc.stderr


def test_icarus_on_finn_rtl_says_why(tsm_build, tmp_path):
    out, _ = tsm_build
    proc = run_cli("sim", str(out), "--simulator", "icarus", "--clips", "1", "--no-golden")
    assert proc.returncode == 2
    assert "finn-rtllib" in proc.stderr and "--simulator verilator" in proc.stderr


def _backpressure(tsm_build, tmp_path, clips, burst=None):
    out, _ = tsm_build
    work = tmp_path / "b"
    shutil.copytree(out, work, ignore=shutil.ignore_patterns("sim", "fifo_sizing", "steps"))
    proc = run_cli("sim", str(work), "--clips", str(clips), "--p-valid", "150", "--p-ready", "120",
                   "--seed", "3", "--no-golden", *(["--burst", burst] if burst else []))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = json.loads((work / "sim" / "report.json").read_text())
    assert r["bit_exact"] and r["mismatches"] == 0 and r["complete"] and r["frames"] == _simulated_frames(clips * TSM_T)
    assert r["backpressure"]["p_ready"] < 1 and r["backpressure"]["p_valid"] < 1
    assert r["tlast_ok"] and not r["status_error"]
    return r


def test_random_backpressure_whole_clips(tsm_build, tmp_path):
    """Random valid on the input and random ready on the output: no lost or duplicated beat;
    the latency is reported as a distribution (percentiles), not as a fixed figure."""
    r = _backpressure(tsm_build, tmp_path, clips=4)
    p = r["latency_cycles"]["percentiles"]
    assert p["p0"] == r["latency_cycles"]["min"] and p["p100"] == r["latency_cycles"]["max"] and p["p0"] <= p["p50"]


def test_bursty_dma(tsm_build, tmp_path):
    """Input and output in bursts (a DMA moving 64 beats, then idle for 192 cycles), on top of
    random valid/ready: bit-exact, nothing lost or duplicated."""
    r = _backpressure(tsm_build, tmp_path, clips=2, burst="64,192")
    assert r["backpressure"]["burst_on_off_cycles"] == [64, 192]


def test_bad_burst_is_refused(tsm_build, tmp_path):
    out, _ = tsm_build
    proc = run_cli("sim", str(out), "--burst", "64")
    assert proc.returncode != 0 and "--burst" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_random_backpressure_1000_frames(tsm_build, tmp_path):
    r = _backpressure(tsm_build, tmp_path, clips=250)
    assert r["frames"] >= 1000


def test_main_run_over_two_processes(tsm_build, tmp_path):
    """--shards 2: the main run as two simulator processes at once (whole clips each) is bit-exact
    with the HW graph, its interval is measured per process and the latency stays fixed."""
    from tsmfpga.sim.fullsim import MIN_SHARD_FRAMES, SimConfig, run_sim

    out, _ = tsm_build
    clips = -(-2 * MIN_SHARD_FRAMES // TSM_T)
    r = run_sim(SimConfig(build_dir=out, clips=clips, golden=False, taps=False, shards=2, out=tmp_path / "s"),
                log=lambda s: None)
    assert r["passed"], r["failures"]
    assert r["sim_processes"] == 2 and r["bit_exact"] and r["frames"] == clips * TSM_T
    assert r["efficiency"] >= 0.9 and r["latency_cycles"]["max"] == r["latency_cycles"]["min"]
    with pytest.raises(Exception, match="--shards 0"):
        SimConfig(build_dir=out, shards=0)
