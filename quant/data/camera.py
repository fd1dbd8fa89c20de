"""Camera-scale synthetic video tasks: RGB clips (N, T, 3, S, S) uint8, S >= 32 (default 96).

Scenes are seeded procedural shop floors: textured walls / floor tiles / shelf units full of
product boxes (different in every clip), several articulated people (coloured legs, torso,
arms, head; size, colours, bag vary), global and local lighting changes, a pillar or shelf end
passing in front, sensor noise, JPEG-like block artefacts and camera shake.

* ``camera`` (main task): 10 classes defined by what the *target* actor (the largest, front-most
  person) does (:data:`CAMERA_CLASSES`). In every pair of :data:`CAMERA_PAIRS` the second class is
  the exact time reversal of a clip drawn for the first one; every nuisance (distractor people,
  lighting, occluders, noise) is time-reversal symmetric in law. So the multiset of frames has
  the same distribution within a pair: a frame-averaging model (TSN) is at chance there.
* ``camera_alarm`` (binary, imbalanced): the shopper takes an item from a shelf and conceals
  it (it vanishes into the bag / jacket) = positive. Negatives (:data:`CAMERA_ALARM_SCENARIOS`):
  ``returned`` (exact time reversal of a concealment: the item comes out of the bag and goes
  back onto the shelf), ``put_back`` (taken, looked at, put back), ``carried`` (taken and carried
  visibly) and ``walk`` (walks past). Positives and ``returned`` share all their frames.

Deterministic in (n, split, seed, cfg); train / val / test draw from disjoint random streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import camera_render as R
from .synthetic import ClipSet, _rng

CAMERA_CLASSES: tuple[str, ...] = (
    "walk_right", "walk_left", "approach", "leave", "raise_arm", "lower_arm",
    "bend_down", "stand_up", "pick_up", "put_down",
)  # fmt: skip
#: class pairs that differ only in the direction of time (second = reversed first)
CAMERA_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
#: the forward action drawn for each pair
_ACTIONS: tuple[str, ...] = ("walk", "approach", "raise_arm", "bend_down", "pick_up")
CAMERA_ALARM_CLASSES: tuple[str, ...] = ("normal", "concealed")
#: scenario codes stored in ``ClipSet.meta["scenario"]`` of the camera alarm task
CAMERA_ALARM_SCENARIOS: tuple[str, ...] = ("concealed", "returned", "put_back", "carried", "walk")


@dataclass
class CameraSceneConfig:
    """Scene, nuisance and camera knobs shared by both camera tasks (lengths are fractions of
    the frame size ``size`` unless they say px)."""

    #: bump when the generated clips change for the same config (invalidates cached .npz files)
    GENERATOR_VERSION: ClassVar[int] = 4

    T: int = 8  # frames per clip
    size: int = 96  # frame height = width in pixels (>= 32)
    action_duration_range: tuple[float, float] = (0.7, 1.0)  # target action length, fraction of T - 1 frames
    start_jitter: float = 0.1  # up to this fraction of the action may fall before / after the clip
    distractors_range: tuple[int, int] = (0, 2)  # number of background people (min, max)
    distractor_height_range: tuple[float, float] = (0.14, 0.25)  # their standing height
    background_contrast: float = 0.45  # scales the background's texture / colour deviations (1 = full)
    distractor_foot_range: tuple[float, float] = (0.5, 0.68)  # their foot row (further back = higher)
    occluder_prob: float = 0.25  # probability of a pillar / shelf end passing in front
    occluder_width_range: tuple[float, float] = (0.04, 0.1)  # its width
    occluder_speed_range: tuple[float, float] = (0.01, 0.04)  # its speed per frame
    light_ramp_max: float = 0.25  # global brightness ramp over the clip: +-this fraction
    local_light_max: float = 0.25  # moving light / shadow blob strength: +-this fraction
    flicker: float = 0.03  # per-frame random gain std
    noise_std: float = 0.025  # gaussian sensor noise std (fraction of full scale)
    block: int = 4  # JPEG-like block size (px) of the block artefacts
    block_std: float = 0.015  # std of a random offset per block and channel (0 = no block artefacts)
    jitter_px: int = 1  # camera shake: independent integer shift per frame, px

    def validate(self) -> None:
        name = type(self).__name__
        if self.size < 32:
            raise ValueError(f"{name}.size = {self.size}: the camera task needs size >= 32 (default 96)")
        if self.T < 4:
            raise ValueError(f"{name}.T = {self.T}: the camera task needs T >= 4 frames")
        lo, hi = self.action_duration_range
        if not 0 < lo <= hi <= 1.5:
            raise ValueError(f"{name}.action_duration_range = {self.action_duration_range}: need 0 < lo <= hi <= 1.5")
        if not 0 <= self.distractors_range[0] <= self.distractors_range[1]:
            raise ValueError(f"{name}.distractors_range = {self.distractors_range}: need 0 <= min <= max")
        if not 0 <= self.background_contrast <= 2:
            raise ValueError(f"{name}.background_contrast = {self.background_contrast}: need 0..2 (1 = as drawn)")
        if not 0 <= self.start_jitter < 0.5:
            raise ValueError(f"{name}.start_jitter = {self.start_jitter}: need 0 <= start_jitter < 0.5")


@dataclass
class CameraConfig(CameraSceneConfig):
    """The 10-class camera motion task (see module docstring)."""

    target_height_range: tuple[float, float] = (0.55, 0.72)  # target's standing height
    target_foot_range: tuple[float, float] = (0.86, 0.97)  # target's foot row
    target_contrast: float = 0.5  # min RGB distance of the target's clothes from the mean background
    walk_speed_range: tuple[float, float] = (0.02, 0.045)  # walking speed per frame
    approach_start_range: tuple[float, float] = (0.34, 0.42)  # height at the far end of approach / leave
    approach_ratio_range: tuple[float, float] = (1.5, 2.0)  # height ratio near / far

    def generate(self, n: int, split: str, seed: int) -> ClipSet:
        """Used by :func:`tsmfpga.quant.data.synthetic.load_or_make` (kind ``"camera"``)."""
        return make_camera_clips(n, split, seed, self)


@dataclass
class CameraAlarmConfig(CameraSceneConfig):
    """The binary camera alarm task: item concealed (positive) vs not (see module docstring)."""

    positive_fraction: float = 0.2  # fraction of "concealed" clips (exactly round(n * fraction))
    negative_mix: tuple[float, float, float, float] = (0.45, 0.25, 0.15, 0.15)  # returned/put_back/carried/walk
    distractors_range: tuple[int, int] = (0, 2)  # background shoppers (min, max)
    shopper_height_range: tuple[float, float] = (0.55, 0.68)  # the shopper's standing height
    shopper_foot_range: tuple[float, float] = (0.86, 0.97)  # the shopper's foot row
    item_size: float = 0.16  # side of the taken item, fraction of the shopper's height
    bag_prob: float = 0.6  # the shopper carries a bag (else the item vanishes under the jacket)
    target_contrast: float = 0.5  # min RGB distance of the shopper's clothes from the mean background

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.positive_fraction <= 1.0:
            raise ValueError(f"CameraAlarmConfig.positive_fraction = {self.positive_fraction}: need 0..1")
        if len(self.negative_mix) != 4 or min(self.negative_mix) < 0 or sum(self.negative_mix) <= 0:
            raise ValueError("CameraAlarmConfig.negative_mix needs 4 weights >= 0 (returned, put_back, "
                             f"carried, walk) with a positive sum, got {self.negative_mix}")

    def generate(self, n: int, split: str, seed: int) -> ClipSet:
        """Used by :func:`tsmfpga.quant.data.synthetic.load_or_make` (kind ``"camera_alarm"``)."""
        return make_camera_alarm_clips(n, split, seed, self)


# ------------------------------------------------------------------------------------- schedules
def _progress(rng, cfg: CameraSceneConfig) -> np.ndarray:
    """Per-frame action progress u in 0..1: random duration and start, held before / after."""
    T = cfg.T
    dur = rng.uniform(*cfg.action_duration_range) * (T - 1)
    j = cfg.start_jitter * dur
    t0 = rng.uniform(-j, max(-j, (T - 1) - dur + j))
    return np.clip((np.arange(T) - t0) / dur, 0.0, 1.0)


def _vivid(rng) -> np.ndarray:
    """A saturated colour (products / items stand out)."""
    return rng.permutation(np.array([1.0, rng.uniform(0.1, 0.9), 0.1]))


def _smooth(u: np.ndarray) -> np.ndarray:
    return u * u * (3 - 2 * u)


def _seg(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """Progress within the sub-interval [a, b] of u, eased."""
    return _smooth(np.clip((u - a) / (b - a), 0.0, 1.0))


def _idle_pose(rng, T: int, cx: float, fy: float, h: float) -> R.Pose:
    ones = np.ones(T)
    return R.Pose(cx * ones, fy * ones, h * ones, np.zeros(T), np.zeros(T), np.zeros(T),
                  rng.uniform(0.05, 0.3) * ones, -rng.uniform(0.05, 0.3) * ones,
                  facing=float(rng.choice([-1.0, 1.0])), width=rng.uniform(0.85, 1.15))


def _walk(rng, p: R.Pose, speed: float, S: int, frontal: bool = False) -> None:
    """Turn ``p`` into a walk at ``speed`` px/frame to +x (legs and arms swing)."""
    T = len(p.cx)
    t = np.arange(T)
    if not frontal:
        span = speed * (T - 1)
        lo, hi = 0.1 * S, 0.9 * S
        a = rng.uniform(lo, max(lo, hi - span))
        p.cx = a + speed * t
    rate = min(2.2, max(0.6, abs(speed) / (0.09 * p.h.mean()) if not frontal else rng.uniform(0.8, 1.6)))
    p.phase = rng.uniform(0, 2 * np.pi) + rate * t
    p.swing = np.full(T, rng.uniform(0.25, 0.45) if frontal else rng.uniform(0.6, 1.0))
    p.arm_r = p.arm_r + 0.3 * np.sin(p.phase)
    p.arm_l = p.arm_l + 0.3 * np.sin(p.phase)


def _action(name: str, rng, cfg: CameraSceneConfig, p: R.Pose, walk_speed: float) -> dict | None:
    """Apply the forward action ``name`` to pose ``p`` in place; returns an item dict or None."""
    S, T = cfg.size, cfg.T
    if name == "walk":
        _walk(rng, p, walk_speed, S)
        return None
    if name == "idle":
        p.arm_r = p.arm_r + rng.uniform(0, 0.4) * np.sin(rng.uniform(0, 2 * np.pi) + 0.8 * np.arange(T))
        return None
    u = _progress(rng, cfg)
    if name == "raise_arm":
        s = float(rng.choice([-1.0, 1.0]))
        ang = rng.uniform(0.05, 0.35) + (rng.uniform(2.3, 3.0) - rng.uniform(0.05, 0.35)) * _smooth(u)
        if s > 0:
            p.arm_r = ang
        else:
            p.arm_l = -ang
    elif name == "bend_down":
        lo = rng.uniform(0.0, 0.1)
        p.bend = lo + (rng.uniform(0.7, 1.0) - lo) * _smooth(u)
    elif name == "pick_up":
        f = p.facing
        h = float(p.h[0])
        half = 0.055 * h
        floor_pt = np.array([p.cx[0] + f * rng.uniform(0.2, 0.3) * h, p.fy[0] - 1.2 * half])
        p.bend = np.sin(np.pi * u)
        j = R.joints(p)
        sh = j["sh_r"] if f > 0 else j["sh_l"]
        reach = R.reach_angle(sh, floor_pt)
        idle = p.arm_r if f > 0 else p.arm_l
        carry = f * rng.uniform(0.9, 1.4)
        ang = np.where(u < 0.5, idle + (reach - idle) * _seg(u, 0.0, 0.5), reach + (carry - reach) * _seg(u, 0.5, 1.0))
        if f > 0:
            p.arm_r = ang
        else:
            p.arm_l = ang
        hand = R.joints(p)["hand_r" if f > 0 else "hand_l"]
        pos = np.where((u < 0.5)[:, None], floor_pt[None], hand)
        return {"pos": pos, "visible": np.ones(T, bool), "half": half, "colour": _vivid(rng)}
    else:  # pragma: no cover - guarded by _ACTIONS
        raise ValueError(name)
    return None


def _reverse_pose(p: R.Pose, item: dict | None):
    for k in ("cx", "fy", "h", "bend", "phase", "swing", "arm_r", "arm_l"):
        setattr(p, k, getattr(p, k)[::-1].copy())
    if item is not None:
        item = {**item, "pos": item["pos"][::-1].copy(), "visible": item["visible"][::-1].copy()}
    return p, item


def _distractors(rng, cfg: CameraSceneConfig, clip: np.ndarray, actions: tuple[str, ...]) -> int:
    """Background people doing random things (each reversed in time with probability 1/2)."""
    S = cfg.size
    n = int(rng.integers(cfg.distractors_range[0], cfg.distractors_range[1] + 1))
    feet = np.sort(rng.uniform(*cfg.distractor_foot_range, n) * S)
    for fy in feet:  # far ones first
        h = rng.uniform(*cfg.distractor_height_range) * S
        p = _idle_pose(rng, cfg.T, rng.uniform(0.08, 0.92) * S, fy, h)
        speed = rng.uniform(0.008, 0.03) * S * rng.choice([-1.0, 1.0])
        item = _action(str(rng.choice(actions)), rng, cfg, p, speed)
        if rng.uniform() < 0.5:
            p, item = _reverse_pose(p, item)
        R.draw_actor(clip, p, R.random_look(rng, 0.3), item)
    return n


def _finish(rng, cfg: CameraSceneConfig, clip: np.ndarray) -> tuple[np.ndarray, bool]:
    occluded = rng.uniform() < cfg.occluder_prob
    if occluded:
        R.occluder(rng, clip, cfg.occluder_width_range, cfg.occluder_speed_range)
    R.lighting(rng, clip, cfg.light_ramp_max, cfg.local_light_max, cfg.flicker)
    return R.camera_finish(rng, clip, cfg.noise_std, cfg.block, cfg.block_std, cfg.jitter_px), occluded


# ------------------------------------------------------------------------------------ motion task
def _camera_clip(label: int, rng, cfg: CameraConfig) -> tuple[np.ndarray, int, bool]:
    """One clip (T, 3, S, S) uint8 of class ``label``, plus (distractors, occluded)."""
    S, T = cfg.size, cfg.T
    bg, _ = R.background(rng, S, rng.uniform(0.35, 0.6) * S, rng.uniform() < 0.35, cfg.background_contrast)
    clip = np.broadcast_to(bg, (T, 3, S, S)).copy()
    n_dis = _distractors(rng, cfg, clip, ("walk", "walk", "idle"))
    action = _ACTIONS[label // 2]
    h = rng.uniform(*cfg.target_height_range) * S
    fy = rng.uniform(*cfg.target_foot_range) * S
    p = _idle_pose(rng, T, rng.uniform(0.25, 0.75) * S, fy, h)
    if action == "approach":
        u = _progress(rng, cfg)
        h0 = rng.uniform(*cfg.approach_start_range) * S
        h1 = min(h0 * rng.uniform(*cfg.approach_ratio_range), 0.8 * S)
        p.h = h0 * (h1 / h0) ** u
        fy0 = rng.uniform(0.72, 0.8) * S
        p.fy = fy0 + (0.97 * S - fy0) * (p.h - h0) / (h1 - h0)
        p.cx = p.cx + rng.uniform(-0.004, 0.004) * S * np.arange(T)
        _walk(rng, p, 0.0, S, frontal=True)
        item = None
    else:
        item = _action(action, rng, cfg, p, rng.uniform(*cfg.walk_speed_range) * S)
    R.draw_actor(clip, p, R.random_look(rng, 0.3, bg.mean((1, 2)), cfg.target_contrast), item)
    out, occluded = _finish(rng, cfg, clip)
    if label % 2:
        out = out[::-1]
    return np.ascontiguousarray(out), n_dis, occluded


def _balanced_labels(rng, n: int, k: int) -> np.ndarray:
    labels = np.repeat(np.arange(k), n // k)
    labels = np.concatenate([labels, rng.choice(k, n % k, replace=False)])
    return rng.permutation(labels).astype(np.int64)


def make_camera_clips(n: int, split: str, seed: int, cfg: CameraConfig | None = None) -> ClipSet:
    """``n`` class-balanced, shuffled camera motion clips, x uint8 (n, T, 3, S, S)."""
    cfg = cfg or CameraConfig()
    cfg.validate()
    rng = _rng(seed, split, "camera")
    labels = _balanced_labels(rng, n, len(CAMERA_CLASSES))
    x = np.empty((n, cfg.T, 3, cfg.size, cfg.size), np.uint8)
    n_dis = np.empty(n, np.int64)
    occ = np.empty(n, bool)
    for i, lab in enumerate(labels):
        x[i], n_dis[i], occ[i] = _camera_clip(int(lab), rng, cfg)
    return ClipSet(x, labels, CAMERA_CLASSES, {"distractors": n_dis, "occluded": occ})


# ------------------------------------------------------------------------------------- alarm task
def _alarm_clip(scenario: str, rng, cfg: CameraAlarmConfig) -> tuple[np.ndarray, int, bool]:
    S, T = cfg.size, cfg.T
    bg, shelves = R.background(rng, S, rng.uniform(0.55, 0.65) * S, True, cfg.background_contrast)
    h = rng.uniform(*cfg.shopper_height_range) * S
    fy = rng.uniform(*cfg.shopper_foot_range) * S
    p = _idle_pose(rng, T, rng.uniform(0.32, 0.68) * S, fy, h)
    s = float(rng.choice([-1.0, 1.0]))  # side of the shelf item (and of the reaching arm)
    p.facing = s
    look = R.random_look(rng, cfg.bag_prob, bg.mean((1, 2)), cfg.target_contrast)
    j = R.joints(p)
    arm = "arm_r" if s > 0 else "arm_l"
    sh = j["sh_r" if s > 0 else "sh_l"][0]
    L = R.ARM_LEN * h * 0.92
    half = cfg.item_size * h / 2
    planks = shelves.planks
    plank = planks[np.argmin(np.abs(planks - 1.2 * half - (sh[1] - 0.1 * h)))]
    iy = plank - 1.2 * half
    dy = iy - sh[1]
    ix = sh[0] + s * np.sqrt(max(L * L - dy * dy, (0.4 * L) ** 2))
    shelf_pt = np.array([ix, iy])
    item_col = _vivid(rng)
    # the item's slot is empty once the item is gone
    y0, y1 = int(np.floor(iy - 1.2 * half - 1)), int(np.ceil(iy + 1.2 * half))
    x0, x1 = int(np.floor(ix - half - 1)), int(np.ceil(ix + half + 2))
    bg[:, max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = shelves.back[:, None, None]
    clip = np.broadcast_to(bg, (T, 3, S, S)).copy()
    n_dis = _distractors(rng, cfg, clip, ("walk", "walk", "idle"))

    idle = getattr(p, arm).copy()
    a_shelf = float(R.reach_angle(sh, shelf_pt))
    if look.bag is not None:  # bag at the hip on the far side (see camera_render.draw_actor)
        hide = j["hip"][0] + np.array([-s * 0.13 * h, -0.02 * h])
    else:
        hide = (j["hip"][0] + j["neck"][0]) / 2
    a_hide = float(R.reach_angle(sh, hide))
    a_hold = s * rng.uniform(0.7, 1.3)
    u = _progress(rng, cfg)
    pos = np.repeat(shelf_pt[None], T, 0)
    visible = np.ones(T, bool)
    held = np.zeros(T, bool)
    if scenario == "walk":
        _walk(rng, p, rng.uniform(0.008, 0.025) * S, S)
        visible[:] = rng.uniform() < 0.7
    elif scenario in ("concealed", "returned"):
        ang = np.select([u < 0.3, u < 0.7], [idle + (a_shelf - idle) * _seg(u, 0, 0.3),
                                             a_shelf + (a_hide - a_shelf) * _seg(u, 0.3, 0.7)],
                        a_hide + (idle - a_hide) * _seg(u, 0.7, 1.0))
        setattr(p, arm, ang)
        held = (u >= 0.3) & (u < 0.7)
        visible = u < 0.7
    elif scenario == "put_back":
        ang = np.select([u < 0.25, u < 0.5, u < 0.75],
                        [idle + (a_shelf - idle) * _seg(u, 0, 0.25), a_shelf + (a_hold - a_shelf) * _seg(u, 0.25, 0.5),
                         a_hold + (a_shelf - a_hold) * _seg(u, 0.5, 0.75)],
                        a_shelf + (idle - a_shelf) * _seg(u, 0.75, 1.0))
        setattr(p, arm, ang)
        held = (u >= 0.25) & (u < 0.75)
    elif scenario == "carried":
        ang = np.where(u < 0.35, idle + (a_shelf - idle) * _seg(u, 0, 0.35),
                       a_shelf + (a_hold - a_shelf) * _seg(u, 0.35, 0.7))
        setattr(p, arm, ang)
        held = u >= 0.35
    else:  # pragma: no cover - guarded by CAMERA_ALARM_SCENARIOS
        raise ValueError(scenario)
    hand = R.joints(p)["hand_r" if s > 0 else "hand_l"]
    pos[held] = hand[held]
    item = {"pos": pos, "visible": visible, "half": half, "colour": item_col}
    R.draw_actor(clip, p, look, item)
    out, occluded = _finish(rng, cfg, clip)
    if scenario == "returned" or (scenario in ("put_back", "carried", "walk") and rng.uniform() < 0.5):
        out = out[::-1]
    return np.ascontiguousarray(out), n_dis, occluded


def make_camera_alarm_clips(n: int, split: str, seed: int, cfg: CameraAlarmConfig | None = None) -> ClipSet:
    """``n`` shuffled camera alarm clips with exactly ``round(n * positive_fraction)`` positives."""
    cfg = cfg or CameraAlarmConfig()
    cfg.validate()
    rng = _rng(seed, split, "camera_alarm")
    n_pos = int(round(n * cfg.positive_fraction))
    mix = np.asarray(cfg.negative_mix, np.float64)
    neg = rng.choice(4, n - n_pos, p=mix / mix.sum()) + 1  # scenario codes 1..4
    scen = rng.permutation(np.concatenate([np.zeros(n_pos, np.int64), neg]).astype(np.int64))
    labels = (scen == 0).astype(np.int64)
    x = np.empty((n, cfg.T, 3, cfg.size, cfg.size), np.uint8)
    n_dis = np.empty(n, np.int64)
    occ = np.empty(n, bool)
    for i, sc in enumerate(scen):
        x[i], n_dis[i], occ[i] = _alarm_clip(CAMERA_ALARM_SCENARIOS[sc], rng, cfg)
    return ClipSet(x, labels, CAMERA_ALARM_CLASSES, {"scenario": scen, "distractors": n_dis, "occluded": occ})
