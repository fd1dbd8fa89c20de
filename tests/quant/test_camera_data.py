"""The camera-scale synthetic tasks (quant/data/camera.py): shapes, determinism, balance, the
time-reversal construction, the alarm's positive fraction, config errors, cache and montage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tsmfpga.quant.config import ConfigError, QATConfig, validate
from tsmfpga.quant.data import camera as cam
from tsmfpga.quant.data import synthetic as syn
from tsmfpga.quant.data.camera import (
    CAMERA_ALARM_SCENARIOS,
    CAMERA_CLASSES,
    CAMERA_PAIRS,
    CameraAlarmConfig,
    CameraConfig,
    make_camera_alarm_clips,
    make_camera_clips,
)

SMALL = CameraConfig(T=6, size=32)


def test_shapes_dtype_and_balance():
    cs = make_camera_clips(23, "train", 0, SMALL)
    assert cs.x.shape == (23, 6, 3, 32, 32) and cs.x.dtype == np.uint8
    assert cs.y.dtype == np.int64 and cs.class_names == CAMERA_CLASSES
    counts = np.bincount(cs.y, minlength=len(CAMERA_CLASSES))
    assert counts.min() >= 23 // 10 and counts.max() <= 23 // 10 + 1
    assert cs.x.std() > 10, "frames must not be flat"
    assert set(cs.meta) >= {"distractors", "occluded"} and len(cs.meta["distractors"]) == 23


def test_size_48_and_default_size():
    assert make_camera_clips(3, "val", 1, CameraConfig(T=4, size=48)).x.shape == (3, 4, 3, 48, 48)
    assert CameraConfig().size >= 96 and CameraConfig().T == 8


def test_deterministic_and_splits_differ():
    a = make_camera_clips(10, "train", 5, SMALL)
    b = make_camera_clips(10, "train", 5, SMALL)
    assert a.x.tobytes() == b.x.tobytes() and np.array_equal(a.y, b.y)
    for other in (make_camera_clips(10, "val", 5, SMALL), make_camera_clips(10, "test", 5, SMALL),
                  make_camera_clips(10, "train", 6, SMALL)):
        assert other.x.tobytes() != a.x.tobytes()
    al = make_camera_alarm_clips(10, "test", 2, CameraAlarmConfig(T=6, size=32))
    assert al.x.tobytes() == make_camera_alarm_clips(10, "test", 2, CameraAlarmConfig(T=6, size=32)).x.tobytes()


def test_reversed_class_is_the_time_reversal_of_the_forward_class(monkeypatch):
    """Same random draws with the second label of a pair = the same frames in reverse order."""
    for fwd, rev in CAMERA_PAIRS:
        a, _, _ = cam._camera_clip(fwd, np.random.default_rng(7), SMALL)
        b, _, _ = cam._camera_clip(rev, np.random.default_rng(7), SMALL)
        assert np.array_equal(a[::-1], b), (CAMERA_CLASSES[fwd], CAMERA_CLASSES[rev])
        assert np.array_equal(a.mean(0), b.mean(0))  # the mean frame a TSN sees is identical
        assert not np.array_equal(a, b)


def test_forward_actions_move_the_target_as_named():
    """The target's pose follows the class (walk right increases x; approach grows; raise lifts)."""
    rng = np.random.default_rng(3)
    T, S = 8, 96
    cfg = CameraConfig(T=T, size=S)
    p = cam._idle_pose(rng, T, 48.0, 90.0, 50.0)
    cam._action("walk", rng, cfg, p, 2.0)
    assert np.all(np.diff(p.cx) > 0)
    p = cam._idle_pose(rng, T, 48.0, 90.0, 50.0)
    cam._action("raise_arm", rng, cfg, p, 0.0)
    arm = np.maximum(np.abs(p.arm_r), np.abs(p.arm_l))
    assert arm[-1] > arm[0] + 1.0 and np.all(np.diff(arm) >= -1e-9)
    p = cam._idle_pose(rng, T, 48.0, 90.0, 50.0)
    cam._action("bend_down", rng, cfg, p, 0.0)
    assert p.bend[-1] > p.bend[0] + 0.4
    p = cam._idle_pose(rng, T, 48.0, 90.0, 50.0)
    item = cam._action("pick_up", rng, cfg, p, 0.0)
    assert item["pos"][-1, 1] < item["pos"][0, 1], "the item ends higher (in the hand) than it started"


def test_alarm_positive_fraction_and_reversal():
    cfg = CameraAlarmConfig(T=6, size=32, positive_fraction=0.25)
    cs = make_camera_alarm_clips(40, "train", 0, cfg)
    assert cs.x.shape == (40, 6, 3, 32, 32) and cs.x.dtype == np.uint8
    assert int(cs.y.sum()) == 10 and cs.class_names == cam.CAMERA_ALARM_CLASSES
    scen = cs.meta["scenario"]
    assert np.array_equal(cs.y, (scen == 0).astype(np.int64))
    assert set(np.unique(scen[cs.y == 0])) <= set(range(1, len(CAMERA_ALARM_SCENARIOS)))
    # "returned" is the time reversal of "concealed" drawn with the same random numbers
    a, _, _ = cam._alarm_clip("concealed", np.random.default_rng(4), cfg)
    b, _, _ = cam._alarm_clip("returned", np.random.default_rng(4), cfg)
    assert np.array_equal(a[::-1], b) and not np.array_equal(a, b)


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="size"):
        make_camera_clips(2, "train", 0, CameraConfig(size=24))
    with pytest.raises(ValueError, match="'dev'"):
        make_camera_clips(2, "dev", 0, SMALL)
    with pytest.raises(ValueError, match="positive_fraction"):
        make_camera_alarm_clips(2, "train", 0, CameraAlarmConfig(size=32, positive_fraction=1.5))
    with pytest.raises(ValueError, match="negative_mix"):
        make_camera_alarm_clips(2, "train", 0, CameraAlarmConfig(size=32, negative_mix=(1.0, 0.0)))


def _camera_qat(size: int, **data) -> QATConfig:
    cfg = QATConfig()
    cfg.data = dataclasses.replace(cfg.data, task="camera", size=size, **data)
    cfg.model = dataclasses.replace(cfg.model, input_size=size, in_channels=3)
    return cfg


def test_config_validation_names_the_key():
    validate(_camera_qat(64))
    with pytest.raises(ConfigError, match="data.size"):
        validate(_camera_qat(24))
    with pytest.raises(ConfigError, match="data.motion.speed"):
        validate(_camera_qat(64, motion={"speed": 1.0}))
    with pytest.raises(ConfigError, match="data.motion"):
        validate(_camera_qat(64, motion={"start_jitter": 0.9}))


def test_cache_round_trip_and_montage(tmp_path, monkeypatch):
    cfg = CameraConfig(T=4, size=32)
    first = syn.load_or_make("camera", 10, "train", 1, cfg, cache_dir=tmp_path)
    monkeypatch.setattr(cam, "make_camera_clips", lambda *a, **k: pytest.fail("should load the cache"))
    second = syn.load_or_make("camera", 10, "train", 1, cfg, cache_dir=tmp_path)
    assert second.x.tobytes() == first.x.tobytes() and second.class_names == CAMERA_CLASSES
    acfg = CameraAlarmConfig(T=4, size=32)
    alarm = syn.load_or_make("camera_alarm", 10, "val", 1, acfg, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2 and alarm.x.shape[2] == 3
    with pytest.raises(ValueError, match="camera"):
        syn.load_or_make("camera", 10, "train", 1, None, cache_dir=tmp_path)
    # a new generator version is a new cache entry even for the same config
    key = syn._cache_key("camera", 10, "train", 1, cfg)
    monkeypatch.setattr(CameraConfig, "GENERATOR_VERSION", CameraConfig.GENERATOR_VERSION + 1)
    assert syn._cache_key("camera", 10, "train", 1, cfg) != key
    png = syn.save_montage(alarm, tmp_path / "m.png", per_class=1, scenario_names=CAMERA_ALARM_SCENARIOS)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
