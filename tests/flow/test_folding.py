"""Folding of the generic HW graph to a frame rate within a board budget (analytical estimates)."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging

import numpy as np
import pytest
from model_zoo import export_random_tsm

SIZE, T_FRAMES, CLOCK = 16, 8, 100.0


@pytest.fixture(scope="module")
def hw_graph(tmp_path_factory):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.flow.steps import front_end as to_hw_graph

    logging.getLogger("finn").setLevel(logging.ERROR)
    path = tmp_path_factory.mktemp("fold") / "step.onnx"
    export_random_tsm(path, SIZE, (8, 16), T_FRAMES, num_classes=10, seed=0)
    toolenv.prepare_finn_env(tmp_path_factory.mktemp("finn"))
    return to_hw_graph(ModelWrapper(str(path)))


@pytest.fixture(scope="module")
def board():
    from tsmfpga.hw.boards import get_board

    return get_board("pynq-z2")


def _folds(model) -> dict[str, tuple[int, int]]:
    from tsmfpga.hw.ops.owner import fold_attrs
    from tsmfpga.core.graph import is_hw_node

    return {n.name: fold_attrs(n) for n in model.graph.node if is_hw_node(n)}


def _check_divisibility(model):
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.core.graph import is_hw_node

    for n in model.graph.node:
        if not is_hw_node(n):
            continue
        op = getCustomOp(n)
        a = op.get_nodeattr
        t = n.op_type
        if t == "MVAU":
            assert a("MH") % a("PE") == 0 and a("MW") % a("SIMD") == 0, n.name
        elif t in ("Thresholding", "DuplicateStreams"):
            assert a("NumChannels") % a("PE") == 0, n.name
        elif t == "TemporalShift":
            assert op.verify_node() == ["TemporalShift attributes OK"], n.name
        elif t == "FMPadding":
            assert a("NumChannels") % a("SIMD") == 0, n.name
        elif t == "ConvolutionInputGenerator":
            assert a("IFMChannels") % a("SIMD") == 0, n.name
        elif t == "Pool":
            assert a("Channels") % a("PE") == 0, n.name


def test_fold_to_target(hw_graph, board):
    from tsmfpga.flow.folding import fold

    before = _folds(hw_graph)
    slow_model, slow = fold(hw_graph, board, CLOCK, target_fps=2000)
    assert _folds(hw_graph) == before, "fold() must not modify its input"
    assert slow.target_cycles == int(CLOCK * 1e6 / 2000)
    assert all(r["cycles"] <= slow.target_cycles for r in slow.layers)
    assert slow.ideal_ii_cycles == max(r["cycles"] for r in slow.layers)
    assert slow.fps_estimate == pytest.approx(CLOCK * 1e6 / slow.ideal_ii_cycles)
    assert slow.fps_estimate >= 2000
    for k in ("LUT", "BRAM36", "DSP"):
        assert slow.totals[k] <= slow.budget[k] == pytest.approx(0.8 * slow.capacity[k], abs=1)
    assert all(r["source"] == "analytical" and r["models"]["cycles"] and r["cycles"] > 0 for r in slow.layers)
    # the attributes are really on the nodes, valid, and what the report says
    _check_divisibility(slow_model)
    folds = _folds(slow_model)
    assert all(folds[r["name"]] == (r["pe"], r["simd"]) for r in slow.layers)
    json.dumps(slow.to_dict())  # JSON-able
    print(slow.table())

    fast_model, fast = fold(hw_graph, board, CLOCK, target_fps=20000)
    _check_divisibility(fast_model)
    assert all(r["cycles"] <= fast.target_cycles for r in fast.layers)
    assert fast.ideal_ii_cycles < slow.ideal_ii_cycles
    par = {r["name"]: r["pe"] * r["simd"] for r in slow.layers}
    assert any(r["pe"] * r["simd"] > par[r["name"]] for r in fast.layers)
    assert all(r["pe"] * r["simd"] >= par[r["name"]] for r in fast.layers if r["op"] == "MVAU")
    assert fast.totals["LUT"] > slow.totals["LUT"]
    print(fast.table())


def test_estimates_per_op(hw_graph, board):
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.hw.ops import estimate_layer
    from tsmfpga.core.graph import is_hw_node

    seen = set()
    for n in hw_graph.graph.node:
        if not is_hw_node(n):
            continue
        e = estimate_layer(hw_graph, n, board)
        seen.add(n.op_type)
        assert e["cycles"] > 0, f"{n.name}: no cycle estimate"
        assert e["resources"]["LUT"] > 0 and set(e["resources"]) >= {"LUT", "FF", "BRAM36", "DSP"}
        if n.op_type == "TemporalShift":
            op = getCustomOp(n)
            h, w = op.get_nodeattr("ImgDim")
            assert e["cycles"] == h * w * op.get_nodeattr("NumChannels") // op.get_nodeattr("PE")
        if n.op_type == "MVAU":
            assert "finn-plus" in e["models"]["LUT"] and e["mac_impl"] in ("dsp", "lut")
    assert {"MVAU", "ConvolutionInputGenerator", "Thresholding", "TemporalShift", "ElementwiseAdd",
            "DuplicateStreams", "Pool", "FMPadding"} <= seen


def test_impossible_targets(hw_graph, board):
    from tsmfpga.core.errors import UserFacingError
    from tsmfpga.flow.folding import FoldingError, fold
    from tsmfpga.core.graph import is_hw_node

    names = [n.name for n in hw_graph.graph.node if is_hw_node(n)]
    with pytest.raises(FoldingError) as exc:
        fold(hw_graph, board, CLOCK, target_fps=1e7)
    msg = str(exc.value)
    assert isinstance(exc.value, UserFacingError)
    assert any(nm in msg for nm in names) and "cycles" in msg and "unfolded" in msg, msg

    # reachable per layer, but not within a small budget: names the resource and the consumer
    with pytest.raises(FoldingError) as exc:
        fold(hw_graph, board, CLOCK, target_fps=150000, budget_fraction=0.2)
    msg = str(exc.value)
    assert any(f"{res} needed" in msg for res in ("LUT", "LUTRAM", "BRAM36", "DSP", "FF")), msg
    assert "budget" in msg and any(f"largest consumer: {nm} " in msg for nm in names), msg


@pytest.mark.parametrize("budget_fraction", [0.8, 0.3])
def test_no_target_finds_max_fps(hw_graph, board, budget_fraction):
    from tsmfpga.flow.folding import FoldingError, fold

    model, res = fold(hw_graph, board, CLOCK, budget_fraction=budget_fraction)
    assert res.target_fps is None
    for k in ("LUT", "LUTRAM", "BRAM36", "DSP"):
        assert res.totals[k] <= res.budget[k]
    _check_divisibility(model)
    print(res.table(), res.limit)
    if res.limit["reason"] == "fully unfolded":
        assert res.bottleneck in res.limit["layers"]
    else:  # any faster folding exceeds the budget
        assert res.limit["reason"] == "budget", res.limit
        with pytest.raises(FoldingError, match="needed"):
            fold(hw_graph, board, CLOCK, target_fps=CLOCK * 1e6 / (res.ideal_ii_cycles - 1),
                 budget_fraction=budget_fraction)
    if budget_fraction < 0.5:
        assert res.limit["reason"] == "budget"


def test_dsp_budget_switches_macs_to_luts(hw_graph, board):
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.flow.folding import fold

    _, roomy = fold(hw_graph, board, CLOCK, target_fps=20000)
    assert roomy.mac_impl["lut"] == [] and roomy.mac_impl["dsp"]
    small = dataclasses.replace(board, resources={**board.resources, "DSP": 16})
    model, res = fold(hw_graph, small, CLOCK, target_fps=20000)
    assert res.mac_impl["lut"], "no MVAU moved to LUT multipliers"
    assert res.totals["DSP"] <= res.budget["DSP"] < roomy.totals["DSP"]
    assert res.totals["LUT"] > roomy.totals["LUT"]
    nodes = {n.name: n for n in model.graph.node}
    for name in res.mac_impl["lut"]:
        assert getCustomOp(nodes[name]).get_nodeattr("resType") == "lut"   # declared decision
        assert next(r for r in res.layers if r["name"] == name)["resources"]["DSP"] == 0


def test_macs_lut_uses_no_dsp(hw_graph, board):
    """``--macs lut``: every MAC in LUTs, no DSP slice anywhere, at the same folding; a bad policy
    is refused by name."""
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.flow.folding import FoldingError, fold

    auto_model, auto = fold(hw_graph, board, CLOCK, target_fps=20000)
    assert auto.totals["DSP"] > 0, "the default rule should give this TSM DSP MACs"
    model, res = fold(hw_graph, board, CLOCK, target_fps=20000, macs="lut")
    assert res.mac_impl["dsp"] == [] and res.mac_impl["lut"], res.mac_impl
    assert (res.macs, auto.macs, res.budget["DSP"]) == ("lut", "auto", 0)
    assert res.totals["DSP"] == 0 and res.totals["LUT"] > auto.totals["LUT"]
    assert _folds(model) == _folds(auto_model)
    assert [r["cycles"] for r in res.layers] == [r["cycles"] for r in auto.layers]
    for n in model.graph.node:
        if n.op_type.startswith("MVAU"):
            assert getCustomOp(n).get_nodeattr("resType") == "lut", n.name
    with pytest.raises(FoldingError, match="macs = 'dsp'"):
        fold(hw_graph, board, CLOCK, target_fps=20000, macs="dsp")


@pytest.fixture(scope="module")
def hw_graph_3bit(tmp_path_factory):
    """The TSM of ``hw_graph`` with 3-bit weights and activations: below finn-plus' 4-bit rule,
    so its hidden MVAUs default to LUT MACs (hw/rtl/mvau.sv packs 2 such lanes per DSP)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.flow.steps import front_end as to_hw_graph

    path = tmp_path_factory.mktemp("fold3") / "step.onnx"
    export_random_tsm(path, SIZE, (8, 16), T_FRAMES, num_classes=10, seed=0, weight_bits=3, act_bits=3)
    toolenv.prepare_finn_env(tmp_path_factory.mktemp("finn3"))
    return to_hw_graph(ModelWrapper(str(path)))


def test_lut_budget_spends_free_dsps(hw_graph_3bit, board):
    """LUTs over budget and DSPs to spare: LUT-MAC layers move to (packed) DSP MACs, most LUTs
    saved per DSP first, until the LUTs fit; without spare DSPs the same folding does not fit."""
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.flow.folding import FoldingError, fold

    _, roomy = fold(hw_graph_3bit, board, CLOCK, target_fps=20000)
    assert roomy.mac_impl["lut"], "the default rule should give the 3-bit MVAUs LUT MACs"
    need = roomy.totals["LUT"]
    tight = dataclasses.replace(board, resources={**board.resources, "LUT": int(need / 0.8) - 1})
    model, res = fold(hw_graph_3bit, tight, CLOCK, target_fps=20000)
    moved = sorted(set(roomy.mac_impl["lut"]) - set(res.mac_impl["lut"]))
    assert moved, "no LUT-MAC layer moved to DSPs"
    assert res.totals["LUT"] <= res.budget["LUT"] < need
    assert roomy.totals["DSP"] < res.totals["DSP"] <= res.budget["DSP"]
    nodes = {n.name: n for n in model.graph.node}
    for name in moved:
        assert getCustomOp(nodes[name]).get_nodeattr("resType") == "dsp"   # declared decision
    no_dsp = dataclasses.replace(tight, resources={**tight.resources, "DSP": 0})
    with pytest.raises(FoldingError, match="LUT"):
        fold(hw_graph_3bit, no_dsp, CLOCK, target_fps=20000)


def test_folding_keeps_function(hw_graph, board):
    from tsmfpga.flow.folding import fold
    from tsmfpga.core.clip import run_clip as run_hw_clip

    folded, _ = fold(hw_graph, board, CLOCK, target_fps=20000)
    assert _folds(folded) != _folds(hw_graph)
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (1, SIZE, SIZE, 1)).astype(np.float32) for _ in range(2)]
    ref = run_hw_clip(hw_graph, frames)  # resets the TemporalShift buffers first
    got = run_hw_clip(folded, frames)
    for a, b in zip(ref, got):
        assert np.array_equal(a, b)


def test_estimate_cache_changes_nothing(hw_graph, board, monkeypatch):
    """The folder's estimates come from a cache keyed by what an estimate reads: folding with
    every lookup a miss gives the same folding and totals, a returned record is a copy, and a
    changed folding attribute is a miss."""
    import itertools

    from tsmfpga.flow.folding import fold, plan_streams
    from tsmfpga.hw.ops import owner

    cached, res = fold(hw_graph, board, CLOCK, budget_fraction=0.3)
    streams = plan_streams(cached, board, CLOCK, 0.3)
    fresh = itertools.count()
    monkeypatch.setattr(owner, "_estimate_key", lambda m, n, b: str(next(fresh)).encode())
    uncached, res2 = fold(hw_graph, board, CLOCK, budget_fraction=0.3)
    assert res2.to_dict() == res.to_dict()
    assert plan_streams(uncached, board, CLOCK, 0.3) == streams
    monkeypatch.undo()
    node = next(n for n in cached.graph.node if n.op_type == "MVAU")
    first = owner.estimate_layer(cached, node, board)
    first["resources"]["LUT"] = -1
    assert owner.estimate_layer(cached, node, board)["resources"]["LUT"] >= 0
    pe = owner.fold_attrs(node)[0]
    key = owner._estimate_key(cached, node, board)
    owner.set_attrs(node, {"PE": 1 if pe != 1 else 2})
    assert owner._estimate_key(cached, node, board) != key


def test_six_bit_activations_fit_fully_folded(tmp_path_factory, board):
    """`make fuzz` (2026-12-02) found an 11-MVAU TSM at 8x8 with 6-bit activations refused as not
    fitting a PYNQ-Z2 even fully folded: 63 thresholds per channel embedded in every MVAU, ~1.3k
    LUTRAM each. Such thresholds now get a standalone binary-search Thresholding layer and the
    network folds well inside the budget."""
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.flow.folding import fold
    from tsmfpga.flow.steps import front_end as to_hw_graph

    path = tmp_path_factory.mktemp("fold6") / "step.onnx"
    export_random_tsm(path, 8, (8, 8, 8), 3, num_classes=6, seed=6, blocks=(2, 1, 1), act_bits=6,
                      weight_bits=8, first_weight_bits=7, last_weight_bits=6, shift_div=8)
    toolenv.prepare_finn_env(tmp_path_factory.mktemp("finn6"))
    hw = to_hw_graph(ModelWrapper(str(path)))
    ops = [n.op_type for n in hw.graph.node]
    assert ops.count("Thresholding") >= ops.count("MVAU") - 1, ops   # every hidden MVAU's activation
    _, least = fold(hw, board, CLOCK, target_fps=1)   # fully folded: was 14,668 LUTRAM > 13,920
    assert least.totals["LUTRAM"] <= least.budget["LUTRAM"] / 4, least.totals
    _, best = fold(hw, board, CLOCK)   # and the search for the highest frame rate finds one
    assert best.fps_estimate > least.fps_estimate


def test_board_default_mac_policy(hw_graph, monkeypatch):
    """A compile that does not choose ``--macs`` takes the board's policy: LUT MACs on ECP5 boards,
    "auto" on the Zynq ones; where the board's LUT MACs do not fit, the step folds with "auto"
    instead of failing; an explicit ``--macs lut`` that does not fit still fails."""
    from types import SimpleNamespace

    from qonnx.custom_op.registry import getCustomOp

    import tsmfpga.flow.steps as steps
    from tsmfpga.flow.folding import FoldingError, fold
    from tsmfpga.hw.boards import get_board

    assert (get_board("ulx3s-85f").macs, get_board("pynq-z2").macs) == ("lut", "auto")

    def cfg(board, macs=None):
        return SimpleNamespace(board=board, clock_mhz=None, target_fps=20000, budget_fraction=0.8, macs=macs)

    def policy(model):
        return json.loads(model.get_metadata_prop("tsmfpga.folding"))["macs"]

    def res_types(model):
        return {getCustomOp(n).get_nodeattr("resType") for n in model.graph.node if n.op_type.startswith("MVAU")}

    ecp5 = steps.step_fold(copy.deepcopy(hw_graph), cfg("ulx3s-85f"))
    assert policy(ecp5) == "lut" and res_types(ecp5) == {"lut"}
    zynq = steps.step_fold(copy.deepcopy(hw_graph), cfg("pynq-z2"))
    assert policy(zynq) == "auto" and "dsp" in res_types(zynq)

    def lut_does_not_fit(model, board, clock, macs="auto", **kw):
        if macs == "lut":
            raise FoldingError("MVAU_x cannot do without DSP slices; compile with --macs auto.")
        return fold(model, board, clock, macs=macs, **kw)

    monkeypatch.setattr(steps, "fold", lut_does_not_fit)
    fallback = steps.step_fold(copy.deepcopy(hw_graph), cfg("ulx3s-85f"))
    assert policy(fallback) == "auto"
    with pytest.raises(FoldingError, match="without DSP"):
        steps.step_fold(copy.deepcopy(hw_graph), cfg("ulx3s-85f", "lut"))

