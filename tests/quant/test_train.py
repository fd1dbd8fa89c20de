"""Seeded training; an interrupted run resumed with --resume reaches the same final weights."""

import numpy as np
import torch

from tsmfpga.quant.config import TrainConfig
from tsmfpga.quant.models import ModelConfig, VideoNet, load_float_into_quant
from tsmfpga.quant.train import calibrate, latest_checkpoint, set_determinism, train_phase

MCFG = ModelConfig(in_channels=1, input_size=16, widths=(8, 8), blocks=(1, 1), num_classes=3)
TCFG = TrainConfig(batch_size=8, calib_batches=2, threads=1)


def _data(seed=0, n=24):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 3, 1, 16, 16), dtype=np.uint8)
    y = rng.integers(0, 3, n).astype(np.int64)
    return x, y


def _run(phase, quantized, ckpt, stop_after=None, resume=False):
    set_determinism(0, 1)
    torch.manual_seed(0)
    net = VideoNet(MCFG, "tsm", quantized=False)
    if quantized:
        q = VideoNet(MCFG, "tsm", quantized=True)
        load_float_into_quant(q, net.state_dict())
        calibrate(q, _data()[0], 8, 2)
        net = q
    hist = train_phase(phase, net, _data(0), _data(1, 8), 3, 0.05, TCFG, 0, ckpt, resume=resume,
                       log=lambda s: None, stop_after_epoch=stop_after)
    return net, hist


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_reaches_identical_weights_float_and_qat(tmp_path):
    for quantized in (False, True):
        phase = "q" if quantized else "f"
        full, hist_full = _run(phase, quantized, tmp_path / "full")
        _run(phase, quantized, tmp_path / "cut", stop_after=1)
        assert latest_checkpoint(tmp_path / "cut", phase)[0] == 1
        resumed, hist_res = _run(phase, quantized, tmp_path / "cut", resume=True)
        assert _same(full, resumed), f"resumed {phase} weights differ from the uninterrupted run"
        assert [h["train_loss"] for h in hist_full] == [h["train_loss"] for h in hist_res]
        assert len(hist_res) == 3


def test_training_changes_weights_and_is_seeded(tmp_path):
    a, _ = _run("f", False, tmp_path / "a")
    b, _ = _run("f", False, tmp_path / "b")
    assert _same(a, b)
    torch.manual_seed(0)
    init = VideoNet(MCFG, "tsm", quantized=False)
    assert not _same(a, init)
