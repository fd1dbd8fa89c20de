"""`tsmfpga qat` end to end on the tiny config, and its bad-input behaviour."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tsmfpga.quant.export import read_metadata

REQUIRED = ["float.top1", "quant.top1", "tsn.top1", "export.clips", "export.max_abs_diff",
            "export.argmax_equal", "alarm.threshold", "alarm.precision", "alarm.recall", "alarm.f2"]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tsmfpga", *args], capture_output=True, text=True, cwd=cwd)


def _get(d, dotted):
    for part in dotted.split("."):
        d = d[part]
    return d


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny config under the demo budget (what `make demo` runs): its QAT phase is capped."""
    out = tmp_path_factory.mktemp("qat") / "qat"
    proc = _cli("qat", "--config", "tiny", "--out", str(out), "--budget", "demo")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


def test_tiny_report_has_every_figure(tiny_run):
    out, proc = tiny_run
    report = json.loads((out / "report.json").read_text())
    for key in REQUIRED:
        value = _get(report, key)
        assert value is not None, key
    assert report["export"]["clips"] == 4 and report["export"]["argmax_equal"] is True
    assert np.load(out / "test_clips.npy").shape == (4, 6, 1, 32, 32)
    assert report["export"]["max_abs_diff"] < 1e-4
    for png in report["plots"].values():
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "TSM quantized" in proc.stdout


def test_demo_budget_is_applied_and_said(tiny_run):
    """tiny trains 2 QAT epochs; the demo budget caps them at 1, says so on screen and in the report."""
    out, proc = tiny_run
    report = json.loads((out / "report.json").read_text())
    assert report["budget"] == {"name": "demo", "epochs_capped": {"train.qat_epochs": [2, 1]},
                                "full_budget": False}
    assert [row["epoch"] for row in report["history"]["tsm_qat"]] == [1]
    assert report["config"]["train"]["qat_epochs"] == 1 and report["config"]["budget"] == "demo"
    assert "TRAINING BUDGET 'demo'" in proc.stdout and "train.qat_epochs 2 -> 1" in proc.stdout


def test_budget_caps_only_what_is_above_them():
    from tsmfpga.quant.config import BUDGETS, apply_budget, load_config

    cfg = load_config("reference")
    assert apply_budget(cfg) == {}  # full: as written
    cfg.budget = "demo"
    capped = apply_budget(cfg)
    assert capped == {k: [v, BUDGETS["demo"][k]] for k, v in {
        "train.tsn_epochs": 10, "train.float_epochs": 10, "train.qat_epochs": 2, "alarm.float_epochs": 6}.items()}
    assert (cfg.train.float_epochs, cfg.alarm.qat_epochs) == (BUDGETS["demo"]["train.float_epochs"], 1)


def test_unknown_budget_fails_before_writing(tmp_path):
    proc = _cli("qat", "--config", "tiny", "--out", str(tmp_path / "q"), "--budget", "weekend")
    assert proc.returncode != 0
    assert "budget = 'weekend'; use one of full, demo" in proc.stderr
    assert not (tmp_path / "q").exists()


def test_tiny_export_metadata(tiny_run):
    out, _ = tiny_run
    meta = read_metadata(out / "model.onnx")
    assert meta["tsmfpga.frames"] == 6
    assert meta["tsmfpga.shift_direction"] == "online" and meta["tsmfpga.shift_div"] == 8
    assert len(meta["tsmfpga.class_names"]) == 10
    assert abs(meta["tsmfpga.input_scale"] - 1 / 255) < 1e-9 and meta["tsmfpga.input_zero_point"] == 0
    alarm = read_metadata(out / "alarm.onnx")
    assert 0 <= alarm["tsmfpga.alarm_threshold"] <= 1


def test_unknown_key_fails_cleanly(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  epochs: 3\n")
    out = tmp_path / "o"
    proc = _cli("qat", "--config", str(cfg), "--out", str(out))
    assert proc.returncode != 0
    assert "train.epochs" in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "report.json").exists()


def test_bit_width_out_of_range_fails_cleanly(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  act_bits: 12\n")
    proc = _cli("qat", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert proc.returncode != 0 and "act_bits" in proc.stderr


def test_missing_dataset_folder_fails_cleanly(tmp_path):
    cfg = tmp_path / "video.yaml"
    cfg.write_text(f"data:\n  task: video\n  video_root: {tmp_path / 'nope'}\n  size: 32\n")
    out = tmp_path / "o"
    proc = _cli("qat", "--config", str(cfg), "--out", str(out))
    assert proc.returncode != 0
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "report.json").exists() and not (out / "model.onnx").exists()


def test_alarm_with_too_few_frames_fails_before_training(tmp_path):
    from tsmfpga.quant.config import ConfigError, load_config

    cfg = tmp_path / "short.yaml"
    cfg.write_text("data:\n  frames: 4\n")
    with pytest.raises(ConfigError, match="data.frames"):
        load_config(str(cfg))
    cfg.write_text("data:\n  frames: 4\nalarm:\n  enabled: false\n")
    assert load_config(str(cfg)).data.frames == 4
