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
