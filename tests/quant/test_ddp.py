"""Data-parallel training under torchrun (gloo, CPU): 2 processes vs 1, and resume across world sizes.

The fast tests drive ``train_phase`` through a small script launched by torchrun; the slow test runs
the whole stage (``tsmfpga qat --nproc 2``) on a shrunk tiny config.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

SCRIPT = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    import numpy as np, torch
    from tsmfpga.quant import dist
    from tsmfpga.quant.config import TrainConfig
    from tsmfpga.quant.models import ModelConfig, VideoNet, load_float_into_quant
    from tsmfpga.quant.train import calibrate, set_determinism, train_phase

    out, quantized, stop, resume = Path(sys.argv[1]), sys.argv[2] == "q", int(sys.argv[3]), sys.argv[4] == "r"
    ctx = dist.setup("cpu")
    set_determinism(0, 1)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (36, 3, 1, 16, 16), dtype=np.uint8)
    x[:, :, :, :8] //= 4  # a learnable difference between classes
    y = (x[:, :, :, 8:].mean((1, 2, 3, 4)) > x[:, :, :, :8].mean((1, 2, 3, 4)) * 3).astype(np.int64)
    torch.manual_seed(0)
    mcfg = ModelConfig(in_channels=1, input_size=16, widths=(8, 8), blocks=(1, 1), num_classes=2)
    net = VideoNet(mcfg, "tsm", quantized=False)
    if quantized:
        q = VideoNet(mcfg, "tsm", quantized=True)
        load_float_into_quant(q, net.state_dict())
        calibrate(q, x, 8, 2)
        net = q
    # 36 clips, global batch 8: the last batch (4) is cut unevenly at 3 ranks
    hist = train_phase("p", net, (x[:28], y[:28]), (x[28:], y[28:]), 3, 0.05,
                       TrainConfig(batch_size=8, threads=1), 0, out / "ckpt", resume=resume,
                       log=lambda s: None, stop_after_epoch=stop or None)
    torch.save(net.state_dict(), out / f"rank{ctx.rank}.pt")
    if ctx.is_main:
        torch.save(net.state_dict(), out / "final.pt")
        (out / "history.json").write_text(json.dumps(hist))
    dist.teardown()
''')


def _run(tmp_path: Path, out: Path, nproc: int, quantized: bool, stop: int = 0, resume: bool = False):
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT)
    out.mkdir(parents=True, exist_ok=True)
    args = [str(script), str(out), "q" if quantized else "f", str(stop), "r" if resume else "n"]
    cmd = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
           if nproc > 1 else [sys.executable, *args])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ref = torch.load(out / "rank0.pt")
    for r in range(1, nproc):  # DDP keeps every rank's parameters and buffers (incl. quantizer scales) equal
        other = torch.load(out / f"rank{r}.pt")
        assert all(torch.equal(ref[k], other[k]) for k in ref), f"rank {r} diverged from rank 0"
    return torch.load(out / "final.pt"), json.loads((out / "history.json").read_text())


def _close(a: dict, b: dict, rel: float) -> bool:
    """All floating tensors, as one vector, within ``rel`` (L2): BatchNorm's per-shard batch statistics
    move the weights a little (more under 4-bit QAT from a random start, where weight codes flip)."""
    keys = [k for k in a if a[k].is_floating_point()]
    va, vb = (torch.cat([d[k].flatten() for k in keys]) for d in (a, b))
    return float((va - vb).norm()) <= rel * float(va.norm())


@pytest.mark.parametrize("quantized", [False, True], ids=["float", "qat"])
def test_two_processes_match_one_and_resume_at_one(tmp_path, quantized):
    rel = 0.15 if quantized else 0.05
    one, h1 = _run(tmp_path, tmp_path / "one", 1, quantized)
    two, h2 = _run(tmp_path, tmp_path / "two", 2, quantized)
    assert one.keys() == two.keys()
    # same global batches and the global-mean gradient: only BatchNorm's per-shard batch statistics
    # differ, so the weights stay close and the curves agree
    assert _close(one, two, rel)
    for a, b in zip(h1, h2):
        assert abs(a["train_loss"] - b["train_loss"]) < 0.02
        assert abs(a["val_acc"] - b["val_acc"]) <= 0.25
    # interrupted at 2 processes after epoch 1, resumed at 1: completes, epoch 1 kept
    _run(tmp_path, tmp_path / "cut", 2, quantized, stop=1)
    ckpt = torch.load(tmp_path / "cut" / "ckpt" / "p_e001.pt", weights_only=False)
    assert ckpt["world_size"] == 2 and not (tmp_path / "cut" / "ckpt" / "p_e002.pt").exists()
    resumed, hr = _run(tmp_path, tmp_path / "cut", 1, quantized, resume=True)
    assert [h["epoch"] for h in hr] == [1, 2, 3] and hr[0] == h2[0]
    assert _close(one, resumed, rel)


def test_three_processes_uneven_last_batch(tmp_path):
    three, h3 = _run(tmp_path, tmp_path / "three", 3, False)
    assert len(h3) == 3 and all(h["train_loss"] > 0 for h in h3)


SHRUNK = """
seed: 0
data: {task: motion, train_clips: 96, val_clips: 24, test_clips: 24, frames: 6, size: 32}
model: {in_channels: 1, input_size: 32, widths: [8, 8], blocks: [1, 1], shift_div: 8, weight_bits: 4, act_bits: 4}
train: {batch_size: 16, float_epochs: 2, tsn_epochs: 1, qat_epochs: 1, calib_batches: 2}
alarm: {enabled: true, train_clips: 48, val_clips: 24, test_clips: 24, float_epochs: 1, qat_epochs: 1}
export: {check_clips: 2}
"""


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tsmfpga", *args], capture_output=True, text=True, timeout=1200)


def _quant(*args):
    return subprocess.run([sys.executable, "-m", "tsmfpga.quant", *args], capture_output=True, text=True,
                          timeout=1200)


@pytest.mark.slow
def test_stage_two_processes_same_layout_and_accuracy_then_resume_across_world_sizes(tmp_path):
    cfg = tmp_path / "shrunk.yaml"
    cfg.write_text(SHRUNK)
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"n{n}" / "qat"
        proc = _cli("qat", "--config", str(cfg), "--out", str(out), "--nproc", str(n))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs[n] = out, json.loads((out / "report.json").read_text())
    layout = {n: sorted(p.relative_to(o).as_posix() for p in o.rglob("*")) for n, (o, _) in runs.items()}
    assert layout[1] == layout[2]
    r1, r2 = runs[1][1], runs[2][1]
    for key in ("float", "quant", "tsn"):
        assert abs(r1[key]["top1"] - r2[key]["top1"]) <= 0.25, key
    for phase, h in r1["history"].items():
        assert [row["epoch"] for row in h] == [row["epoch"] for row in r2["history"][phase]]
        assert abs(h[-1]["train_loss"] - r2["history"][phase][-1]["train_loss"]) < 0.05, phase
    # interrupted at 2 processes, resumed at 1
    out = tmp_path / "cut" / "qat"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           "-m", "tsmfpga.quant", "--config", str(cfg), "--out", str(out),
                           "--stop-after", "tsm_float:1"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0 and "--resume" in proc.stderr, proc.stderr[-3000:]
    assert not (out / "report.json").exists() and (out / "ckpt" / "tsm_float_e001.pt").exists()
    assert not (out / "ckpt" / "tsm_float_e002.pt").exists()
    proc = _quant("--config", str(cfg), "--out", str(out), "--resume")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "resumed from tsm_float_e001.pt" in proc.stdout
    rep = json.loads((out / "report.json").read_text())
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == layout[1]
    assert rep["export"]["argmax_equal"] is True
