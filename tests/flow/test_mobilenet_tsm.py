"""The MobileNetV2-style TSM (issue #12) through the compiler: inverted residual blocks whose
shifted input comes from a SIGNED shared quantizer, depthwise convs as VVAUs, strided convs, and
the fork -> join regions the FIFO sizing treats apart. Fast tier: the front end + folding +
Python bit-exactness on whole clips; slow tier: `tsmfpga compile` + `tsmfpga sim` (Verilator)."""

from __future__ import annotations

import json

import pytest
from model_zoo import export_random_mobilenet_tsm, run_cli

SIZE, T, CLASSES = 16, 4, 5


@pytest.fixture(scope="module")
def step_graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("mbv2") / "step.onnx"
    net = export_random_mobilenet_tsm(path, SIZE, T, CLASSES, seed=0)
    return path, net


@pytest.fixture(scope="module")
def front(step_graph, tmp_path_factory):
    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig

    out = tmp_path_factory.mktemp("mbv2_build") / "b"
    report = run_compile(CompileConfig(model_path=step_graph[0], out=out, verify_clips=1,
                                       stop_step="verify_python"), log=lambda *_: None)
    return report, out


def _graph(out, step):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(sorted((out / "steps").glob(f"*_{step}.onnx"))[0]))


def test_every_layer_maps_and_python_is_bit_exact(step_graph, front):
    _, net = step_graph
    report, out = front
    model = _graph(out, "verify_python")
    ops = [n.op_type for n in model.graph.node]
    depthwise = sum(1 for m in net.modules() if getattr(m, "groups", 1) > 1)
    assert depthwise > 0 and ops.count("VVAU") == depthwise
    # one stateful TemporalShift per shift point, each after the signed shared quantizer
    assert ops.count("TemporalShift") == len(net.state_shapes()) > 0
    signed = [n for n in model.graph.node if n.op_type == "TemporalShift"
              and model.get_tensor_datatype(n.input[0]).signed()]
    assert signed, "the MobileNetV2 shift points take signed codes"
    pe = json.loads(model.get_metadata_prop("tsmfpga.python_exec"))
    assert pe["bit_exact"] and pe["mismatches"] == 0 and pe["frames"] == T


def test_fifo_regions_are_the_residual_blocks(front):
    from tsmfpga.core.graph import hw_core
    from tsmfpga.hw.fifos import reconvergent_edges

    core = hw_core(_graph(front[1], "verify_python"))
    region = reconvergent_edges(core)
    joins = [n for n in core.graph.node if n.op_type == "ElementwiseAdd"]
    forks = [n for n in core.graph.node if n.op_type == "DuplicateStreams"]
    assert joins and len(forks) == len(joins)
    for j in joins:
        assert set(j.input) <= region
    for f in forks:   # the fork's own input is upstream of the region
        assert f.input[0] not in region
    first = core.graph.node[0]
    assert first.input[0] not in region and first.output[0] not in region


@pytest.mark.slow
def test_rtl_bit_exact_fixed_latency(step_graph, tmp_path):
    out = tmp_path / "b"
    proc = run_cli("compile", str(step_graph[0]), "--out", str(out), "--verify-clips", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = run_cli("sim", str(out), "--clips", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads((out / "sim" / "report.json").read_text())
    assert r["bit_exact"] is True and r["mismatches"] == 0
    lat = r["latency_cycles"]
    assert lat["max"] == lat["min"], lat
