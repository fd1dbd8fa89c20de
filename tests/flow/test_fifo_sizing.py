"""FIFO sizing by simulation refuses to report a depth measured against its own cap."""

import pytest


def test_sizing_run_that_hits_its_cap_fails(tsm_build, tmp_path, monkeypatch):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.flow import rtlgen

    out, _ = tsm_build
    toolenv.prepare_finn_env(tmp_path)
    model = ModelWrapper(str(out / "model_hw.onnx"))
    # every sizing FIFO 3 beats deep: the shortcut FIFOs of the residual blocks must overflow that
    monkeypatch.setattr(rtlgen, "SIZING_MAX_ADDR_WIDTH", 1)
    with pytest.raises(rtlgen.SizingCapError, match="filled up to their sizing capacity"):
        rtlgen.generate_rtl(model, tmp_path / "rtl", "xc7z020clg400-1", 100.0, log=lambda *a: None)
    assert not (tmp_path / "rtl").exists()


def test_lean_sizing_record(tsm_build):
    """The compile's FIFO plan went through the lean pass: the measured plan was checked in
    simulation, only chain FIFOs (outside fork -> join regions) were shrunk, never below their
    analytical depth, and the built FIFOs are the ones the record names."""
    import json

    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core.graph import hw_core
    from tsmfpga.hw.fifos import DEFAULT_ADDR_WIDTH, analytical_depths, reconvergent_edges

    out, _ = tsm_build
    manifest = json.loads((out / "rtl" / "manifest.json").read_text())
    lean = manifest["fifo_sizing"]["lean"]
    assert lean["verified"] and lean["runs"] >= 2 and lean["bits_after"] <= lean["bits_before"]
    core = hw_core(ModelWrapper(str(out / "model_hw.onnx")))
    region, floor = reconvergent_edges(core), analytical_depths(core)
    for t, (before, after) in lean["shrunk"].items():
        assert t not in region and floor.get(t, DEFAULT_ADDR_WIDTH) <= after < before
        assert manifest["fifos"][t]["addr_width"] == after


def test_fifo_limit_holds_in_the_sizing_build(tsm_build, tmp_path):
    """The sizing build's run-time limit (+fifo_limit_<instance>) really caps a FIFO: the
    deepest-filling FIFO of an unlimited run stays within the limit when limited."""
    import json

    import numpy as np
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.core.graph import hw_core
    from tsmfpga.core.streams import clip_starts
    from tsmfpga.flow import rtlgen
    from tsmfpga.hw.ops import build_instances
    from tsmfpga.hw.stitch import edges, write_rtl
    from tsmfpga.sim import harness

    out, _ = tsm_build
    toolenv.prepare_finn_env(tmp_path)
    core = hw_core(ModelWrapper(str(out / "model_hw.onnx")))
    instances = build_instances(core, "xc7z020clg400-1", 100.0)
    big = {e.tensor: 10 for e in edges(core, instances) if e.dst is not None}
    manifest = write_rtl(core, instances, tmp_path / "rtl", big)
    exe = harness.build(tmp_path / "rtl", manifest, tmp_path, "verilator", log=lambda *a: None,
                        monitor_fifos=True, extra_flags=(f"-D{rtlgen.FIFO_LIMIT_DEFINE}",))
    i = manifest["input"]
    frames = np.random.default_rng(0).integers(0, 2, size=(4, i["frame_beats"] * i["lanes"]))
    period = json.loads((out / "report.json").read_text())["ideal_ii_cycles"]
    _, free = harness.stream(exe, tmp_path / "rtl", tmp_path, manifest, frames, clip_starts(1, 4), period=period)
    t, occ = max(free.fifo_max.items(), key=lambda kv: kv[1])
    assert occ > 5, free.fifo_max
    _, held = harness.stream(exe, tmp_path / "rtl", tmp_path, manifest, frames, clip_starts(1, 4), period=period,
                             plusargs=rtlgen.fifo_limit_args({t: 1}))   # ADDR_WIDTH 1: 2 entries
    assert held.fifo_max[t] <= 2 + 1 < occ and len(held.out_end) == 4   # memory 2 + output register


@pytest.mark.parametrize("probes", [1, 2, 3])
def test_probe_search_finds_the_smallest_passing_depth(probes, monkeypatch):
    """The lean pass's round search: for every threshold in [lo, hi] of a monotone check, with
    1..3 probes per round, it returns the threshold and never probes outside [lo, hi)."""
    from tsmfpga.flow import rtlgen

    monkeypatch.setattr(rtlgen, "LEAN_PROBES", probes)
    for lo, hi in [(0, 1), (3, 4), (2, 9), (4, 14), (0, 30)]:
        for threshold in range(lo, hi + 1):
            seen, rounds = [], [0]

            def check(points):
                assert 0 < len(points) <= probes and all(lo <= p < hi for p in points)
                seen.extend(points)
                rounds[0] += 1
                return [p >= threshold for p in points]

            assert rtlgen.smallest_passing(lo, hi, check) == threshold
            assert len(seen) == len(set(seen))   # no depth simulated twice
    # a budget that runs out keeps the smallest depth known to pass
    assert rtlgen.smallest_passing(0, 30, lambda ps: [False] * len(ps), budget_left=lambda: False) == 30
