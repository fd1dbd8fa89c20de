"""Mutation score of the regression on the small TSM: single faults in a copy of the compiled
design must each make `tsmfpga sim` fail (the mutation kinds of tsmfpga.sim.mutate)."""

from __future__ import annotations

import json
import shutil

import pytest
from model_zoo import run_cli


def _copy(tsm_build, tmp_path):
    out, _ = tsm_build
    work = tmp_path / "b"
    shutil.copytree(out, work, ignore=shutil.ignore_patterns("sim", "fifo_sizing", "steps", "mutate"))
    return work


def test_mutant_list_covers_every_kind(tsm_build):
    from tsmfpga.sim.mutate import mutants

    out, _ = tsm_build
    manifest = json.loads((out / "rtl" / "manifest.json").read_text())
    ms = mutants(manifest)
    kinds = {m.kind for m in ms}
    assert {"weight_bit", "threshold", "shift_frame", "clip_flag", "fifo_depth"} <= kinds
    mvaus = [i for i in manifest["instances"] if i["module"] == "mvau"]
    assert sum(m.kind == "weight_bit" for m in ms) == len(mvaus)
    # ROM mutants first: they share one simulator build
    assert [m.hdl for m in ms] == sorted(m.hdl for m in ms)


def test_first_layer_weight_and_shift_mutants_are_caught(tsm_build, tmp_path):
    from tsmfpga.sim.mutate import run_mutation

    work = _copy(tsm_build, tmp_path)
    r = run_mutation(work, clips=2, names=["weight_bit:MVAU_0", "shift_frame"], log=lambda *a: None)
    assert r["mutants"] == 2 and r["survivors"] == [], r["results"]
    assert json.loads((work / "sim" / "mutation.json").read_text())["score"] == 1.0


@pytest.mark.slow
def test_mutation_campaign_every_kind(tsm_build, tmp_path):
    """The whole campaign through the CLI (regression = sim + directed extremes): every mutant is
    caught or proved equivalent (issue 11's target: 100 %); the command passes only then."""
    work = _copy(tsm_build, tmp_path)
    proc = run_cli("sim", str(work), "--clips", "2", "--no-golden", "--mutate")
    r = json.loads((work / "sim" / "mutation.json").read_text())
    kinds = {"weight_bit", "threshold", "shift_frame", "clip_flag", "fifo_depth"}
    assert {x["kind"] for x in r["results"] if x["caught"]} >= kinds, r["results"]
    assert r["survivors"] == [] and r["score"] == 1.0, r["results"]
    assert all(x["kind"] == "threshold" for x in r["results"] if x["equivalent"])
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_survivor_fails_the_command(tsm_build, tmp_path):
    """Without the directed extremes, the last layer's weight bit survives random clips: a
    surviving mutant is listed and fails the campaign (the score is below 1)."""
    from tsmfpga.sim.mutate import run_mutation

    work = _copy(tsm_build, tmp_path)
    manifest = json.loads((work / "rtl" / "manifest.json").read_text())
    last = [i["name"] for i in manifest["instances"] if i["module"] == "mvau"][-1]
    r = run_mutation(work, clips=1, names=[f"weight_bit:{last}"], directed=False, log=lambda *a: None)
    if r["survivors"]:
        assert r["score"] == 0.0 and r["survivors"] == [f"weight_bit:{last}"]
    r2 = run_mutation(work, clips=1, names=[f"weight_bit:{last}"], directed=True, log=lambda *a: None)
    assert r2["survivors"] == [] and r2["score"] == 1.0, r2["results"]
