"""Synthetic digit-video datasets: format, determinism, splits, motion-only labels, cache."""

from __future__ import annotations

import numpy as np
import pytest

from tsmfpga.quant.data import synthetic as syn
from tsmfpga.quant.data.synthetic import (
    MOTION_CLASSES,
    AlarmConfig,
    MotionConfig,
    load_or_make,
    make_alarm_clips,
    make_motion_clips,
)


@pytest.fixture(scope="module")
def motion_big():
    # 200 clips per class: enough for the linear probes below
    return make_motion_clips(2000, "train", 11)


def _check_format(cs, n, cfg):
    assert cs.x.shape == (n, cfg.T, 1, cfg.size, cfg.size)
    assert cs.x.dtype == np.uint8 and cs.y.dtype == np.int64 and cs.y.shape == (n,)
    assert cs.x.max() > 200 and cs.x.min() < 30, "clips should use most of the 0..255 range"
    assert cs.y.min() >= 0 and cs.y.max() < len(cs.class_names)


def test_motion_format_and_balance():
    cfg = MotionConfig()
    cs = make_motion_clips(105, "train", 0)
    _check_format(cs, 105, cfg)
    assert cs.class_names == MOTION_CLASSES and len(MOTION_CLASSES) == 10
    assert MOTION_CLASSES[:4] == ("right", "left", "down", "up")
    counts = np.bincount(cs.y, minlength=10)
    assert counts.min() == 10 and counts.max() == 11 and counts.sum() == 105
    assert not np.array_equal(cs.y[:20], np.sort(cs.y[:20])), "labels should be shuffled"


def test_motion_custom_config_shapes():
    cfg = MotionConfig(T=6, size=40, distractor_prob=1.0, occlusion_prob=1.0)
    cs = make_motion_clips(20, "val", 0, cfg)
    _check_format(cs, 20, cfg)
    assert (cs.meta["distractor_idx"] >= 0).all()


def test_alarm_format_and_positive_fraction():
    cfg = AlarmConfig()
    cs = make_alarm_clips(500, "train", 0)
    _check_format(cs, 500, cfg)
    assert cs.class_names[1] == "concealed"
    assert abs(cs.y.mean() - 0.2) < 0.01
    scen = cs.meta["scenario"]
    assert set(np.unique(scen)) == {0, 1, 2, 3}  # every negative type occurs
    assert np.array_equal(cs.y, (scen == 0).astype(np.int64))
    cs2 = make_alarm_clips(200, "train", 0, AlarmConfig(positive_fraction=0.5))
    assert abs(cs2.y.mean() - 0.5) < 0.01


def test_deterministic_and_seed_dependent():
    a, b = make_motion_clips(30, "train", 5), make_motion_clips(30, "train", 5)
    assert a.x.tobytes() == b.x.tobytes() and np.array_equal(a.y, b.y)
    c = make_motion_clips(30, "train", 6)
    assert not np.array_equal(a.x, c.x)
    v = make_motion_clips(30, "val", 5)
    assert not np.array_equal(a.x, v.x), "val must use its own random stream"
    p, q = make_alarm_clips(30, "test", 1), make_alarm_clips(30, "test", 1)
    assert p.x.tobytes() == q.x.tobytes() and np.array_equal(p.y, q.y)
    assert not np.array_equal(p.x, make_alarm_clips(30, "test", 2).x)


def test_train_test_digits_disjoint():
    pools = {s: set(syn.split_digit_indices(s).tolist()) for s in ("train", "val", "test")}
    assert pools["train"] == pools["val"] and not pools["train"] & pools["test"]
    assert len(pools["train"]) + len(pools["test"]) == 1797
    used = {}
    for s in ("train", "test"):
        m = make_motion_clips(300, s, 0, MotionConfig(distractor_prob=1.0))
        a = make_alarm_clips(100, s, 0)
        used[s] = set(m.used_digit_indices().tolist()) | set(a.used_digit_indices().tolist())
        assert used[s] <= pools[s]
    assert len(used["train"]) > 100 and len(used["test"]) > 100
    assert not used["train"] & used["test"]


def _pool16(x):
    """(N, T, 1, 32, 32) uint8 -> (N, T, 256) float, 2x2 average pooled."""
    n, t = x.shape[:2]
    f = x[:, :, 0].astype(np.float32) / 255.0
    return f.reshape(n, t, 16, 2, 16, 2).mean((3, 5)).reshape(n, t, 256)


def _probe(train_x, train_y, test_x, test_y):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=0.05, max_iter=2000).fit(train_x, train_y)
    return model.score(test_x, test_y)


@pytest.mark.parametrize(
    "pair", syn.MOTION_PAIRS, ids=lambda p: f"{MOTION_CLASSES[p[0]]}-{MOTION_CLASSES[p[1]]}"
)
def test_single_frames_carry_no_direction(motion_big, pair):
    """Within a direction pair, a linear probe on single frames (and on the frame average, i.e.
    what TSN sees) is at chance; on frame differences / the whole clip it is not."""
    a, b = pair
    sel = np.flatnonzero((motion_big.y == a) | (motion_big.y == b))
    x = _pool16(motion_big.x[sel])
    y = (motion_big.y[sel] == b).astype(np.int64)
    n, T = x.shape[:2]
    k = n * 2 // 3  # held-out clips, not just held-out frames
    frames_tr, frames_te = x[:k].reshape(-1, 256), x[k:].reshape(-1, 256)
    frame_acc = _probe(frames_tr, np.repeat(y[:k], T), frames_te, np.repeat(y[k:], T))
    mean_acc = _probe(x[:k].mean(1), y[:k], x[k:].mean(1), y[k:])
    assert frame_acc < 0.6, f"single frames reveal the class: {frame_acc:.3f}"
    assert mean_acc < 0.6, f"frame average reveals the class: {mean_acc:.3f}"
    if MOTION_CLASSES[a] in ("right", "down", "right_then_left", "approach"):
        d = np.diff(x, axis=1).reshape(n, -1)
        diff_acc = _probe(d[:k], y[:k], d[k:], y[k:])
        flat = x.reshape(n, -1)
        clip_acc = _probe(flat[:k], y[:k], flat[k:], y[k:])
        assert diff_acc > 0.7 and clip_acc > 0.7, (diff_acc, clip_acc)


def test_pair_classes_are_time_reversals():
    """Same pair, same rng draws: the reverse class renders the same main-digit track backwards."""
    cfg = MotionConfig()
    for a, b in [(0, 1), (2, 3), (4, 5), (8, 9)]:
        fwd = syn._motion_track(MOTION_CLASSES[a], np.random.default_rng(0), cfg)
        bwd = syn._motion_track(MOTION_CLASSES[b], np.random.default_rng(0), cfg)
        for u, v in zip(fwd, bwd):
            np.testing.assert_allclose(u, v[::-1])
    cy, cx, ang, scl = syn._motion_track("right", np.random.default_rng(1), cfg)
    assert (np.diff(cx) > 0).all() and np.ptp(cy) == 0
    cy, cx, ang, scl = syn._motion_track("approach", np.random.default_rng(1), cfg)
    assert (np.diff(scl) > 0).all()
    cy, cx, ang, scl = syn._motion_track("rotate_cw", np.random.default_rng(1), cfg)
    assert (np.diff(ang) > 0).all()
    _, rtl, _, _ = syn._motion_track("right_then_left", np.random.default_rng(1), cfg)
    _, ltr, _, _ = syn._motion_track("left_then_right", np.random.default_rng(1), cfg)
    assert rtl[3] > rtl[0] and rtl[-1] < rtl[4] and ltr[3] < ltr[0]
    np.testing.assert_allclose(np.sort(rtl), np.sort(ltr))  # same positions, other order


def test_cache_round_trip(tmp_path, monkeypatch):
    cfg = MotionConfig(T=4, size=24, margin=5.0)
    first = load_or_make("motion", 20, "train", 3, cfg, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))

    def boom(*args, **kwargs):
        raise AssertionError("should have loaded from the cache")

    monkeypatch.setattr(syn, "make_motion_clips", boom)
    second = load_or_make("motion", 20, "train", 3, cfg, cache_dir=tmp_path)
    assert second.x.tobytes() == first.x.tobytes() and np.array_equal(second.y, first.y)
    assert second.class_names == first.class_names
    np.testing.assert_array_equal(second.meta["digit_idx"], first.meta["digit_idx"])
    # a different config is a different cache entry (and here must be generated -> boom)
    with pytest.raises(AssertionError, match="cache"):
        load_or_make("motion", 20, "train", 3, MotionConfig(T=5, size=24, margin=5.0), cache_dir=tmp_path)
    alarm = load_or_make("alarm", 10, "val", 3, cache_dir=tmp_path)
    assert alarm.x.tobytes() == make_alarm_clips(10, "val", 3).x.tobytes()
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_cache_no_partial_file_on_failure(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("generation crashed")

    monkeypatch.setattr(syn, "make_alarm_clips", fail)
    with pytest.raises(RuntimeError, match="crashed"):
        load_or_make("alarm", 10, "train", 0, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []

    real_savez = np.savez

    def savez_then_crash(f, **arrays):
        real_savez(f, **arrays)
        raise OSError("disk full")

    monkeypatch.setattr(syn.np, "savez", savez_then_crash)
    with pytest.raises(OSError, match="disk full"):
        load_or_make("motion", 10, "train", 0, MotionConfig(T=4), cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == [], "temp file must be removed, no .npz written"


def test_bad_split_and_kind(tmp_path):
    with pytest.raises(ValueError, match="'training'"):
        make_motion_clips(10, "training", 0)
    with pytest.raises(ValueError, match="'dev'"):
        make_alarm_clips(10, "dev", 0)
    with pytest.raises(ValueError, match="'video'"):
        load_or_make("video", 10, "train", 0, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="'Test'"):
        load_or_make("motion", 10, "Test", 0, cache_dir=tmp_path)
    with pytest.raises(ValueError):
        make_motion_clips(10, "train", 0, MotionConfig(T=2))


def test_save_montage(tmp_path):
    path = syn.save_montage(make_alarm_clips(40, "train", 0), tmp_path / "m.png", per_class=1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
