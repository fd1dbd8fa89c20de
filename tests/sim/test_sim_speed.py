"""Verification flow that scales: the simulator build cache (a second build with the same RTL,
testbench, flags and toolchain does not compile; a changed parameter does), latency runs on only
the clips they need, FIFO-sizing frames derived from the measured pipeline depth, and wall
times of every stage in the reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tsmfpga.core.streams import clip_starts
from tsmfpga.flow.report import summary as compile_summary
from tsmfpga.flow.rtlgen import SIZING_FRAMES, sizing_frames
from tsmfpga.sim import harness
from tsmfpga.sim.fullsim import split_warmup
from tsmfpga.sim.latency import ISOLATED_FRAMES, fill_bound, isolated_clips, steady_clips

FRAME = 4

TOP = """
module tsmfpga_top #(parameter integer ADD = 1) (
    input wire clk, input wire rst,
    input wire [7:0] s_axis_tdata, input wire s_axis_tvalid, output wire s_axis_tready,
    input wire s_axis_tuser,
    output reg [7:0] m_axis_tdata, output reg m_axis_tvalid, input wire m_axis_tready,
    output reg m_axis_tlast, output wire status_error);
    reg [7:0] cnt;
    assign s_axis_tready = !m_axis_tvalid || m_axis_tready;
    assign status_error = 1'b0;
    always @(posedge clk) begin
        if (rst) begin
            m_axis_tvalid <= 1'b0; cnt <= 0; m_axis_tlast <= 1'b0; m_axis_tdata <= 0;
        end else if (s_axis_tready) begin
            m_axis_tvalid <= s_axis_tvalid;
            if (s_axis_tvalid) begin
                m_axis_tdata <= s_axis_tdata + ADD[7:0];
                m_axis_tlast <= (cnt == FRAME - 1);
                cnt <= (cnt == FRAME - 1) ? 0 : cnt + 1;
            end
        end
    end
endmodule
"""


def _tiny(d, add=1):
    d.mkdir(parents=True, exist_ok=True)
    (d / "tsmfpga_top.sv").write_text(TOP.replace("ADD = 1", f"ADD = {add}").replace("FRAME", str(FRAME)))
    port = {"tensor": "x", "lanes": 1, "elem_bits": 8, "width": 8, "frame_beats": FRAME, "dtype": "UINT8"}
    return {"top": "tsmfpga_top", "files": ["tsmfpga_top.sv"], "input": port, "output": port,
            "fifos": {}, "dwcs": [], "instances": []}


def test_latency_runs_need_only_the_fill_twice():
    # latency 250 cycles at period 100: 3 frames in flight + 1 -> 2 * (4 + 1) = 10 frames
    assert fill_bound([200, 250, 230], 100) == 4
    assert steady_clips([200, 250, 230], 100, t_frames=8, n_clips=125) == 2    # 10 frames -> 2 clips
    assert steady_clips([200, 250, 230], 100, t_frames=8, n_clips=1) == 1      # never more than given
    assert isolated_clips(8, 125) == 1 and isolated_clips(1, 125) == ISOLATED_FRAMES
    # a run of that length passes the fixed-latency rule when the fill ends within the bound ...
    lat = [150, 200, 240] + [240] * 7
    k, ok, bound = split_warmup(lat, 100)
    assert ok and k <= bound
    # ... and fails (then the sim repeats the run on all clips) when it does not settle
    assert split_warmup([150, 200, 240, 230, 240, 250, 240, 260, 240, 270], 100)[1] is False


def test_sizing_frames_follow_the_measured_pipeline_depth():
    assert sizing_frames([], 100) == SIZING_FRAMES
    assert sizing_frames([250], 100) == SIZING_FRAMES             # 3 + 1 + 2 = 6
    assert sizing_frames([1050, 900], 100) == 11 + 1 + 2           # a deep pipeline: more frames


def test_compile_summary_lists_stage_seconds():
    report = {"model": "m.onnx", "board": "pynq-z2", "clock_mhz": 100, "ops": {"MVAU": 1}, "fps_estimate": 1.0,
              "ideal_ii_cycles": 10, "bottleneck": "MVAU_0", "python_exec": {}, "streams": None,
              "input": {"dtype": "UINT8", "shape": [1], "scale": 1, "zero_point": 0},
              "stage_seconds": {"fold": 1.5, "rtl": 20.0, "rtl.fifo_sizing": 12.0, "total": 21.5}}
    text = compile_summary(report)
    assert "stages (s): fold 1.5, rtl 20, rtl.fifo_sizing 12, total 21.5" in text


@pytest.mark.slow   # two cold Verilator builds of a tiny top (~1 min on 2 loaded cores)
def test_build_cache_hit_and_miss(tmp_path):
    cache = tmp_path / "cache"
    m = _tiny(tmp_path / "rtl")
    exe = harness.build(tmp_path / "rtl", m, tmp_path / "w1", cache_dir=cache, log=lambda s: None)
    cold = harness.build.last
    assert not cold.cached and cold.seconds > 0
    # another work folder, same RTL: the cached model, no compile
    exe2 = harness.build(tmp_path / "rtl", m, tmp_path / "w2", cache_dir=cache, log=lambda s: None)
    hit = harness.build.last
    assert hit.cached and exe2 == exe and hit.key == cold.key and hit.seconds < cold.seconds
    frames = np.arange(3 * FRAME).reshape(3, FRAME) % 200
    got, run = harness.stream(exe2, tmp_path / "rtl", tmp_path / "w2", m, frames, clip_starts(1, 3))
    assert not run.timeout and list(got) == list(frames.reshape(-1) + 1)
    # a changed parameter: another key, compiled
    m3 = _tiny(tmp_path / "rtl3", add=2)
    harness.build(tmp_path / "rtl3", m3, tmp_path / "w3", cache_dir=cache, log=lambda s: None)
    assert not harness.build.last.cached and harness.build.last.key != cold.key


@pytest.mark.slow   # the session's small-TSM compile + two sims
def test_stage_seconds_in_reports_and_second_sim_is_cached(tsm_build, tmp_path):
    from tsmfpga.sim.fullsim import SimConfig, run_sim
    from tsmfpga.sim.sim_summary import summary

    out, _ = tsm_build
    rep = json.loads((out / "report.json").read_text())
    st = rep["stage_seconds"]
    assert not (out / "rtl" / "rtl_stage_seconds.json").exists()   # rtl/ stays reproducible
    assert st["rtl"] > 0 and st["total"] >= st["rtl"]
    assert {"rtl.fifo_sizing", "rtl.sizing_build", "rtl.sizing_sim", "rtl.write_rtl"} <= set(st)
    runs = []
    for i in range(2):
        r = run_sim(SimConfig(build_dir=out, clips=2, golden=False, taps=False, out=tmp_path / f"s{i}"),
                    log=lambda s: None)
        assert r["passed"], r["failures"]
        assert r == json.loads((tmp_path / f"s{i}" / "report.json").read_text())
        assert "stages (s):" in summary(r)
        runs.append(r)
    for r in runs:
        assert {"python_exec", "build", "main_run", "latency_steady", "latency_isolated", "total"} <= set(r["stage_seconds"])
        assert all(v >= 0 for v in r["stage_seconds"].values())
    assert runs[1]["build"]["cached"] is True and runs[1]["build"]["key"] == runs[0]["build"]["key"]
    lr = runs[1]["latency_cycles"]["runs"]
    assert lr["steady"]["frames"] <= runs[1]["frames"] and lr["isolated"]["frames"] <= runs[1]["frames"]


def test_main_run_split_over_processes_gives_the_same_outputs(tmp_path):
    """stream_shards: whole clips per simulator process, run at once; the outputs are those of one
    long run, the frame stamps come per process (segments), the cycles add up."""
    m = _tiny(tmp_path / "rtl")
    exe = harness.build(tmp_path / "rtl", m, tmp_path / "w", cache_dir=tmp_path / "cache", log=lambda s: None)
    n_clips, t = 5, 3
    frames = (np.arange(n_clips * t * FRAME).reshape(n_clips * t, FRAME) * 7) % 250
    starts = clip_starts(n_clips, t)
    one, run1 = harness.stream(exe, tmp_path / "rtl", tmp_path / "w", m, frames, starts)
    assert run1.segments is None and list(one) == list(frames.reshape(-1) + 1)
    for shards in (2, 3, 9):
        got, run = harness.stream_shards(exe, tmp_path / "rtl", tmp_path / f"s{shards}", m, frames, starts, shards)
        np.testing.assert_array_equal(got, one)
        segs = run.segments
        assert len(segs) == min(shards, n_clips)
        assert segs[0][0] == 0 and sum(n for _, n in segs) == n_clips * t
        assert all(n % t == 0 for _, n in segs), "whole clips per process"
        assert sorted(run.out_end) == list(range(n_clips * t)) and sorted(run.in_start) == list(range(n_clips * t))
        assert run.cycles > 0 and not (run.timeout or run.bad_tlast or run.status_error)
        # each process starts at cycle 0: its first frame's stamps are as early as the single run's
        assert all(run.in_start[a] == run1.in_start[0] for a, _ in segs)
