"""Shared fixtures: a tiny Brevitas CNN exported to QONNX, reused by the stage smoke tests."""

from __future__ import annotations

import numpy as np
import pytest
from model_zoo import make_tiny_brevitas_cnn


@pytest.fixture(scope="session")
def tiny_qonnx(tmp_path_factory):
    """(torch model, path of its QONNX export, sample inputs (N,1,8,8) float32)."""
    import torch
    from brevitas.export import export_qonnx

    model = make_tiny_brevitas_cnn()
    path = tmp_path_factory.mktemp("tiny") / "tiny_qonnx.onnx"
    export_qonnx(model, torch.randn(1, 1, 8, 8), export_path=str(path))
    rng = np.random.default_rng(1)
    inputs = rng.standard_normal((8, 1, 1, 8, 8)).astype(np.float32)
    return model, path, inputs


from model_zoo import TSM_SIZE, TSM_T, run_cli  # noqa: E402  (shared with the test modules)


@pytest.fixture(scope="session")
def tsm_step_graph(tmp_path_factory):
    """A small random TSM step graph (16x16 frames, widths 8/16, 4 frames per clip)."""
    from model_zoo import export_random_tsm

    path = tmp_path_factory.mktemp("m") / "step.onnx"
    export_random_tsm(path, TSM_SIZE, (8, 16), TSM_T, num_classes=6, seed=1)
    return path


@pytest.fixture(scope="session")
def tsm_build(tsm_step_graph, tmp_path_factory):
    """`tsmfpga compile` of the small TSM at 2000 fps (RTL with simulation-sized FIFOs)."""
    out = tmp_path_factory.mktemp("build") / "b"
    proc = run_cli("compile", str(tsm_step_graph), "--out", str(out), "--target-fps", "2000",
                   "--verify-clips", "3")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


@pytest.fixture(scope="session")
def tsm_streams_build(tsm_step_graph, tmp_path_factory):
    """`tsmfpga compile --streams 4` of the small TSM at 2000 fps (analytical FIFO depths)."""
    out = tmp_path_factory.mktemp("streams") / "b"
    proc = run_cli("compile", str(tsm_step_graph), "--out", str(out), "--target-fps", "2000",
                   "--verify-clips", "2", "--fifo-sizing", "analytical", "--streams", "4")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


def pytest_addoption(parser):
    parser.addoption("--fuzz-examples", type=int, default=2,
                     help="random networks per fuzz test (CI tier: 2; `make fuzz`: 200)")
    parser.addoption("--fuzz-log", default=None,
                     help="append every fuzz example's outcome to this JSON-lines file (`make fuzz`)")
