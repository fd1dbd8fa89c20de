"""Directed extremes (tsmfpga.sim.extremes): the exact accumulator solver against brute force,
every arithmetic layer of a compiled TSM bit-exact at its extremes, and the ROM faults random
clips miss (a threshold, a last-layer weight bit) caught by them."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest


@pytest.mark.parametrize("seed", range(6))
def test_solver_matches_brute_force(seed):
    from tsmfpga.sim.extremes import ChannelSolver

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5))
    c = rng.integers(-6, 7, size=n)
    values = np.array([-1, 1]) if seed == 5 else np.arange(int(rng.integers(-3, 1)), int(rng.integers(1, 4)))
    offset = int(rng.integers(-5, 6))
    s = ChannelSolver(c, values, offset)
    brute = {int(np.dot(c, x)) + offset for x in itertools.product(values, repeat=n)}
    lo, hi = s.range
    assert (lo, hi) == (min(brute), max(brute))
    for acc in range(lo - 3, hi + 4):
        assert s.reachable(acc) == (acc in brute), acc
        below = [b for b in brute if b < acc]
        assert s.below(acc) == (max(below) if below else None)
        if acc in brute:
            x = s.witness(acc, rng)
            assert set(x.tolist()) <= set(values.tolist()) and int(np.dot(c, x)) + offset == acc


def test_xnor_linear_form_is_the_popcount():
    """XNOR mode: acc = popcount(x == w) equals the solver's linear form."""
    from tsmfpga.sim.extremes import ChannelSolver

    rng = np.random.default_rng(3)
    w = rng.integers(0, 2, size=7)
    s = ChannelSolver(2 * w - 1, np.array([0, 1]), int((1 - w).sum()))
    for x in itertools.product([0, 1], repeat=7):
        assert s.reachable(int(np.sum(np.array(x) == w)))
    assert s.range == (0, 7)


def _copy(tsm_build, tmp_path):
    out, _ = tsm_build
    work = tmp_path / "b"
    shutil.copytree(out, work, ignore=shutil.ignore_patterns("sim", "fifo_sizing", "steps", "mutate", "extremes"))
    return work


def test_extremes_bit_exact_and_catch_rom_faults(tsm_build, tmp_path):
    """First and last MVAU of the small TSM alone: bit-exact at every directed vector; a threshold
    +1 on a threshold some input meets exactly, and a weight bit of the last layer, are caught."""
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core.graph import hw_core
    from tsmfpga.sim import extremes

    work = _copy(tsm_build, tmp_path)
    mvaus = [n.name for n in hw_core(ModelWrapper(str(work / "model_hw.onnx"))).graph.node if n.op_type == "MVAU"]
    first, last = mvaus[0], mvaus[-1]
    layers = extremes.prepare(work, tmp_path / "x", only=[first, last], log=lambda *a: None)
    r = extremes.run(layers, work / "rtl")
    assert r["passed"], r["failures"]
    by = {row["node"]: row for row in r["layers"]}
    assert by[first]["thresholds_met_exactly"] > 0 and by[last]["thresholds"] == 0
    assert all(row["mismatches"] == 0 and row["values"] > 0 for row in r["layers"])

    # a threshold of the first layer that some input meets exactly, moved by +1
    ly = next(x for x in layers if x.name == first)
    manifest = json.loads((work / "rtl" / "manifest.json").read_text())
    p = next(i["params"] for i in manifest["instances"] if i["name"] == first)
    tbits, nsteps, pe = int(p["T_BITS"]), int(p["NSTEPS"]), int(p["PE"])
    unreachable = {tuple(s) for s in ly.summary["equivalent_threshold_sites"]}
    ch, k = next((c, t) for c in range(int(p["MH"])) for t in range(nsteps) if (c, t) not in unreachable)
    mutant = tmp_path / "mut"
    shutil.copytree(work / "rtl", mutant)
    tfile = mutant / p["THRESH_FILE"]
    lines = tfile.read_text().split()
    word = int(lines[ch // pe], 16)
    pos = ((ch % pe) * nsteps + k) * tbits
    mask = (1 << tbits) - 1
    lines[ch // pe] = f"{(word & ~(mask << pos)) | ((((word >> pos) & mask) + 1) & mask) << pos:0{len(lines[0])}x}"
    tfile.write_text("\n".join(lines) + "\n")
    bad = extremes.run(layers, mutant)
    assert not bad["passed"] and first in bad["failures"][0], bad["failures"]

    # one weight bit of the last layer (its outputs are raw accumulators)
    mutant2 = tmp_path / "mut2"
    shutil.copytree(work / "rtl", mutant2)
    q = next(i["params"] for i in manifest["instances"] if i["name"] == last)
    wfile = mutant2 / q["WEIGHT_FILE"]
    lines = wfile.read_text().split()
    lines[0] = f"{int(lines[0], 16) ^ 1:0{len(lines[0])}x}"
    wfile.write_text("\n".join(lines) + "\n")
    bad = extremes.run(layers, mutant2)
    assert not bad["passed"] and last in bad["failures"][0], bad["failures"]


@pytest.mark.slow
def test_extremes_cli_every_layer(tsm_build, tmp_path):
    from model_zoo import run_cli

    work = _copy(tsm_build, tmp_path)
    proc = run_cli("sim", str(work), "--clips", "1", "--no-golden", "--no-taps", "--extremes")
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads((work / "sim" / "extremes.json").read_text())
    kinds = {row["kind"] for row in r["layers"]}
    assert {"MVAU", "Thresholding"} <= kinds and r["passed"]
