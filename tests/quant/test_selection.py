"""The training recipe: BatchNorm recalibration before validation, model selection on validation
(never on test), and the seed-spread aggregation of `tsmfpga qat --seeds`."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from tsmfpga.core.errors import UserFacingError
from tsmfpga.quant import seeds as qseeds
from tsmfpga.quant import stage as qstage
from tsmfpga.quant import train as qtrain
from tsmfpga.quant.config import QATConfig, TrainConfig
from tsmfpga.quant.models import ModelConfig, VideoNet, load_float_into_quant
from tsmfpga.quant.train import calibrate, recalibrate_bn, set_determinism, train_phase

MCFG = ModelConfig(in_channels=1, input_size=16, widths=(8, 8), blocks=(1, 1), num_classes=3)


def _data(seed=0, n=24):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 1, 16, 16), dtype=np.uint8), rng.integers(0, 3, n).astype(np.int64)


def _state(path):
    return torch.load(path, weights_only=False)["model"]


def _equal(sd_a, sd_b):
    return sd_a.keys() == sd_b.keys() and all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)


def _train(ckpt, tcfg, resume=False):
    set_determinism(0, 1)
    torch.manual_seed(0)
    net = VideoNet(MCFG, "tsm", quantized=False)
    hist = train_phase("p", net, _data(0), _data(1, 8), 3, 0.05, tcfg, 0, ckpt, resume=resume, log=lambda s: None)
    return net, hist


@pytest.mark.parametrize("select", [True, False])
def test_selection_restores_best_val_weights(tmp_path, monkeypatch, select):
    scripted = iter([0.5, 0.9, 0.7] * 2)  # validation accuracy per epoch: epoch 2 is the best
    monkeypatch.setattr(qtrain, "_val_accuracy", lambda *a, **k: next(scripted))
    tcfg = TrainConfig(batch_size=8, threads=1, bn_recal_batches=2, select_best_val=select)
    net, hist = _train(tmp_path, tcfg)
    chosen = 2 if select else 3
    assert [row["selected"] for row in hist] == [row["epoch"] == chosen for row in hist]
    assert _equal(net.state_dict(), _state(tmp_path / f"p_e00{chosen}.pt"))
    assert not _equal(_state(tmp_path / "p_e002.pt"), _state(tmp_path / "p_e003.pt"))
    # resuming the finished phase (no epoch left to train) restores the same epoch
    again, hist2 = _train(tmp_path, tcfg, resume=True)
    assert _equal(again.state_dict(), net.state_dict()) and hist2 == hist


def test_select_epoch_is_best_val_later_on_ties():
    rows = [{"epoch": 1, "val_acc": 0.4, "test_acc": 0.99}, {"epoch": 2, "val_acc": 0.8},
            {"epoch": 3, "val_acc": 0.8}, {"epoch": 4, "val_acc": 0.6}]
    assert qtrain.select_epoch(rows) == 3


class _Poison:
    """A test split that fails on any use: training and selection must never touch it."""

    def __getattr__(self, name):
        raise AssertionError(f"the test split was used during training ({name})")

    def __getitem__(self, key):
        raise AssertionError("the test split was indexed during training")

    def __len__(self):
        raise AssertionError("the test split was measured during training")

    def __array__(self, *args, **kwargs):
        raise AssertionError("the test split was converted during training")


def test_training_and_selection_never_touch_the_test_split(tmp_path):
    poison = _Poison()
    data = qstage.TaskData(train=_data(0, 32), val=_data(1, 8), test=(poison, poison),
                           class_names=("a", "b", "c"), info={"task": "motion"})
    cfg = QATConfig(model=dataclasses.replace(MCFG),
                    train=TrainConfig(batch_size=8, threads=1, tsn_epochs=1, calib_batches=1, bn_recal_batches=2))
    set_determinism(0, 1)
    res = qstage.train_models(cfg, data, "", tmp_path, False, lambda s: None, float_epochs=2, qat_epochs=1,
                              with_tsn=True)
    assert set(res["history"]) == {"tsn_float", "tsm_float", "tsm_qat"}
    for rows in res["history"].values():
        assert sum(row["selected"] for row in rows) == 1 and all("test" not in k for row in rows for k in row)


def test_bn_recalibration_averages_batch_statistics_and_leaves_the_rest(tmp_path):
    set_determinism(0, 1)
    x, _ = _data(0, 32)
    torch.manual_seed(0)
    float_net = VideoNet(MCFG, "tsm", quantized=False)
    q = VideoNet(MCFG, "tsm", quantized=True)
    load_float_into_quant(q, float_net.state_dict())
    calibrate(q, x, 8, 2)
    for net in (float_net, q):
        before = {k: v.clone() for k, v in net.state_dict().items()}
        seen, mode = [], net.training
        hook = net.stages[0].bn.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
        assert recalibrate_bn(net, x, 8, 3, seed=5) == 3
        hook.remove()
        assert len(seen) == 3 and net.training == mode  # the mode it was in
        expect = torch.stack([s.mean((0, 2, 3)) for s in seen]).mean(0)
        assert torch.allclose(net.stages[0].bn.running_mean, expect, atol=1e-6)
        after = net.state_dict()
        changed = {k for k in after if not torch.equal(after[k], before[k])}
        assert changed and all(".bn" in k and k.rsplit(".", 1)[1] in ("running_mean", "running_var",
                                                                      "num_batches_tracked") for k in changed)
        assert net.stages[0].bn.momentum == 0.1
        state = {k: v.clone() for k, v in after.items()}
        recalibrate_bn(net, x, 8, 3, seed=5)  # seeded: the same batches, the same statistics
        assert _equal(state, net.state_dict())
    assert recalibrate_bn(float_net, x, 8, 0, seed=5) == 0


def _figures(tsn, flt, quant, recall):
    return {"tsn": {"top1": tsn}, "float": {"top1": flt}, "quant": {"top1": quant},
            "deltas": {"tsm_minus_tsn_points": 100 * (flt - tsn), "quant_minus_float_points": 100 * (quant - flt)},
            "alarm": {"recall": recall, "precision": 0.5, "threshold": 0.3},
            "selected_epochs": {"tsm_float": 9}, "seconds": 1.0}


def test_seed_spread_aggregation():
    per_seed = {s: qseeds.seed_figures(_figures(*v)) for s, v in
                {0: (0.30, 0.90, 0.91, 0.95), 1: (0.25, 0.92, 0.90, 1.0), 2: (0.28, 0.88, 0.89, 0.97)}.items()}
    agg = qseeds.aggregate(per_seed, {"name": "x"})
    assert agg["complete"] and agg["seeds"] == [0, 1, 2] and agg["per_seed"]["1"]["tsm_float_top1"] == 0.92
    for name, values in {"tsn_top1": [0.30, 0.25, 0.28], "tsm_float_top1": [0.90, 0.92, 0.88],
                         "tsm_quant_top1": [0.91, 0.90, 0.89], "alarm_recall": [0.95, 1.0, 0.97],
                         "tsm_minus_tsn_points": [60, 67, 60]}.items():
        st = agg["spread"][name]
        assert st["n"] == 3 and st["mean"] == pytest.approx(np.mean(values))
        assert st["std"] == pytest.approx(np.std(values, ddof=1)) and st["min"] == min(values)
    assert agg["per_seed"]["0"]["selected_epochs"] == {"tsm_float": 9}
    one = qseeds.aggregate({0: per_seed[0]})
    assert one["spread"]["tsn_top1"]["std"] is None
    no_alarm = dict(per_seed[0], alarm_recall=None)
    assert "alarm_recall" not in qseeds.aggregate({0: no_alarm, 1: per_seed[1]})["spread"]
    assert "±" in qseeds.summary(agg)
    assert qseeds.parse_seeds("0,1, 2") == [0, 1, 2]
    for bad in ("", "0,0", "a", "-1"):
        with pytest.raises(UserFacingError):
            qseeds.parse_seeds(bad)


def test_run_seeds_writes_one_folder_per_seed_and_resumes(tmp_path, monkeypatch):
    calls = []

    def fake_run_qat(cfg, out, resume=False, log=None):
        calls.append(cfg.seed)
        report = {**_figures(0.2 + cfg.seed / 100, 0.9, 0.9, 1.0), "config": {"seed": cfg.seed}}
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report))
        return report

    monkeypatch.setattr(qseeds, "run_qat", fake_run_qat)
    cfg = QATConfig(name="t")
    agg = qseeds.run_seeds(cfg, [0, 3], tmp_path, log=lambda s: None)
    assert calls == [0, 3] and cfg.seed == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "seed_0", "seed_3"]
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(json.dumps(agg))
    assert agg["spread"]["tsn_top1"]["mean"] == pytest.approx(0.215)
    qseeds.run_seeds(cfg, [0, 3, 4], tmp_path, resume=True, log=lambda s: None)
    assert calls == [0, 3, 4]  # finished seeds are kept on resume
