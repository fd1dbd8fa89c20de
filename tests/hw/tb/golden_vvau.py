"""Golden model of the vvau RTL (FINN VVAU semantics: the depthwise conv), pure numpy, no cocotb.

A "window" is one output pixel's input: x[c, k] for the CHANNELS channels and KERNEL window
positions. acc[c] = sum_k x[c, k] * W[c, k]; with NSTEPS > 0 the output is qonnx' multithreshold
(number of t with acc >= T[c, t]) + ActVal, with NSTEPS = 0 acc itself.

Stream and memory layouts (lane 0 in the lowest bits), as the depthwise SWG (SIMD = PE) streams:
  input      per window, for g in 0..NF-1, for k in 0..KERNEL-1: beat of lanes p = x[g*PE+p, k]
  output     per window, for g: beat of lanes p = y[g*PE+p]
  weights    word g*KERNEL+k, lane p at bit p*W_BITS holds W[g*PE+p, k]
  thresholds word g, lane (p,t) at bit (p*NSTEPS+t)*T_BITS holds T[g*PE+p, t]
finn-plus' VVAU.execute_node without a window-generator producer reads its (1, H, W, K*C) input in
exactly this stream order ((C/PE, K, PE) per pixel), so the golden is checked against it directly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from golden_mvau import lane_range, pack, signed_bits, sv_string, unpack, write_hex  # noqa: F401


@dataclass(frozen=True)
class VvauParams:
    channels: int
    pe: int
    kernel: int
    in_bits: int
    in_signed: bool
    w_bits: int
    w_signed: bool
    nsteps: int = 0
    act_val: int = 0
    out_bits: int | None = None  # None: the accumulator width (required when nsteps == 0)
    w_max_abs: int | None = None  # weights drawn from [-w_max_abs, w_max_abs] (a tight accumulator)

    def __post_init__(self):
        assert self.channels % self.pe == 0, "PE must divide CHANNELS"
        if self.nsteps == 0:
            assert self.out_bits in (None, self.acc_bits), "no activation: OUT_BITS = ACC_BITS"
        else:
            lo, hi = self.out_range
            assert lo <= self.act_val and self.nsteps + self.act_val <= hi, "output range"

    @property
    def nf(self) -> int:
        return self.channels // self.pe

    @property
    def in_range(self) -> tuple[int, int]:
        return lane_range(self.in_bits, self.in_signed)

    @property
    def w_range(self) -> tuple[int, int]:
        lo, hi = lane_range(self.w_bits, self.w_signed)
        if self.w_max_abs is not None:
            lo, hi = max(lo, -self.w_max_abs), min(hi, self.w_max_abs)
        return lo, hi

    @property
    def acc_range(self) -> tuple[int, int]:
        """Worst-case accumulator range of the weight range (what the RTL must hold)."""
        corners = [x * w for x in self.in_range for w in self.w_range]
        return self.kernel * min(corners), self.kernel * max(corners)

    @property
    def acc_bits(self) -> int:
        return signed_bits(*self.acc_range)  # the RTL accumulator is always two's complement

    @property
    def t_range(self) -> tuple[int, int]:
        lo, hi = self.acc_range
        return lo, hi + 1

    @property
    def t_bits(self) -> int:
        return signed_bits(*self.t_range) if self.nsteps else 1

    @property
    def out_signed(self) -> bool:
        return self.acc_range[0] < 0 if self.nsteps == 0 else self.act_val < 0

    @property
    def out_width(self) -> int:
        if self.nsteps == 0:
            return self.acc_bits
        if self.out_bits is not None:
            return self.out_bits
        return (signed_bits(self.act_val, self.nsteps + self.act_val) if self.act_val < 0
                else max(1, (self.nsteps + self.act_val).bit_length()))

    @property
    def out_range(self) -> tuple[int, int]:
        return lane_range(self.out_width, self.out_signed)

    def rtl_parameters(self, weight_file, thresh_file, mac_impl: str = "lut") -> dict[str, object]:
        """HDL parameters of the vvau module (string values carry their SV quotes)."""
        params: dict[str, object] = {
            "CHANNELS": self.channels, "PE": self.pe, "KERNEL": self.kernel,
            "IN_BITS": self.in_bits, "IN_SIGNED": int(self.in_signed),
            "W_BITS": self.w_bits, "W_SIGNED": int(self.w_signed), "ACC_BITS": self.acc_bits,
            "NSTEPS": self.nsteps, "T_BITS": self.t_bits, "ACT_VAL": self.act_val,
            "OUT_BITS": self.out_width,
            "WEIGHT_FILE": sv_string(weight_file), "MAC_IMPL": sv_string(mac_impl),
        }
        if self.nsteps:
            params["THRESH_FILE"] = sv_string(thresh_file)
        return params

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "VvauParams":
        return cls(**json.loads(text))


# ---------------------------------------------------------------------------- data generation

def make_weights(p: VvauParams, rng: np.random.Generator) -> np.ndarray:
    """Random (CHANNELS, KERNEL) weights; channel 0 all max, channel 1 (if any) all min, so the
    extreme windows drive the accumulator to both ends of its range."""
    lo, hi = p.w_range
    w = rng.integers(lo, hi + 1, size=(p.channels, p.kernel), dtype=np.int64)
    w[0] = hi
    if p.channels > 1:
        w[1] = lo
    return w


def accumulate(p: VvauParams, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """acc[n, c] for windows x (N, CHANNELS, KERNEL)."""
    return (np.asarray(x, dtype=np.int64) * np.asarray(w, dtype=np.int64)[None]).sum(axis=2)


def random_windows(p: VvauParams, rng: np.random.Generator, n: int) -> np.ndarray:
    """n random windows (N, CHANNELS, KERNEL); 10% of the elements at an end of the input range."""
    lo, hi = p.in_range
    x = rng.integers(lo, hi + 1, size=(n, p.channels, p.kernel), dtype=np.int64)
    ends = rng.random(x.shape) < 0.1
    x[ends] = rng.choice([lo, hi], size=int(ends.sum()))
    return x


def extreme_windows(p: VvauParams) -> np.ndarray:
    """All inputs at max, at min, zero (or the min code), and alternating max/min."""
    lo, hi = p.in_range
    zero = 0 if lo <= 0 <= hi else lo
    alt = np.array([[hi if (c + k) % 2 == 0 else lo for k in range(p.kernel)] for c in range(p.channels)])
    shape = (p.channels, p.kernel)
    return np.stack([np.full(shape, hi), np.full(shape, lo), np.full(shape, zero), alt]).astype(np.int64)


def make_thresholds(p: VvauParams, rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    """Sorted (CHANNELS, NSTEPS) thresholds over the accumulator values random windows produce
    (every output level occurs), some uniform over the whole range, channels 0/1 at its ends."""
    if p.nsteps == 0:
        return np.zeros((p.channels, 0), dtype=np.int64)
    tlo, thi = p.t_range
    samples = accumulate(p, random_windows(p, rng, 256), w)
    t = np.empty((p.channels, p.nsteps), dtype=np.int64)
    for c in range(p.channels):
        picks = rng.choice(samples[:, c], size=p.nsteps)
        uniform = rng.integers(tlo, thi + 1, size=p.nsteps)
        t[c] = np.where(rng.random(p.nsteps) < 0.8, picks, uniform)
    ends = [[thi - 1, thi, tlo + 1, tlo], [tlo + 1, tlo, thi - 1, thi]]
    for c in range(min(2, p.channels)):
        k = min(4, p.nsteps)
        t[c, :k] = ends[c][:k]
    return np.sort(np.clip(t, tlo, thi), axis=1)


# ---------------------------------------------------------------------------- golden

def expected(p: VvauParams, x: np.ndarray, w: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Expected outputs (N, CHANNELS) as integers."""
    acc = accumulate(p, x, w)
    lo, hi = p.acc_range
    assert acc.min() >= lo and acc.max() <= hi, "accumulator outside its worst-case range"
    if p.nsteps == 0:
        y = acc
    else:
        y = (acc[:, :, None] >= t[None, :, :]).sum(axis=2).astype(np.int64) + p.act_val
    olo, ohi = p.out_range
    assert y.min() >= olo and y.max() <= ohi, "output outside OUT_BITS"
    return y


# ---------------------------------------------------------------------------- packing

def stream_order(p: VvauParams, x: np.ndarray) -> np.ndarray:
    """Windows (N, CHANNELS, KERNEL) as the SWG streams them: (N, NF*KERNEL*PE) elements."""
    n = x.shape[0]
    return x.reshape(n, p.nf, p.pe, p.kernel).transpose(0, 1, 3, 2).reshape(n, -1)


def input_beats(p: VvauParams, x: np.ndarray) -> list[int]:
    flat = stream_order(p, x)
    return [pack(flat[n, b * p.pe:(b + 1) * p.pe], p.in_bits)
            for n in range(x.shape[0]) for b in range(p.nf * p.kernel)]


def output_beats(p: VvauParams, y: np.ndarray) -> list[int]:
    return [pack(v[g * p.pe:(g + 1) * p.pe], p.out_width) for v in y for g in range(p.nf)]


def beats_to_outputs(p: VvauParams, beats: list[int]) -> np.ndarray:
    lanes = [v for b in beats for v in unpack(b, p.pe, p.out_width, p.out_signed)]
    return np.array(lanes, dtype=np.int64).reshape(-1, p.channels)


def weight_words(p: VvauParams, w: np.ndarray) -> list[int]:
    return [pack([w[g * p.pe + q, k] for q in range(p.pe)], p.w_bits)
            for g in range(p.nf) for k in range(p.kernel)]


def threshold_words(p: VvauParams, t: np.ndarray) -> list[int]:
    return [pack([t[g * p.pe + q, s] for q in range(p.pe) for s in range(p.nsteps)], p.t_bits)
            for g in range(p.nf)]


def write_memories(p: VvauParams, w, t, folder) -> tuple[Path, Path | None]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wf = write_hex(folder / "weights.hex", weight_words(p, w), p.pe * p.w_bits)
    tf = None
    if p.nsteps:
        tf = write_hex(folder / "thresholds.hex", threshold_words(p, t), p.pe * p.nsteps * p.t_bits)
    return wf, tf


def save_case(path, p: VvauParams, w, t) -> Path:
    path = Path(path)
    np.savez(path, params=np.array(p.to_json()), w=w, t=t)
    return path


def load_case(path) -> tuple[VvauParams, np.ndarray, np.ndarray]:
    d = np.load(path)
    return VvauParams.from_json(str(d["params"])), d["w"], d["t"]


def windows_per_batch(p: VvauParams, budget_cycles: int = 2500, lo: int = 4, hi: int = 40) -> int:
    return max(lo, min(hi, budget_cycles // (p.nf * p.kernel)))

