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
    """The whole campaign through the CLI: every kind has a caught mutant; survivors (single
    weight bits or thresholds the test clips never exercise) fail the command and are listed.
    (100 % is issue 11's target: it needs directed inputs that reach every accumulator.)"""
    work = _copy(tsm_build, tmp_path)
    proc = run_cli("sim", str(work), "--clips", "2", "--no-golden", "--mutate")
    r = json.loads((work / "sim" / "mutation.json").read_text())
    kinds = {"weight_bit", "threshold", "shift_frame", "clip_flag", "fifo_depth"}
    assert {x["kind"] for x in r["results"] if x["caught"]} >= kinds, r["results"]
    assert proc.returncode == (1 if r["survivors"] else 0), proc.stderr[-2000:]
    for name in r["survivors"]:
        assert name in proc.stderr
