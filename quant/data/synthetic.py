"""Embedded, download-free synthetic video datasets built from sklearn's real handwritten digits.

Two tasks, both clips of shape (N, T, 1, H, W) uint8 with int64 labels:

* ``motion`` (main benchmark): 10 classes defined by motion only (:data:`MOTION_CLASSES`).
  Within each direction pair (right/left, down/up, rotate_cw/ccw, right_then_left/
  left_then_right, approach/recede) the second class is drawn as the exact time reversal of
  the first (every distractor is time-reversal symmetric too), so the *unordered set of
  frames* of a clip has the same distribution for both classes: any frame-averaging model
  (TSN) is at chance within a pair, and only temporal modelling separates them.
* ``alarm`` (mirrors shoplifting, ~1 positive in 5): an item leaves a shelf towards a
  person; positive = it vanishes into the person, negatives = put back, carried visibly, or
  the person just walks by. Positives and the "put back"/"carried" negatives share the first
  half of the clip.

Train and test clips use disjoint digit images (index % 5 == 0 goes to test); ``val`` uses the
train images with its own random stream. Everything is deterministic in (n, split, seed, cfg).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import synthetic_render as R

#: bump when the generated data changes for the same (kind, n, split, seed, cfg): invalidates caches
DATASET_VERSION = 1

MOTION_CLASSES: tuple[str, ...] = (
    "right", "left", "down", "up",
    "rotate_cw", "rotate_ccw",
    "right_then_left", "left_then_right",
    "approach", "recede",
)  # fmt: skip
#: class pairs that differ only in the direction of time
MOTION_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
ALARM_CLASSES: tuple[str, ...] = ("put_back", "concealed")
#: scenario codes stored in ``ClipSet.meta["scenario"]`` for the alarm task
ALARM_SCENARIOS: tuple[str, ...] = ("concealed", "put_back", "carried", "walk")
SPLITS: tuple[str, ...] = ("train", "val", "test")
KINDS: tuple[str, ...] = ("motion", "alarm")


@dataclass
class MotionConfig:
    """Difficulty knobs of the motion task (pixel units refer to the ``size`` x ``size`` frame)."""

    T: int = 8  # frames per clip
    size: int = 32  # frame height = width in pixels
    digit_size: int = 12  # the 8x8 digits are bilinearly upscaled to this many pixels
    margin: float = 6.0  # min distance (px) of the main digit's centre from the frame border
    speed_range: tuple[float, float] = (0.35, 2.4)  # translation speed, px/frame (slow ones included)
    rot_speed_range: tuple[float, float] = (6.0, 30.0)  # rotation speed, degrees/frame
    scale_range: tuple[float, float] = (0.6, 1.6)  # scale interval shared by approach and recede
    scale_ratio_range: tuple[float, float] = (1.2, 2.2)  # total scale change over an approach/recede clip
    base_scale_range: tuple[float, float] = (0.85, 1.15)  # static scale of the digit in non-scaling classes
    tilt_deg: float = 15.0  # static random tilt (+-deg) of the digit in non-rotating classes
    distractor_prob: float = 0.6  # probability of a second digit moving at a random constant velocity
    distractor_scale: float = 0.65  # its size relative to the main digit
    distractor_intensity: float = 0.6  # its brightness relative to the main digit
    distractor_speed_range: tuple[float, float] = (0.5, 2.5)  # its speed, px/frame, random direction
    jitter_px: int = 1  # camera shake: independent integer shift per frame in [-jitter_px, jitter_px]
    occlusion_prob: float = 0.3  # probability of a random grey box hiding part of 1-2 frames
    occlusion_size_range: tuple[int, int] = (6, 14)  # occluder side lengths, px
    occlusion_max_frames: int = 2  # occluder lasts 1..this many consecutive frames
    noise_std: float = 0.05  # additive gaussian pixel noise (fraction of full scale 255)
    clutter_strokes_max: int = 3  # up to this many faint static strokes per clip
    clutter_dots_max: int = 8  # up to this many faint static dots per clip
    clutter_intensity_range: tuple[float, float] = (0.1, 0.35)  # clutter brightness (0..1)
    gain_range: tuple[float, float] = (0.55, 1.0)  # per-clip brightness gain
    offset_range: tuple[float, float] = (0.0, 0.15)  # per-clip background level (0..1)

    def validate(self) -> None:
        if self.T < 4:
            raise ValueError(f"MotionConfig.T must be >= 4 (order classes need two halves), got {self.T}")
        if self.size < 2 * self.margin + 4:
            raise ValueError(f"MotionConfig.size={self.size} too small for margin={self.margin}")


@dataclass
class AlarmConfig:
    """Difficulty knobs of the binary alarm ("concealed" item) task."""

    T: int = 8  # frames per clip
    size: int = 32  # frame height = width in pixels
    positive_fraction: float = 0.2  # fraction of "concealed" clips (exactly round(n * fraction))
    negative_mix: tuple[float, float, float] = (0.5, 0.3, 0.2)  # weights: put_back / carried / walk
    digit_size: int = 12  # digit sprite resolution before scaling to item_size
    item_size: float = 7.0  # on-screen size of the taken item (a small digit), px
    shelf_row: int = 7  # top row of the 2-px bright shelf bar
    shelf_items_max: int = 2  # up to this many static small boxes also standing on the shelf
    person_width_range: tuple[float, float] = (7.0, 10.0)  # person body width, px
    person_height_range: tuple[float, float] = (9.0, 11.0)  # person body height (without head), px
    person_drift_max: float = 0.4  # person's horizontal speed (px/frame) while handling the item
    walk_speed_range: tuple[float, float] = (0.6, 1.5)  # person's speed in "walk" negatives, px/frame
    hover_prob: float = 0.5  # probability the item pauses one frame beside the person before its fate
    jitter_px: int = 1  # camera shake: independent integer shift per frame
    occlusion_prob: float = 0.0  # probability of a random grey box over 1-2 frames (can hide the evidence)
    occlusion_size_range: tuple[int, int] = (5, 10)  # occluder side lengths, px
    occlusion_max_frames: int = 1  # occluder lasts 1..this many frames
    noise_std: float = 0.04  # additive gaussian pixel noise (fraction of full scale)
    clutter_strokes_max: int = 2  # faint static strokes per clip
    clutter_dots_max: int = 6  # faint static dots per clip
    clutter_intensity_range: tuple[float, float] = (0.1, 0.3)  # clutter brightness (0..1)
    gain_range: tuple[float, float] = (0.6, 1.0)  # per-clip brightness gain
    offset_range: tuple[float, float] = (0.0, 0.15)  # per-clip background level

    def validate(self) -> None:
        if self.T < 6:
            raise ValueError(f"AlarmConfig.T must be >= 6, got {self.T}")
        if not 0.0 <= self.positive_fraction <= 1.0:
            raise ValueError(f"positive_fraction must be in [0, 1], got {self.positive_fraction}")
        if self.size < 24:
            raise ValueError(f"AlarmConfig.size must be >= 24, got {self.size}")


@dataclass
class ClipSet:
    """A set of clips: ``x`` uint8 (N, T, 1, H, W), ``y`` int64 (N,), plus per-clip ``meta`` arrays
    (``digit_idx``: sklearn digit image index of the main digit / item, -1 if none;
    motion also ``distractor_idx``; alarm also ``scenario`` indexing :data:`ALARM_SCENARIOS`)."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def used_digit_indices(self) -> np.ndarray:
        """Sorted unique sklearn digit image indices drawn anywhere in this set."""
        parts = [self.meta[k] for k in ("digit_idx", "distractor_idx") if k in self.meta]
        allidx = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return np.unique(allidx[allidx >= 0])


def split_digit_indices(split: str) -> np.ndarray:
    """The sklearn digit image indices a split may use (test is disjoint from train/val)."""
    _check_split(split)
    return R.digit_pool(test=split == "test")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")


def _rng(seed: int, split: str, kind: str) -> np.random.Generator:
    _check_split(split)
    ids = [int(seed), zlib.crc32(kind.encode()), zlib.crc32(split.encode())]
    return np.random.default_rng(np.random.SeedSequence(ids))


# ----------------------------------------------------------------------------------- motion task
def _motion_track(name: str, rng: np.random.Generator, cfg: MotionConfig):
    """Per-frame (cy, cx, angle, scale) of the main digit for one clip of class ``name``.

    The "reverse" class of each pair uses the same random draws with time reversed."""
    T = cfg.T
    t = np.arange(T, dtype=np.float64)
    lo, hi = cfg.margin, cfg.size - 1 - cfg.margin
    cy, cx = rng.uniform(lo, hi, 2)
    ang = np.full(T, rng.uniform(-cfg.tilt_deg, cfg.tilt_deg))
    scl = np.full(T, rng.uniform(*cfg.base_scale_range))
    cys, cxs = np.full(T, cy), np.full(T, cx)
    reverse = name in ("left", "up", "rotate_ccw", "left_then_right", "recede")
    if name in ("right", "left", "down", "up"):
        a, length = R.uniform_segment(rng, lo, hi, rng.uniform(*cfg.speed_range) * (T - 1))
        pos = a + length * t / (T - 1)
        if name in ("right", "left"):
            cxs = pos
        else:
            cys = pos
    elif name in ("rotate_cw", "rotate_ccw"):
        ang = rng.uniform(0.0, 360.0) + rng.uniform(*cfg.rot_speed_range) * t
    elif name in ("right_then_left", "left_then_right"):
        # out and back, with a one-frame dwell at the turning point for even T so the
        # multiset of positions is symmetric: the reversed-direction clip covers the same set
        tri = np.minimum(t, T - 1 - t)
        a, length = R.uniform_segment(rng, lo, hi, rng.uniform(*cfg.speed_range) * tri.max())
        f = tri / tri.max()
        cxs = a + length * (1.0 - f if reverse else f)
        reverse = False  # direction already encoded; time reversal would be a no-op here
    elif name in ("approach", "recede"):
        ls_lo, ls_hi = np.log(cfg.scale_range[0]), np.log(cfg.scale_range[1])
        a, length = R.uniform_segment(rng, ls_lo, ls_hi, np.log(rng.uniform(*cfg.scale_ratio_range)))
        scl = np.exp(a + length * t / (T - 1))
        # keep the largest digit mostly inside the frame
        m = max(lo, 0.4 * cfg.digit_size * cfg.scale_range[1])
        cys[:] = cfg.size / 2 + (cy - (lo + hi) / 2) * (cfg.size - 1 - 2 * m) / (hi - lo)
        cxs[:] = cfg.size / 2 + (cx - (lo + hi) / 2) * (cfg.size - 1 - 2 * m) / (hi - lo)
    else:  # pragma: no cover - guarded by MOTION_CLASSES
        raise ValueError(name)
    if reverse:
        cys, cxs, ang, scl = cys[::-1], cxs[::-1], ang[::-1], scl[::-1]
    return cys, cxs, ang, scl


def _motion_clip(label: int, rng, cfg: MotionConfig, sprites, pool) -> tuple[np.ndarray, int, int]:
    T, S = cfg.T, cfg.size
    scene = R.clutter(rng, S, cfg.clutter_strokes_max, cfg.clutter_dots_max, cfg.clutter_intensity_range)
    scene = np.broadcast_to(scene, (T, S, S)).copy()
    d_idx = int(rng.choice(pool))
    cy, cx, ang, scl = _motion_track(MOTION_CLASSES[label], rng, cfg)
    main = R.render_sprite(sprites[d_idx], cy, cx, ang, scl, S)
    x_idx = -1
    if rng.uniform() < cfg.distractor_prob:
        x_idx = int(rng.choice(pool))
        mid = rng.uniform(0, S - 1, 2)
        theta = rng.uniform(0, 2 * np.pi)
        v = rng.uniform(*cfg.distractor_speed_range) * np.array([np.sin(theta), np.cos(theta)])
        tt = np.arange(T) - (T - 1) / 2.0  # centred in time: reversal symmetric
        ones = np.ones(T)
        dis = R.render_sprite(
            sprites[x_idx], mid[0] + v[0] * tt, mid[1] + v[1] * tt,
            ones * rng.uniform(-cfg.tilt_deg, cfg.tilt_deg), ones * cfg.distractor_scale, S,
        )  # fmt: skip
        np.maximum(scene, cfg.distractor_intensity * dis, out=scene)
    np.maximum(scene, main, out=scene)
    R.occlude(rng, scene, cfg.occlusion_prob, cfg.occlusion_size_range, cfg.occlusion_max_frames)
    scene = R.jitter(rng, scene, cfg.jitter_px)
    return R.finalize(rng, scene, cfg.gain_range, cfg.offset_range, cfg.noise_std), d_idx, x_idx


def make_motion_clips(n: int, split: str, seed: int, cfg: MotionConfig | None = None) -> ClipSet:
    """``n`` class-balanced, shuffled motion clips (see module docstring)."""
    cfg = cfg or MotionConfig()
    cfg.validate()
    rng = _rng(seed, split, "motion")
    k = len(MOTION_CLASSES)
    labels = np.repeat(np.arange(k), n // k)
    labels = np.concatenate([labels, rng.choice(k, n % k, replace=False)])
    labels = rng.permutation(labels).astype(np.int64)
    sprites = R.digit_sprites(cfg.digit_size)
    pool = split_digit_indices(split)
    x = np.empty((n, cfg.T, 1, cfg.size, cfg.size), np.uint8)
    d_idx = np.empty(n, np.int64)
    x_idx = np.empty(n, np.int64)
    for i, lab in enumerate(labels):
        x[i, :, 0], d_idx[i], x_idx[i] = _motion_clip(int(lab), rng, cfg, sprites, pool)
    return ClipSet(x, labels, MOTION_CLASSES, {"digit_idx": d_idx, "distractor_idx": x_idx})


# ------------------------------------------------------------------------------------ alarm task
def _alarm_clip(scenario: str, rng, cfg: AlarmConfig, sprites, pool) -> tuple[np.ndarray, int]:
    T, S = cfg.T, cfg.size
    t = np.arange(T, dtype=np.float64)
    h = T // 2
    scene = R.clutter(rng, S, cfg.clutter_strokes_max, cfg.clutter_dots_max, cfg.clutter_intensity_range)
    sr = cfg.shelf_row
    scene[sr : sr + 2, 1 : S - 1] = 0.8
    for _ in range(int(rng.integers(0, cfg.shelf_items_max + 1))):
        bx, bw, bh = int(rng.integers(1, S - 4)), int(rng.integers(2, 4)), int(rng.integers(2, 4))
        scene[sr - bh : sr, bx : bx + bw] = rng.uniform(0.4, 0.7)
    scene = np.broadcast_to(scene, (T, S, S)).copy()

    pw, ph = rng.uniform(*cfg.person_width_range), rng.uniform(*cfg.person_height_range)
    half = cfg.item_size / 2.0
    side_room = pw / 2 + cfg.item_size + 1  # room for the item beside the person
    if scenario == "walk":
        p_lo, p_hi = pw / 2 + 1, S - 2 - pw / 2
        a, length = R.uniform_segment(rng, p_lo, p_hi, rng.uniform(*cfg.walk_speed_range) * (T - 1))
    else:
        p_lo, p_hi = side_room, S - 1 - side_room
        a, length = R.uniform_segment(rng, p_lo, p_hi, rng.uniform(0, cfg.person_drift_max) * (T - 1))
    pcx = a + length * t / (T - 1)
    if rng.uniform() < 0.5:
        pcx = pcx[::-1]

    # the item: starts standing on the shelf, reaches the person's side at frame h
    d_idx = int(rng.choice(pool))
    shelf_pt = np.array([sr - half, rng.uniform(half + 1, S - 2 - half)])
    side = 1.0 if rng.uniform() < 0.5 else -1.0
    side_dx = side * (pw / 2 + half + 0.5)

    def beside(i: int) -> np.ndarray:  # item held at the person's side, mid-body height
        return np.array([S - ph / 2 - 1.0, pcx[i] + side_dx])

    pos = np.zeros((T, 2))
    visible = np.ones(T, bool)
    for i in range(h + 1):
        pos[i] = shelf_pt + (beside(h) - shelf_pt) * (i / h)
    hover = int(rng.uniform() < cfg.hover_prob)
    fate = h + 1 + hover  # first frame of the scenario-specific second half
    for i in range(h + 1, T):
        pos[i] = beside(i)
    if scenario == "walk":
        pos[:] = shelf_pt
        visible[:] = rng.uniform() < 0.5  # item just stands on the shelf, or there is none
        d_idx = d_idx if visible[0] else -1
    elif scenario == "concealed":
        visible[fate:] = False
    elif scenario == "put_back":
        back = np.arange(fate, T)
        frac = (back - fate + 1) / (T - fate)
        start = beside(fate - 1)
        pos[back] = start + (shelf_pt - start) * frac[:, None]
    # "carried": stays visibly beside the (drifting) person

    if d_idx >= 0:
        item = R.render_sprite(
            sprites[d_idx], pos[:, 0], pos[:, 1], np.zeros(T), np.full(T, cfg.item_size / cfg.digit_size), S
        )
        item *= visible[:, None, None]
        np.maximum(scene, item, out=scene)
    scene[R.person_mask(S, pcx, pw, ph)] = 0.45  # opaque: hides whatever is behind the person
    R.occlude(rng, scene, cfg.occlusion_prob, cfg.occlusion_size_range, cfg.occlusion_max_frames)
    scene = R.jitter(rng, scene, cfg.jitter_px)
    return R.finalize(rng, scene, cfg.gain_range, cfg.offset_range, cfg.noise_std), d_idx


def make_alarm_clips(n: int, split: str, seed: int, cfg: AlarmConfig | None = None) -> ClipSet:
    """``n`` shuffled alarm clips with exactly ``round(n * positive_fraction)`` positives."""
    cfg = cfg or AlarmConfig()
    cfg.validate()
    rng = _rng(seed, split, "alarm")
    n_pos = int(round(n * cfg.positive_fraction))
    mix = np.asarray(cfg.negative_mix, np.float64)
    neg = rng.choice(3, n - n_pos, p=mix / mix.sum()) + 1  # scenario codes 1..3
    scen = rng.permutation(np.concatenate([np.zeros(n_pos, np.int64), neg]).astype(np.int64))
    labels = (scen == 0).astype(np.int64)
    sprites = R.digit_sprites(cfg.digit_size)
    pool = split_digit_indices(split)
    x = np.empty((n, cfg.T, 1, cfg.size, cfg.size), np.uint8)
    d_idx = np.empty(n, np.int64)
    for i, s in enumerate(scen):
        x[i, :, 0], d_idx[i] = _alarm_clip(ALARM_SCENARIOS[s], rng, cfg, sprites, pool)
    return ClipSet(x, labels, ALARM_CLASSES, {"digit_idx": d_idx, "scenario": scen})


# ---------------------------------------------------------------------------------------- cache
def _cache_key(kind: str, n: int, split: str, seed: int, cfg) -> str:
    blob = json.dumps(
        {"kind": kind, "n": n, "split": split, "seed": seed, "cfg": asdict(cfg), "v": DATASET_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def load_or_make(
    kind: str, n: int, split: str, seed: int, cfg=None, cache_dir: Path | None = None
) -> ClipSet:
    """Load a cached ClipSet from ``cache_dir`` (default ./out/data) or generate and cache it.

    The file name carries a hash of (kind, n, split, seed, cfg, DATASET_VERSION); the cache is
    written to a temp file and atomically renamed, so a crash never leaves a partial ``.npz``."""
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {KINDS}")
    _check_split(split)
    cfg = cfg if cfg is not None else (MotionConfig() if kind == "motion" else AlarmConfig())
    cache_dir = Path(cache_dir) if cache_dir is not None else Path.cwd() / "out" / "data"
    path = cache_dir / f"{kind}_{split}_n{n}_s{seed}_{_cache_key(kind, n, split, seed, cfg)}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            meta = {k[5:]: z[k] for k in z.files if k.startswith("meta_")}
            return ClipSet(z["x"], z["y"], tuple(str(c) for c in z["class_names"]), meta)
    make = make_motion_clips if kind == "motion" else make_alarm_clips
    cs = make(n, split, seed, cfg)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            arrays = {f"meta_{k}": v for k, v in cs.meta.items()}
            np.savez(f, x=cs.x, y=cs.y, class_names=np.array(cs.class_names), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return cs


# -------------------------------------------------------------------------------------- montage
def save_montage(clipset: ClipSet, path, per_class: int = 2) -> Path:
    """PNG with ``per_class`` clips of every class as rows of frames (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [
        (c, i)
        for c, name in enumerate(clipset.class_names)
        for i in np.flatnonzero(clipset.y == c)[:per_class]
    ]
    T = clipset.x.shape[1]
    fig, axes = plt.subplots(
        len(rows), T, figsize=(0.8 * T + 1.6, 0.8 * len(rows)), squeeze=False
    )
    for r, (c, i) in enumerate(rows):
        for t in range(T):
            ax = axes[r, t]
            ax.imshow(clipset.x[i, t, 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        label = clipset.class_names[c]
        if "scenario" in clipset.meta:
            label += f"\n({ALARM_SCENARIOS[clipset.meta['scenario'][i]]})"
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    fig.subplots_adjust(left=0.16, right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.08)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
