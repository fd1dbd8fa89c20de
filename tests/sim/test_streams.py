"""Many cameras, one accelerator: a small TSM compiled with ``--streams 4`` and simulated with a
random multi-camera schedule (bit-exact per camera against independent goldens, m_axis_tdest,
fixed latency whichever camera came before, random backpressure); the capacity plan in the
compile report; a design whose shifts ignore the stream id is caught; bad input is refused."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from model_zoo import run_cli

STREAMS = 4


@pytest.fixture(scope="module")
def streams_build(tsm_streams_build):
    """The session's `compile --streams 4` build (tests/conftest.py)."""
    return tsm_streams_build


def test_compile_report_plans_streams(streams_build):
    out, proc = streams_build
    r = json.loads((out / "report.json").read_text())
    s = r["streams"]
    assert s["source"] == "analytical" and s["design_streams"] == STREAMS
    assert s["max_streams"] >= STREAMS and s["cameras_compute_bound"] == int(r["fps_estimate"] // 30)
    assert s["cameras"] == min(s["max_streams"], s["cameras_compute_bound"])
    assert s["bound"] in ("compute", "memory") and "streams:" in proc.stdout
    ts = [layer for layer in r["layers"] if layer["op"] == "TemporalShift"]
    assert ts and all(layer["streams"] == STREAMS for layer in ts)
    top = (out / "rtl" / "tsmfpga_top.sv").read_text()
    assert "input  wire [1:0] s_axis_tdest" in top and "output wire [1:0] m_axis_tdest" in top
    assert top.count(f".STREAMS({STREAMS})") == len(ts)
    assert json.loads((out / "rtl" / "manifest.json").read_text())["streams"] == {"streams": STREAMS, "tdest_bits": 2}


def test_sim_streams_bit_exact_fixed_latency(streams_build, tmp_path):
    out, _ = streams_build
    proc = run_cli("sim", str(out), "--clips", "4", "--no-taps", "--no-golden", "--streams", str(STREAMS))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s = json.loads((out / "sim" / "report.json").read_text())["streams"]
    assert s["source"] == "rtl_sim" and s["cameras"] == STREAMS and s["bit_exact"] and not s["failures"]
    assert set(s["schedule"]["frames_per_camera"]) == {str(c) for c in range(STREAMS)}
    assert s["schedule"]["camera_switches"] >= STREAMS
    lat = s["latency_cycles"]
    assert lat["max"] == lat["min"] and lat["steady_frames"] >= 8
    assert set(lat["by_previous_camera"]) == {"same camera before", "other camera before"}
    assert "bit exact vs each camera's own golden: True" in proc.stdout


def test_sim_streams_under_backpressure(streams_build):
    out, _ = streams_build
    work = out   # same build folder: the Verilator model is cached
    proc = run_cli("sim", str(work), "--clips", "3", "--no-taps", "--no-golden", "--p-valid", "150",
                   "--p-ready", "120", "--seed", "3")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s = json.loads((work / "sim" / "report.json").read_text())["streams"]
    assert s["cameras"] == STREAMS and s["bit_exact"] and s["backpressure"]["p_ready"] < 1


@pytest.mark.slow   # a second Verilator build of the whole design
def test_shift_ignoring_the_stream_id_is_caught(streams_build, tmp_path):
    """Every temporal shift fed stream 0 (cameras share one state): the sim fails, naming a camera."""
    out, _ = streams_build
    work = tmp_path / "m"
    shutil.copytree(out, work, ignore=shutil.ignore_patterns("sim", "steps"))
    top = work / "rtl" / "tsmfpga_top.sv"
    text = top.read_text()
    mutated, n = re.subn(r"\.s_axis_tdest\(TemporalShift_\d+_clip_tdest\)", ".s_axis_tdest(2'd0)", text)
    assert n >= 1
    top.write_text(mutated)
    proc = run_cli("sim", str(work), "--clips", "3", "--no-taps", "--no-golden")
    assert proc.returncode != 0
    assert "independent goldens" in proc.stdout + proc.stderr


def test_too_many_streams_refused_naming_the_layer(streams_build, tsm_step_graph, tmp_path):
    """The folder sees the N-fold state: a million streams do not fit, the error names the shift."""
    out, _ = streams_build
    work = tmp_path / "huge"
    shutil.copytree(out / "steps", work / "steps")
    proc = run_cli("compile", str(tsm_step_graph), "--out", str(work), "--target-fps", "2000",
                   "--streams", "1000000", "--start-step", "streams", "--stop-step", "fold")
    assert proc.returncode != 0
    assert "does not fit" in proc.stderr and "TemporalShift_" in proc.stderr and "Serve fewer streams" in proc.stderr


def test_bad_streams_refused(streams_build, tsm_step_graph, tmp_path):
    out, _ = streams_build
    proc = run_cli("compile", str(tsm_step_graph), "--out", str(tmp_path / "x"), "--streams", "0")
    assert proc.returncode != 0 and "--streams 0" in proc.stderr
    proc = run_cli("sim", str(out), "--streams", str(STREAMS * 2), "--clips", "1", "--no-taps", "--no-golden")
    assert proc.returncode != 0 and f"--streams {STREAMS * 2}" in proc.stderr and "compile with" in proc.stderr


def test_schedule_and_interleaved_python_execution():
    """The schedule is seeded, covers every camera and starts each camera with a clip start;
    the HW graph's interleaved Python execution (per-stream state) equals independent runs."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from tsmfpga.core.clip import run_clip, run_streams
    from tsmfpga.hw.ops import make_temporal_shift_node
    from tsmfpga.sim.multistream import make_schedule

    a, b = make_schedule(5, 30, 3, 4, seed=7), make_schedule(5, 30, 3, 4, seed=7)
    assert np.array_equal(a.camera, b.camera) and np.array_equal(a.source, b.source)
    assert set(a.camera) == set(range(5))
    many = make_schedule(40, 10, 3, 4, seed=1)   # more cameras than frames asked: each still gets a clip
    assert set(many.camera) == set(range(40)) and len(many.camera) >= 40
    for c in range(5):
        assert a.start[np.flatnonzero(a.camera == c)[0]] == 1
    node = make_temporal_shift_node("x", "y", 8, 2, (1, 3), "NHWC", "UINT4", name="ts", state_id="t_streams")
    node.attribute.append(helper.make_attribute("streams", 5))
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 3, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 3, 8])])
    m = ModelWrapper(qonnx_make_model(g))
    m.set_tensor_datatype("x", DataType["UINT4"])
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 16, (len(a.camera), 1, 1, 3, 8)).astype(np.float32)
    got = run_streams(m, [(int(c), f, bool(s)) for c, f, s in zip(a.camera, frames, a.start)])
    for c in range(5):
        idx = np.flatnonzero(a.camera == c)
        cuts = [k for k, i in enumerate(idx) if a.start[i]] + [len(idx)]
        want = [y for s, e in zip(cuts, cuts[1:]) for y in run_clip(m, [frames[i] for i in idx[s:e]])]
        assert all(np.array_equal(got[i], w) for i, w in zip(idx, want)), f"camera {c}"
    with pytest.raises(ValueError, match="stream 5 out of range"):
        run_streams(m, [(5, frames[0], True)])
