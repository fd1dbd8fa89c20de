"""The config space as a property (issue 11): hypothesis draws TSM model configs -- weight and
activation bits 1..8 with their own first/last-layer weight bits, shift_div, shift direction,
stage widths, residual blocks per stage (0..2), input size, input channels, classes, frames --
and each example goes the way a user's would:

1. the config is validated (a config the product does not support is refused up front: a
   ``ValueError`` naming the ``model.<field>``, never a traceback from inside a library);
2. tiny QAT: the Brevitas network is trained for a few SGD steps on random clips (BatchNorm
   statistics, activation-quantizer scales and weights all move off their defaults);
3. QONNX step-graph export (online shift only: a bidirectional TSM is refused with a message);
4. `compile` with the default, simulation-sized FIFOs and the highest frame rate that fits (a
   network this small always fits the board: "does not fit" is a failure);
5. `sim` of the stitched RTL on 2 random clips under random valid/ready: bit-exact with the HW
   graph, no deadlock, and, with valid/ready always on, a fixed steady-state latency.

Every example's outcome is appended to ``out/regress/fuzz.jsonl`` when ``--fuzz-log`` is given
(`make fuzz`), so a long run leaves a record even if it is stopped. CI runs the fixed
``EXAMPLES`` through the same path; the generated property is in the slow tier (>= 100 examples)
and `make fuzz` (200, ``--fuzz-examples``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st


@st.composite
def configs(draw):
    stages = draw(st.integers(1, 3))
    # H, W divisible by 2**stages with a power-of-two final map (64 x 64 only with 3 stages)
    size = draw(st.sampled_from([8, 16, 32] + ([64] if stages == 3 else [])))
    return {
        "model": {
            "in_channels": draw(st.integers(1, 3)),
            "input_size": size,
            "widths": [draw(st.sampled_from([8, 16])) for _ in range(stages)],
            "blocks": [draw(st.integers(0, 2)) for _ in range(stages - 1)] + [draw(st.integers(0, 2))],
            "act_bits": draw(st.integers(1, 8)),
            "weight_bits": draw(st.integers(1, 8)),
            "first_weight_bits": draw(st.integers(1, 8)),
            "last_weight_bits": draw(st.integers(1, 8)),
            "shift_div": draw(st.sampled_from([2, 4, 8])),
            "shift_direction": draw(st.sampled_from(["online", "online", "online", "bidirectional"])),
            "num_classes": draw(st.integers(2, 6)),
        },
        "frames": draw(st.integers(2, 4)),
        "p_valid": draw(st.sampled_from([256, 200, 120])),
        "p_ready": draw(st.sampled_from([256, 160, 90])),
        "seed": draw(st.integers(0, 1000)),
    }


def _tiny_qat(net, n: dict, steps: int = 4):
    """A few real QAT steps (SGD on random clips and labels) after the quantizers' statistics."""
    import torch
    import torch.nn.functional as F

    m = n["model"]
    g = torch.Generator().manual_seed(n["seed"])
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    net.train()
    for _ in range(steps):
        x = torch.rand(4, n["frames"], m["in_channels"], m["input_size"], m["input_size"], generator=g)
        y = torch.randint(0, m["num_classes"], (4,), generator=g)
        loss = F.cross_entropy(net(x).mean(1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()


def _example(n: dict, tmp: Path) -> str:
    """One example end to end; returns its outcome ("refused: ..." or "bit-exact ...")."""
    import torch

    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig
    from tsmfpga.quant.export import export_step_graph
    from tsmfpga.quant.models import ModelConfig, VideoNet
    from tsmfpga.sim.fullsim import SimConfig, run_sim

    m = n["model"]
    cfg = ModelConfig(**{**m, "widths": tuple(m["widths"]), "blocks": tuple(m["blocks"])})
    try:
        cfg.validate()
    except ValueError as exc:   # refused up front, naming the field
        assert "model." in str(exc), f"refusal does not name the field: {exc}"
        return f"refused: {exc}"
    torch.manual_seed(n["seed"])
    net = VideoNet(cfg, "tsm", quantized=True)
    _tiny_qat(net, n)
    try:
        export_step_graph(net, tmp / "step.onnx", {"tsmfpga.frames": n["frames"]})
    except ValueError as exc:
        assert m["shift_direction"] == "bidirectional" and "online" in str(exc), exc
        return f"refused: {exc}"
    assert m["shift_direction"] == "online", "a bidirectional TSM exported as a step graph"
    report = run_compile(CompileConfig(model_path=tmp / "step.onnx", out=tmp / "build", verify_clips=2,
                                       seed=n["seed"]), log=lambda *a: None)
    assert report["python_exec"]["mismatches"] == 0, report["python_exec"]["traces"]
    r = run_sim(SimConfig(build_dir=tmp / "build", clips=2, p_valid=n["p_valid"], p_ready=n["p_ready"],
                          seed=n["seed"], golden=False, taps=n["p_valid"] == n["p_ready"] == 256),
                log=lambda *a: None)
    assert r["failures"] == [], r["failures"]
    return f"bit-exact, {report['fps_estimate']:.0f} fps (analytical)"


def _check(n: dict, log: Path | None, failed: list) -> None:
    """Run one example; a failure is logged and collected (not raised: hypothesis would shrink
    it, minutes per step here, and stop the run; the test fails at the end with every failure)."""
    t0 = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="tsmfpga-fuzz-") as tmp:
            outcome = _example(n, Path(tmp))
    except Exception as exc:
        outcome = f"FAILED: {type(exc).__name__}: {str(exc)[:400]}"
        failed.append({"example": n, "outcome": outcome})
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as f:
            f.write(json.dumps({"example": n, "outcome": outcome, "seconds": round(time.time() - t0, 1),
                                "date": time.strftime("%Y-%m-%d %H:%M %Z")}) + "\n")


def _property(request, examples: int, derandomize: bool) -> None:
    failed: list = []
    log = request.config.getoption("--fuzz-log")

    @settings(max_examples=examples, deadline=None, derandomize=derandomize, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(configs())
    def run(n):
        _check(n, Path(log) if log else None, failed)

    run()
    assert not failed, json.dumps(failed, indent=1)[:6000]


#: the CI tier: fixed examples through the same path (the generated ones run in `make fuzz`):
#: 1-bit binary weights with 3-bit activations (crashed QAT before), a last stage without blocks
#: and 8-bit activations (standalone thresholds), a refusal, and the first failure of a `make fuzz`
#: run (2026-12-01): a residual FIFO needing more than its one-frame sizing capacity (SizingCapError)
EXAMPLES = [
    {"model": {"in_channels": 1, "input_size": 16, "widths": [8, 16], "blocks": [1, 1], "act_bits": 3,
               "weight_bits": 1, "first_weight_bits": 8, "last_weight_bits": 8, "shift_div": 4,
               "shift_direction": "online", "num_classes": 3}, "frames": 3, "p_valid": 256, "p_ready": 256, "seed": 1},
    {"model": {"in_channels": 2, "input_size": 16, "widths": [8, 8], "blocks": [1, 0], "act_bits": 8,
               "weight_bits": 4, "first_weight_bits": 6, "last_weight_bits": 5, "shift_div": 8,
               "shift_direction": "online", "num_classes": 4}, "frames": 2, "p_valid": 200, "p_ready": 160, "seed": 2},
    {"model": {"in_channels": 1, "input_size": 16, "widths": [8], "blocks": [1], "act_bits": 4, "weight_bits": 4,
               "first_weight_bits": 8, "last_weight_bits": 8, "shift_div": 8, "shift_direction": "bidirectional",
               "num_classes": 2}, "frames": 2, "p_valid": 256, "p_ready": 256, "seed": 3},
    {"model": {"in_channels": 1, "input_size": 8, "widths": [16, 8], "blocks": [1, 1], "act_bits": 8,
               "weight_bits": 2, "first_weight_bits": 1, "last_weight_bits": 8, "shift_div": 4,
               "shift_direction": "online", "num_classes": 3}, "frames": 4, "p_valid": 256, "p_ready": 256, "seed": 51},
]


@pytest.mark.parametrize("k", range(len(EXAMPLES)))
def test_config_space_examples(request, k):
    failed: list = []
    log = request.config.getoption("--fuzz-log")
    _check(EXAMPLES[k], Path(log) if log else None, failed)
    assert not failed, json.dumps(failed, indent=1)[:6000]


@pytest.mark.slow
def test_fuzz_config_space(request):
    """Generated examples (`make fuzz`: --fuzz-examples, default 200; the slow tier: >= 100)."""
    _property(request, max(100, request.config.getoption("--fuzz-examples")), derandomize=False)


def test_refusals_name_the_field():
    """The configs the product refuses are refused up front, naming the field."""
    from tsmfpga.quant.models import ModelConfig

    with pytest.raises(ValueError, match="model.act_bits"):
        ModelConfig(act_bits=1).validate()
    with pytest.raises(ValueError, match="model.weight_bits"):
        ModelConfig(weight_bits=9).validate()
