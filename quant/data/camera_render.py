"""Low-level drawing for the camera-scale synthetic task in :mod:`tsmfpga.quant.data.camera`.

Everything works on float32 RGB clips with values nominally in 0..1 and shape (T, 3, S, S).
Actors are articulated stick figures (legs, torso, arms, head as anti-aliased capsules and
disks) composited over a crop of the frame that bounds the actor over the whole clip, so one
vectorised numpy expression per body part renders all T frames. The camera model (lighting,
sensor noise, block artefacts, shake, quantisation to uint8) is :func:`camera_finish`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

F32 = np.float32


# ----------------------------------------------------------------------------------- backgrounds
def smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    """Bilinearly upsampled uniform noise, (channels, size, size) float32 in 0..1."""
    g = rng.random((channels, cells + 1, cells + 1), dtype=F32)
    pos = np.linspace(0.0, cells, size, dtype=F32)
    i0 = np.minimum(pos.astype(np.int64), cells - 1)
    f = pos - i0
    rows = g[:, i0] * (1 - f)[None, :, None] + g[:, i0 + 1] * f[None, :, None]
    return rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i0 + 1] * f[None, None, :]


def _colour(rng: np.random.Generator, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
    return rng.uniform(lo, hi, 3).astype(F32)


def _muted(rng: np.random.Generator, lo: float = 0.2, hi: float = 0.85, sat: float = 0.35) -> np.ndarray:
    """A desaturated colour (walls, floors: shop interiors are muted, people are not)."""
    c = _colour(rng, lo, hi)
    return (c.mean() + F32(sat) * (c - c.mean())).astype(F32)


def floor_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Floor tiles (checker of two colours with grout lines) or mottled noise, (3, S, S)."""
    r = np.arange(size, dtype=F32)
    if rng.uniform() < 0.6:
        p = rng.uniform(0.07, 0.16) * size
        oy, ox = rng.uniform(0, p, 2)
        cy, cx = np.floor((r + oy) / p), np.floor((r + ox) / p)
        check = ((cy[:, None] + cx[None, :]) % 2).astype(F32)
        c1 = _muted(rng)
        c2 = np.clip(c1 * rng.uniform(0.75, 1.25, 3), 0, 1).astype(F32)  # tiles: moderate contrast
        img = c1[:, None, None] * (1 - check) + c2[:, None, None] * check
        grout = (((r + oy) % p) < 1.0)[:, None] | (((r + ox) % p) < 1.0)[None, :]
        img = np.where(grout[None], c1[:, None, None] * F32(rng.uniform(0.6, 0.85)), img)
    else:
        img = _muted(rng)[:, None, None] * (0.75 + 0.5 * smooth_noise(rng, size, int(rng.integers(4, 12))))
    return img.astype(F32)


def wall_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Plain wall with large-scale noise, (3, S, S)."""
    base = _muted(rng)
    return (base[:, None, None] * (0.8 + 0.3 * smooth_noise(rng, size, int(rng.integers(2, 8))))).astype(F32)


@dataclass
class Shelves:
    """Shelf rows drawn on the wall: plank tops at ``planks`` (rows, px), spanning x0..x1."""

    planks: np.ndarray
    x0: int
    x1: int
    back: np.ndarray  # colour of the empty shelf back (3,)


def shelf_unit(rng: np.random.Generator, img: np.ndarray, top: int, bottom: int, x0: int, x1: int) -> Shelves:
    """Paint a shelf unit (planks + packed product boxes) into ``img`` (3, S, S) in place."""
    S = img.shape[1]
    back = _muted(rng, 0.05, 0.35)
    img[:, top:bottom, x0:x1] = back[:, None, None]
    spacing = rng.uniform(0.12, 0.2) * S
    planks = np.arange(top + spacing, bottom, spacing).astype(np.int64)
    plank_col = _muted(rng, 0.3, 0.9)
    thick = max(1, int(round(0.02 * S)))
    prev = top
    xs = np.arange(x0, x1)
    for pl in planks:
        # products: consecutive boxes of random width, height and colour standing on the plank
        widths = rng.uniform(0.025, 0.07, 64) * S
        edges = x0 + np.cumsum(widths)
        idx = np.searchsorted(edges, xs)
        n_box = int(idx.max()) + 1
        heights = rng.uniform(0.35, 0.9, n_box) * (pl - prev)
        cols = rng.uniform(0.1, 1.0, (n_box, 3)).astype(F32)
        gap = rng.uniform(size=n_box) < 0.15  # some empty slots
        rows = np.arange(prev, pl)[:, None]
        filled = (rows >= pl - heights[idx][None, :]) & ~gap[idx][None, :]
        region = img[:, prev:pl, x0:x1]
        img[:, prev:pl, x0:x1] = np.where(filled[None], cols[idx].T[:, None, :], region)
        img[:, pl : pl + thick, x0:x1] = plank_col[:, None, None]
        prev = pl + thick
    return Shelves(planks, x0, x1, back)


def background(rng: np.random.Generator, size: int, horizon: float, shelves: bool,
               contrast: float = 1.0) -> tuple[np.ndarray, Shelves | None]:
    """A static scene: wall (optionally with a shelf unit) above row ``horizon``, floor below;
    ``contrast`` scales every deviation from the scene's mean colour (1 = as drawn)."""
    img = floor_texture(rng, size)
    h = int(round(horizon))
    img[:, :h] = wall_texture(rng, size)[:, :h]
    unit = None
    if shelves:
        x0 = int(rng.integers(0, max(1, size // 8)))
        x1 = size - int(rng.integers(0, max(1, size // 8)))
        unit = shelf_unit(rng, img, int(0.04 * size), h, x0, x1)
    if contrast != 1.0:
        mean = img.mean((1, 2), keepdims=True)
        img = mean + F32(contrast) * (img - mean)
        if unit is not None:
            unit.back = (mean[:, 0, 0] + F32(contrast) * (unit.back - mean[:, 0, 0])).astype(F32)
    return img.astype(F32), unit


# ----------------------------------------------------------------------------------------- actors
@dataclass
class Pose:
    """Per-frame pose of a stick-figure actor; every array has shape (T,).

    ``cx, fy``: horizontal centre and foot row (px); ``h``: standing height (px); ``bend``:
    0 = upright .. 1 = deep crouch; ``phase``, ``swing``: walking cycle phase (rad) and leg
    amplitude (0 = feet together); ``arm_r, arm_l``: signed arm angles (rad; 0 = hanging,
    +pi/2 = horizontal towards +x, pi = straight up); ``facing``: +1 / -1 (lean direction)."""

    cx: np.ndarray
    fy: np.ndarray
    h: np.ndarray
    bend: np.ndarray
    phase: np.ndarray
    swing: np.ndarray
    arm_r: np.ndarray
    arm_l: np.ndarray
    facing: float = 1.0
    width: float = 1.0


@dataclass
class Look:
    """Appearance of an actor: RGB colours (3,) in 0..1 and an optional bag at the hip."""

    shirt: np.ndarray
    pants: np.ndarray
    skin: np.ndarray
    bag: np.ndarray | None = None


ARM_LEN = 0.37  # arm length / height


def _contrasting(rng: np.random.Generator, avoid: np.ndarray | None, min_dist: float, hi: float) -> np.ndarray:
    """A random colour at least ``min_dist`` (RGB euclidean) from ``avoid`` (a few tries)."""
    for _ in range(8):
        c = _colour(rng, 0.05, hi)
        if avoid is None or np.linalg.norm(c - avoid) >= min_dist:
            break
    return c


def random_look(rng: np.random.Generator, bag_prob: float = 0.0, avoid: np.ndarray | None = None,
                min_dist: float = 0.0) -> Look:
    """Random clothes / skin / bag; shirt and trousers contrast with colour ``avoid`` if given."""
    skin = np.array([0.95, 0.75, 0.6], F32) * F32(rng.uniform(0.35, 1.0)) + rng.uniform(-0.05, 0.05, 3).astype(F32)
    bag = _colour(rng, 0.05, 0.95) if rng.uniform() < bag_prob else None
    shirt = _contrasting(rng, avoid, min_dist, 0.95)
    pants = _contrasting(rng, avoid, min_dist, 0.8)
    return Look(shirt, pants, np.clip(skin, 0, 1), bag)


def joints(p: Pose) -> dict[str, np.ndarray]:
    """Joint positions, each (T, 2) as (x, y) pixel coordinates."""
    h, b, f = p.h, p.bend, p.facing
    hip = np.stack([p.cx - f * 0.06 * h * b, p.fy - h * (0.47 - 0.22 * b)], 1)
    lean = 0.95 * b
    up = np.stack([f * np.sin(lean), -np.cos(lean)], 1)
    neck = hip + (0.3 * h)[:, None] * up
    head = hip + (0.41 * h)[:, None] * up
    sh = np.stack([0.09 * h * p.width, 0.015 * h], 1)
    sw = 0.13 * h * p.swing * np.sin(p.phase)
    spread = 0.055 * h * p.width
    foot_a = np.stack([p.cx + spread + sw, p.fy], 1)
    foot_b = np.stack([p.cx - spread - sw, p.fy], 1)
    fwd = np.stack([f * 0.2 * h * b, 0 * h], 1)
    knee_a = (hip + foot_a) / 2 + fwd
    knee_b = (hip + foot_b) / 2 + fwd
    sh_r, sh_l = neck + sh, neck + sh * np.array([-1.0, 1.0])
    L = (ARM_LEN * h)[:, None]
    hand_r = sh_r + L * np.stack([np.sin(p.arm_r), np.cos(p.arm_r)], 1)
    hand_l = sh_l + L * np.stack([np.sin(p.arm_l), np.cos(p.arm_l)], 1)
    return {"hip": hip, "neck": neck, "head": head, "foot_a": foot_a, "foot_b": foot_b, "knee_a": knee_a,
            "knee_b": knee_b, "sh_r": sh_r, "sh_l": sh_l, "hand_r": hand_r, "hand_l": hand_l}


def reach_angle(shoulder: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Signed arm angle pointing from ``shoulder`` to ``target`` (both (..., 2) as x, y)."""
    d = np.asarray(target) - np.asarray(shoulder)
    return np.arctan2(d[..., 0], d[..., 1])


class Canvas:
    """A crop (y0:y1, x0:x1) of a clip with its pixel-centre grid, for compositing shapes."""

    def __init__(self, clip: np.ndarray, pts: np.ndarray, pad: float):
        S = clip.shape[-1]
        lo = np.floor(pts.min(axis=(0, 1)) - pad).astype(np.int64)
        hi = np.ceil(pts.max(axis=(0, 1)) + pad).astype(np.int64) + 1
        self.x0, self.y0 = int(np.clip(lo[0], 0, S)), int(np.clip(lo[1], 0, S))
        self.x1, self.y1 = int(np.clip(hi[0], 0, S)), int(np.clip(hi[1], 0, S))
        self.view = clip[:, :, self.y0 : self.y1, self.x0 : self.x1]
        self.yy = np.arange(self.y0, self.y1, dtype=F32)[None, :, None]
        self.xx = np.arange(self.x0, self.x1, dtype=F32)[None, None, :]

    @property
    def empty(self) -> bool:
        return self.x1 <= self.x0 or self.y1 <= self.y0

    def capsule(self, a: np.ndarray, b: np.ndarray, r) -> np.ndarray:
        """Coverage (T, h, w) of segments a->b ((T, 2) each) thickened by radius r."""
        ax, ay = a[:, 0, None, None].astype(F32), a[:, 1, None, None].astype(F32)
        dx, dy = (b[:, 0] - a[:, 0]).astype(F32)[:, None, None], (b[:, 1] - a[:, 1]).astype(F32)[:, None, None]
        px, py = self.xx - ax, self.yy - ay
        t = np.clip((px * dx + py * dy) / (dx * dx + dy * dy + F32(1e-6)), 0, 1)
        d = np.sqrt((px - t * dx) ** 2 + (py - t * dy) ** 2)
        return np.clip(np.asarray(r, F32).reshape(-1, 1, 1) + F32(0.5) - d, 0, 1)

    def disk(self, c: np.ndarray, r) -> np.ndarray:
        d = np.sqrt((self.xx - c[:, 0, None, None].astype(F32)) ** 2 + (self.yy - c[:, 1, None, None].astype(F32)) ** 2)
        return np.clip(np.asarray(r, F32).reshape(-1, 1, 1) + F32(0.5) - d, 0, 1)

    def box(self, c: np.ndarray, half_w, half_h) -> np.ndarray:
        hw = np.asarray(half_w, F32).reshape(-1, 1, 1)
        hh = np.asarray(half_h, F32).reshape(-1, 1, 1)
        ax = np.clip(hw + F32(0.5) - np.abs(self.xx - c[:, 0, None, None].astype(F32)), 0, 1)
        ay = np.clip(hh + F32(0.5) - np.abs(self.yy - c[:, 1, None, None].astype(F32)), 0, 1)
        return ax * ay

    def paint(self, alpha: np.ndarray, colour: np.ndarray) -> None:
        """Composite ``colour`` (3,) or (T, 3) with coverage ``alpha`` (T, h, w) in place."""
        col = np.asarray(colour, F32)
        col = col.reshape(-1, 3, 1, 1)
        self.view += alpha[:, None] * (col - self.view)


def draw_actor(clip: np.ndarray, p: Pose, look: Look, item: dict | None = None) -> None:
    """Composite one actor (and an optional item it handles) into ``clip`` (T, 3, S, S) in place.

    ``item``: ``pos`` (T, 2) x/y centre, ``visible`` (T,) bool, ``half`` (half-size px, scalar),
    ``colour`` (3,); it is drawn in front of the actor."""
    j = joints(p)
    pts = np.stack(list(j.values()), 1)  # (T, J, 2)
    pad = float(0.12 * p.h.max()) + 2
    if item is not None:
        pts = np.concatenate([pts, item["pos"][:, None]], 1)
        pad += float(item["half"])
    cv = Canvas(clip, pts, pad)
    if cv.empty:
        return
    h = p.h
    leg_r = 0.06 * h * p.width
    legs = np.maximum(
        np.maximum(cv.capsule(j["hip"], j["knee_a"], leg_r), cv.capsule(j["knee_a"], j["foot_a"], leg_r)),
        np.maximum(cv.capsule(j["hip"], j["knee_b"], leg_r), cv.capsule(j["knee_b"], j["foot_b"], leg_r)),
    )
    cv.paint(legs, look.pants)
    cv.paint(cv.capsule(j["hip"], j["neck"], 0.12 * h * p.width), look.shirt)
    if look.bag is not None:
        bag_c = j["hip"] + np.stack([-p.facing * 0.13 * h, -0.02 * h], 1)
        cv.paint(cv.box(bag_c, 0.07 * h, 0.08 * h), look.bag)
    arm_r = 0.042 * h
    arms = np.maximum(cv.capsule(j["sh_r"], j["hand_r"], arm_r), cv.capsule(j["sh_l"], j["hand_l"], arm_r))
    cv.paint(arms, look.shirt * F32(0.8))
    hands = np.maximum(cv.disk(j["hand_r"], 0.05 * h), cv.disk(j["hand_l"], 0.05 * h))
    cv.paint(hands, look.skin)
    cv.paint(cv.disk(j["head"], 0.085 * h), look.skin)
    if item is not None:
        a = cv.box(item["pos"], item["half"], item["half"] * 1.2) * item["visible"][:, None, None]
        cv.paint(a.astype(F32), item["colour"])


def draw_item(clip: np.ndarray, pos: np.ndarray, half: float, visible: np.ndarray, colour: np.ndarray) -> None:
    """A product box alone (not held), drawn on top of ``clip``."""
    cv = Canvas(clip, pos[:, None], half * 1.2 + 2)
    if not cv.empty:
        cv.paint((cv.box(pos, half, half * 1.2) * visible[:, None, None]).astype(F32), colour)


# ------------------------------------------------------------------------------- nuisance & camera
def occluder(rng: np.random.Generator, clip: np.ndarray, width_range, speed_range) -> None:
    """A pillar / shelf end passing in front of everything at constant speed (random direction)."""
    T, _, S, _ = clip.shape
    w = rng.uniform(*width_range) * S
    v = rng.uniform(*speed_range) * S * rng.choice([-1.0, 1.0])
    mid = rng.uniform(0.15, 0.85) * S
    xc = mid + v * (np.arange(T) - (T - 1) / 2.0)
    top = 0 if rng.uniform() < 0.6 else int(rng.uniform(0.2, 0.6) * S)
    col = _colour(rng, 0.05, 0.9)
    xs = np.arange(S, dtype=F32)
    cover = np.clip(w / 2 + 0.5 - np.abs(xs[None, :] - xc[:, None]), 0, 1).astype(F32)  # (T, S)
    stripes = (0.85 + 0.15 * np.cos(xs / max(w, 1.0) * 6.0)).astype(F32)
    region = clip[:, :, top:]
    region += cover[:, None, None, :] * (col[None, :, None, None] * stripes - region)


def lighting(rng: np.random.Generator, clip: np.ndarray, ramp_max: float, local_max: float, flicker: float) -> None:
    """Global brightness ramp (random sign), colour cast, per-frame flicker and a moving local
    light / shadow blob, applied in place. Every effect is time-reversal symmetric in law."""
    T, _, S, _ = clip.shape
    tt = np.arange(T, dtype=F32) / max(T - 1, 1) - F32(0.5)
    gain = rng.uniform(0.6, 1.1) * (1 + rng.uniform(-ramp_max, ramp_max) * tt)
    gain = gain * (1 + flicker * rng.standard_normal(T))
    cast = rng.uniform(0.85, 1.15, 3)
    g = (gain[:, None] * cast[None, :]).astype(F32)[:, :, None, None]
    if local_max > 0:
        c0, c1 = rng.uniform(0, S, 2), rng.uniform(0, S, 2)
        c = c0[None] + (c1 - c0)[None] * (tt + 0.5)[:, None]
        sig = rng.uniform(0.15, 0.35) * S
        r = np.arange(S, dtype=F32)
        blob = np.exp(-((r[None, :, None] - c[:, 1, None, None]) ** 2 + (r[None, None, :] - c[:, 0, None, None]) ** 2)
                      / F32(2 * sig * sig)).astype(F32)
        g = g * (1 + F32(rng.uniform(-local_max, local_max)) * blob[:, None])
    clip *= g


@lru_cache(maxsize=1)
def _gauss_lut() -> np.ndarray:
    """Standard normal quantiles at the 256 mid-points (k + 0.5) / 256: uniform bytes -> gaussian."""
    q = (np.arange(256) + 0.5) / 256
    return np.sqrt(2.0) * np.array([_erfinv(2 * v - 1) for v in q])


def _erfinv(y: float) -> float:
    """Inverse error function by Newton's method on math.erf (only used for the 256-entry LUT)."""
    x = 0.0
    for _ in range(60):
        x -= (math.erf(x) - y) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


def gaussian(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """Fast gaussian noise (256-level quantised normal from random bytes), float32 ``shape``."""
    codes = np.frombuffer(rng.bytes(int(np.prod(shape))), np.uint8).reshape(shape)
    return (_gauss_lut() * std).astype(F32)[codes]


def camera_finish(rng: np.random.Generator, clip: np.ndarray, noise_std: float, block: int, block_std: float,
                  jitter_px: int) -> np.ndarray:
    """Sensor noise, JPEG-like block artefacts (a random offset per ``block`` x ``block`` tile and
    channel, as from coarsely quantised DC coefficients), camera shake; quantise to uint8
    (T, 3, S, S). ``clip`` is overwritten."""
    T, C, S, _ = clip.shape
    y = clip
    y *= F32(255)
    if noise_std > 0:
        y += gaussian(rng, y.shape, 255 * noise_std)
    if block > 1 and block_std > 0 and S % block == 0:
        nb = S // block
        dc = gaussian(rng, (T, C, nb, nb), 255 * block_std)
        y.reshape(T, C, nb, block, nb, block)[...] += dc[:, :, :, None, :, None]
    np.clip(y, 0, 255, out=y)
    y += F32(0.5)
    out = y.astype(np.uint8)
    if jitter_px > 0:
        j = int(jitter_px)
        pad = np.pad(out, ((0, 0), (0, 0), (j, j), (j, j)), mode="edge")
        sh = rng.integers(-j, j + 1, (T, 2))
        out = np.stack([pad[t, :, j - sy : j - sy + S, j - sx : j - sx + S] for t, (sy, sx) in enumerate(sh)])
    return out
