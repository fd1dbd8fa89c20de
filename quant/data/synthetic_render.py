"""Low-level drawing for the synthetic video tasks in :mod:`tsmfpga.quant.data.synthetic`.

Everything works on float32 "scenes" with values in 0..1 and shape (T, S, S); the final
camera model (brightness, noise, quantisation to uint8) is applied by :func:`finalize`.
Digit sprites are the real 8x8 handwritten digits bundled with scikit-learn (no download),
upscaled with bilinear interpolation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

#: number of images in sklearn's bundled digits set
N_DIGIT_IMAGES = 1797
#: digit image i is a test image iff i % TEST_MODULO == 0 (train/val use the others)
TEST_MODULO = 5


@lru_cache(maxsize=4)
def digit_sprites(size: int) -> np.ndarray:
    """All sklearn digits as float32 sprites of shape (1797, size, size), values 0..1 (read-only)."""
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float64) / 16.0  # (1797, 8, 8), 0..1
    z = ndimage.zoom(images, (1, size / 8.0, size / 8.0), order=1)
    z = np.clip(z, 0.0, 1.0).astype(np.float32)
    z.setflags(write=False)
    return z


def digit_pool(test: bool) -> np.ndarray:
    """Indices of the digit images used by the test split (``test=True``) or by train/val."""
    idx = np.arange(N_DIGIT_IMAGES)
    return idx[(idx % TEST_MODULO == 0) == test]


def render_sprite(
    sprite: np.ndarray,
    cy: np.ndarray,
    cx: np.ndarray,
    angle_deg: np.ndarray,
    scale: np.ndarray,
    size: int,
) -> np.ndarray:
    """Draw ``sprite`` into T frames of size x size with per-frame centre/rotation/scale.

    ``cy, cx`` are the sprite centre in pixel coordinates, ``angle_deg`` a clockwise (as seen
    on screen) rotation and ``scale`` a magnification; all of shape (T,). One bilinear
    ``map_coordinates`` call renders the whole clip. Returns float32 (T, size, size).
    """
    d = sprite.shape[0]
    c0 = (d - 1) / 2.0
    r = np.arange(size, dtype=np.float64)
    dy = r[None, :, None] - np.asarray(cy, np.float64)[:, None, None]  # (T, S, 1)
    dx = r[None, None, :] - np.asarray(cx, np.float64)[:, None, None]  # (T, 1, S)
    th = np.deg2rad(np.asarray(angle_deg, np.float64))[:, None, None]
    inv = 1.0 / np.asarray(scale, np.float64)[:, None, None]
    cos, sin = np.cos(th), np.sin(th)
    # inverse map screen -> sprite: rotate by -theta, divide by scale
    sx = (cos * dx + sin * dy) * inv + c0
    sy = (cos * dy - sin * dx) * inv + c0
    return ndimage.map_coordinates(sprite, [sy, sx], order=1, mode="constant", cval=0.0)


def clutter(
    rng: np.random.Generator,
    size: int,
    max_strokes: int,
    max_dots: int,
    intensity_range: tuple[float, float],
) -> np.ndarray:
    """A static background of 0..max_strokes faint line strokes and 0..max_dots dots (S, S)."""
    canvas = np.zeros((size, size), np.float32)
    n_strokes = int(rng.integers(0, max_strokes + 1))
    for _ in range(n_strokes):
        y0, x0 = rng.uniform(0, size - 1, 2)
        ang = rng.uniform(0, np.pi)
        length = rng.uniform(4.0, 12.0)
        val = rng.uniform(*intensity_range)
        s = np.linspace(-length / 2, length / 2, int(length * 2) + 1)
        ys = np.rint(y0 + s * np.sin(ang)).astype(np.int64)
        xs = np.rint(x0 + s * np.cos(ang)).astype(np.int64)
        ok = (ys >= 0) & (ys < size) & (xs >= 0) & (xs < size)
        canvas[ys[ok], xs[ok]] = np.maximum(canvas[ys[ok], xs[ok]], val)
    n_dots = int(rng.integers(0, max_dots + 1))
    if n_dots:
        ys, xs = rng.integers(0, size, (2, n_dots))
        vals = rng.uniform(*intensity_range, n_dots).astype(np.float32)
        canvas[ys, xs] = np.maximum(canvas[ys, xs], vals)
    return canvas


def occlude(
    rng: np.random.Generator,
    scene: np.ndarray,
    prob: float,
    size_range: tuple[int, int],
    max_frames: int,
) -> None:
    """With probability ``prob`` paint a random grey box over 1..max_frames consecutive frames.

    The start frame is uniform over all valid starts, so the effect is time-reversal symmetric.
    """
    if prob <= 0 or rng.uniform() >= prob:
        return
    T, S, _ = scene.shape
    n = int(rng.integers(1, min(max_frames, T) + 1))
    t0 = int(rng.integers(0, T - n + 1))
    h, w = rng.integers(size_range[0], size_range[1] + 1, 2)
    y0, x0 = rng.integers(0, S - min(h, S) + 1), rng.integers(0, S - min(w, S) + 1)
    scene[t0 : t0 + n, y0 : y0 + h, x0 : x0 + w] = rng.uniform(0.0, 0.6)


def jitter(rng: np.random.Generator, scene: np.ndarray, max_px: int) -> np.ndarray:
    """Shift every frame by an independent random integer offset in [-max_px, max_px]^2.

    Uncovered border pixels become 0 (empty scene). Returns a new array.
    """
    if max_px <= 0:
        return scene
    T, S, _ = scene.shape
    j = int(max_px)
    shifts = rng.integers(-j, j + 1, (T, 2))
    padded = np.pad(scene, ((0, 0), (j, j), (j, j)))
    out = np.empty_like(scene)
    for t, (sy, sx) in enumerate(shifts):
        out[t] = padded[t, j - sy : j - sy + S, j - sx : j - sx + S]
    return out


def finalize(
    rng: np.random.Generator,
    scene: np.ndarray,
    gain_range: tuple[float, float],
    offset_range: tuple[float, float],
    noise_std: float,
) -> np.ndarray:
    """Per-clip brightness (gain, offset) + per-pixel gaussian noise, then quantise to uint8."""
    gain = rng.uniform(*gain_range)
    offset = rng.uniform(*offset_range)
    img = offset + gain * scene
    if noise_std > 0:
        img = img + noise_std * rng.standard_normal(scene.shape, dtype=np.float32)
    return np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def person_mask(size: int, cx: np.ndarray, width: float, height: float) -> np.ndarray:
    """Boolean (T, S, S) mask of a stylised person (body box + round head) standing on the
    bottom edge with horizontal centre ``cx`` (shape (T,))."""
    r = np.arange(size, dtype=np.float64)
    yy = r[None, :, None]
    xx = r[None, None, :]
    cx = np.asarray(cx, np.float64)[:, None, None]
    top = size - height
    body = (yy >= top) & (np.abs(xx - cx) <= width / 2.0)
    head_r = max(1.5, width / 3.5)
    head = (yy - (top - head_r)) ** 2 + (xx - cx) ** 2 <= head_r**2
    return body | head


def uniform_segment(
    rng: np.random.Generator, lo: float, hi: float, length: float
) -> tuple[float, float]:
    """A random segment [a, a + L] inside [lo, hi]; L is capped to the available span."""
    length = min(length, hi - lo)
    a = rng.uniform(lo, hi - length)
    return a, length
