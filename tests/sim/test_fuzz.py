"""Property-based RTL check: hypothesis draws random small quantized TSMs (conv, max pool, global
average pool, FC, temporal shift, residual blocks; random input channels, stage widths, activation
and weight bit widths, class count, clip length, target fps and so folding, valid/ready
probabilities, seed). The networks are not trained: weights keep their seeded random
initialization, and three train-mode forward passes on random clips (no gradient step) only move
the BatchNorm running statistics and the activation quantizers' scale statistics off their
defaults. Each network is exported as a QONNX step graph and compiled (a target the board cannot
meet is skipped, not a counterexample); the compiled HW graph must match the QONNX golden in
Python (the compile's own check), and its stitched RTL, simulated on Verilator on 2 random clips
under random valid/ready, must be bit-exact with the HW graph's Python execution and never
deadlock. The CI tier runs 2 examples; `make fuzz` runs 200 (--fuzz-examples)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st


@st.composite
def networks(draw):
    stages = draw(st.integers(1, 2))
    size = draw(st.sampled_from([8, 16])) if stages == 1 else 16
    return {
        "in_channels": draw(st.integers(1, 3)),
        "input_size": size,
        "widths": tuple(draw(st.sampled_from([8, 16])) for _ in range(stages)),
        # the last stage keeps a residual block: MaxPool straight into the global average pool
        # trips finn-plus' InferQuantAvgPool2d (MaxPool is not in its sign-preserving list)
        "blocks": tuple(draw(st.integers(0, 1)) for _ in range(stages - 1)) + (1,),
        "act_bits": draw(st.integers(2, 6)),
        "weight_bits": draw(st.integers(2, 6)),
        "first_weight_bits": draw(st.integers(3, 8)),
        "last_weight_bits": draw(st.integers(3, 8)),
        "num_classes": draw(st.integers(2, 6)),
        "frames": draw(st.integers(2, 3)),
        "target_fps": draw(st.sampled_from([None, 3000, 20000])),
        "p_valid": draw(st.sampled_from([256, 200, 120])),
        "p_ready": draw(st.sampled_from([256, 160, 90])),
        "seed": draw(st.integers(0, 1000)),
    }


def _export(path: Path, n: dict):
    import torch

    from tsmfpga.quant.export import export_step_graph
    from tsmfpga.quant.models import ModelConfig, VideoNet

    torch.manual_seed(n["seed"])
    cfg = ModelConfig(in_channels=n["in_channels"], input_size=n["input_size"], widths=n["widths"],
                      blocks=n["blocks"], num_classes=n["num_classes"], act_bits=n["act_bits"],
                      weight_bits=n["weight_bits"], first_weight_bits=n["first_weight_bits"],
                      last_weight_bits=n["last_weight_bits"])
    net = VideoNet(cfg, "tsm", quantized=True)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, n["frames"], n["in_channels"], n["input_size"], n["input_size"]))
    net.eval()
    export_step_graph(net, path, {"tsmfpga.frames": n["frames"]})


def _check(n: dict) -> None:
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig
    from tsmfpga.flow.folding import FoldingError
    from tsmfpga.core.graph import hw_core
    from tsmfpga.flow.rtlgen import simulate_hw_graph

    with tempfile.TemporaryDirectory(prefix="tsmfpga-fuzz-") as tmp:
        tmp = Path(tmp)
        _export(tmp / "step.onnx", n)
        cfg = CompileConfig(model_path=tmp / "step.onnx", out=tmp / "build", target_fps=n["target_fps"],
                            verify_clips=2, fifo_sizing="analytical", seed=n["seed"])
        try:
            report = run_compile(cfg, log=lambda *a: None)
        except FoldingError:
            assume(False)  # the random target does not fit the board: not a counterexample
        assert report["python_exec"]["mismatches"] == 0, report["python_exec"]["traces"]
        core = hw_core(ModelWrapper(str(tmp / "build" / "model_hw.onnx")))
        dt = core.get_tensor_datatype(core.graph.input[0].name)
        shape = core.get_tensor_shape(core.graph.input[0].name)
        rng = np.random.default_rng(n["seed"])
        clips = rng.integers(int(dt.min()), int(dt.max()) + 1, size=(2, n["frames"], *shape)).astype(np.float32)
        r = simulate_hw_graph(core, clips, tmp / "sim", p_valid=n["p_valid"], p_ready=n["p_ready"],
                              seed=n["seed"] + 1, log=lambda *a: None)
        assert not r["run"].timeout, f"deadlock or starvation: {n}"
        assert r["mismatches"] == 0, (n, r["got"][:16], r["expected"][:16])


def test_fuzz_random_networks(request):
    examples = request.config.getoption("--fuzz-examples")

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(networks())
    def run(n):
        _check(n)

    run()


@pytest.mark.slow
def test_fuzz_many(request):
    """The long run (`make fuzz`): like the CI test, at least 200 examples."""
    examples = max(200, request.config.getoption("--fuzz-examples"))

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(networks())
    def run(n):
        _check(n)

    run()
