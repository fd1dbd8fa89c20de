"""Golden model of the mvau RTL (FINN MVAU semantics), pure numpy, no cocotb.

Semantics follow finn-plus' MVAU.execute_node: acc = x @ W for a (MW, MH) weight matrix W, or in
binaryXnorMode the popcount of XNOR(x, W) over MW (x and W are 1-bit bipolar codes, 1 = +1,
0 = -1; acc in 0..MW). With NSTEPS > 0 the output is qonnx' multithreshold:
(number of t with acc >= T[ch, t]) + ActVal; with NSTEPS = 0 it is acc itself.

Also here: random weights / thresholds for a parameter set, the hex-file layouts the RTL reads
with $readmemh, and the packing of stream beats (lane 0 in the lowest bits):
  weights    word nf*SF+sf, lane (p,s) at bit (p*SIMD+s)*W_BITS holds W[sf*SIMD+s, nf*PE+p]
  thresholds word nf,       lane (p,t) at bit (p*NSTEPS+t)*T_BITS holds T[nf*PE+p, t]
  input      beat sf of a vector, lane s at bit s*IN_BITS holds x[sf*SIMD+s]
  output     beat nf of a vector, lane p at bit p*OUT_BITS holds channel nf*PE+p
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


def lane_range(bits: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value of a bits-wide lane."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's complement width holding every integer in [lo, hi]."""
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def unsigned_bits(hi: int) -> int:
    """Smallest unsigned width holding 0..hi (at least 1)."""
    return max(1, int(hi).bit_length())


@dataclass(frozen=True)
class MvauParams:
    mw: int
    mh: int
    simd: int
    pe: int
    in_bits: int
    in_signed: bool
    w_bits: int
    w_signed: bool
    xnor: bool = False
    nsteps: int = 0
    act_val: int = 0
    out_bits: int | None = None  # None: the accumulator width (required when nsteps == 0)
    dsp_lanes: int = 1  # DSP_LANES: SIMD lanes per multiplier (dot-product packing, MAC_IMPL "dsp")

    def __post_init__(self):
        assert self.mw % self.simd == 0, "SIMD must divide MW"
        assert self.mh % self.pe == 0, "PE must divide MH"
        if self.xnor:
            assert self.in_bits == 1 and self.w_bits == 1, "XNOR mode: 1-bit codes"
            assert not self.in_signed and not self.w_signed
        if self.nsteps == 0:
            assert self.out_bits in (None, self.acc_bits), "no activation: OUT_BITS = ACC_BITS"
        else:
            lo, hi = self.act_val, self.nsteps + self.act_val
            assert lo >= lane_range(self.out_width, self.out_signed)[0], "output range"
            assert hi <= lane_range(self.out_width, self.out_signed)[1], "output range"

    # -- folding
    @property
    def sf(self) -> int:
        return self.mw // self.simd

    @property
    def nf(self) -> int:
        return self.mh // self.pe

    # -- value ranges
    @property
    def in_range(self) -> tuple[int, int]:
        return lane_range(self.in_bits, self.in_signed)

    @property
    def w_range(self) -> tuple[int, int]:
        return lane_range(self.w_bits, self.w_signed)

    @property
    def acc_signed(self) -> bool:
        return (not self.xnor) and (self.in_signed or self.w_signed)

    @property
    def acc_range(self) -> tuple[int, int]:
        """Worst-case accumulator range from the data types (what the RTL must hold)."""
        if self.xnor:
            return 0, self.mw
        corners = [x * w for x in self.in_range for w in self.w_range]
        return self.mw * min(corners), self.mw * max(corners)

    @property
    def acc_bits(self) -> int:
        lo, hi = self.acc_range
        return signed_bits(lo, hi) if self.acc_signed else unsigned_bits(hi)

    @property
    def t_range(self) -> tuple[int, int]:
        """Thresholds live in [acc_min, acc_max + 1] (FINN's RoundAndClipThresholds)."""
        lo, hi = self.acc_range
        return lo, hi + 1

    @property
    def t_bits(self) -> int:
        return signed_bits(*self.t_range) if self.nsteps else 1

    @property
    def out_signed(self) -> bool:
        return self.acc_signed if self.nsteps == 0 else self.act_val < 0

    @property
    def out_width(self) -> int:
        if self.nsteps == 0:
            return self.acc_bits
        if self.out_bits is not None:
            return self.out_bits
        return (signed_bits(self.act_val, self.nsteps + self.act_val) if self.act_val < 0
                else unsigned_bits(self.nsteps + self.act_val))

    @property
    def out_range(self) -> tuple[int, int]:
        return lane_range(self.out_width, self.out_signed)

    def rtl_parameters(self, weight_file: str | Path, thresh_file: str | Path | None,
                       mac_impl: str = "lut") -> dict[str, object]:
        """HDL parameters of the mvau module (string values carry their SV quotes)."""
        params: dict[str, object] = {
            "MW": self.mw, "MH": self.mh, "SIMD": self.simd, "PE": self.pe,
            "IN_BITS": self.in_bits, "IN_SIGNED": int(self.in_signed),
            "W_BITS": self.w_bits, "W_SIGNED": int(self.w_signed),
            "BINARY_XNOR": int(self.xnor), "ACC_BITS": self.acc_bits,
            "NSTEPS": self.nsteps, "T_BITS": self.t_bits, "ACT_VAL": self.act_val,
            "OUT_BITS": self.out_width, "DSP_LANES": self.dsp_lanes,
            "WEIGHT_FILE": sv_string(weight_file),
            "MAC_IMPL": sv_string(mac_impl),
        }
        if self.nsteps:
            params["THRESH_FILE"] = sv_string(thresh_file)
        return params

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "MvauParams":
        return cls(**json.loads(text))


def sv_string(value) -> str:
    """A SystemVerilog string literal for a -G / -P override. cocotb_tools' runner passes
    parameter values verbatim (no shell), so the quotes must be part of the value."""
    text = str(value)
    assert '"' not in text and "\\" not in text, f"unsupported characters in {text!r}"
    return f'"{text}"'


# ---------------------------------------------------------------------------- data generation

def make_weights(p: MvauParams, rng: np.random.Generator) -> np.ndarray:
    """Random (MW, MH) weights; channel 0 is all max, channel 1 (if any) all min, so that the
    extreme input vectors drive the accumulator to both ends of its range."""
    lo, hi = p.w_range
    w = rng.integers(lo, hi + 1, size=(p.mw, p.mh), dtype=np.int64)
    w[:, 0] = hi
    if p.mh > 1:
        w[:, 1] = lo
    return w


def accumulate(p: MvauParams, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """acc[n, ch] for input vectors x (N, MW)."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    if p.xnor:
        return (x[:, :, None] == w[None, :, :]).sum(axis=1).astype(np.int64)
    return x @ w


def make_thresholds(p: MvauParams, rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    """Sorted (MH, NSTEPS) thresholds spread over the accumulator values random inputs really
    produce (so every output level occurs), with some duplicates, plus uniform picks over the whole
    threshold range; channels 0 and 1 get thresholds at the ends of the range."""
    if p.nsteps == 0:
        return np.zeros((p.mh, 0), dtype=np.int64)
    tlo, thi = p.t_range
    samples = accumulate(p, random_vectors(p, rng, 256), w)  # (256, MH)
    t = np.empty((p.mh, p.nsteps), dtype=np.int64)
    for ch in range(p.mh):
        picks = rng.choice(samples[:, ch], size=p.nsteps)
        uniform = rng.integers(tlo, thi + 1, size=p.nsteps)
        t[ch] = np.where(rng.random(p.nsteps) < 0.8, picks, uniform)
    # channel 0 (all-max weights): acc_max reaches thi - 1 exactly, never thi; channel 1: acc_min
    # fails tlo + 1 exactly, always passes tlo
    ends = [[thi - 1, thi, tlo + 1, tlo], [tlo + 1, tlo, thi - 1, thi]]
    for ch in range(min(2, p.mh)):
        k = min(4, p.nsteps)
        t[ch, :k] = ends[ch][:k]
    return np.sort(np.clip(t, tlo, thi), axis=1)


def random_vectors(p: MvauParams, rng: np.random.Generator, n: int) -> np.ndarray:
    """n random input vectors (N, MW); 10% of the elements at an end of the input range."""
    lo, hi = p.in_range
    x = rng.integers(lo, hi + 1, size=(n, p.mw), dtype=np.int64)
    ends = rng.random((n, p.mw)) < 0.1
    x[ends] = rng.choice([lo, hi], size=int(ends.sum()))
    return x


def extreme_vectors(p: MvauParams) -> np.ndarray:
    """All inputs at max, at min, zero (or -1 code), and alternating max/min."""
    lo, hi = p.in_range
    alt = np.array([hi if k % 2 == 0 else lo for k in range(p.mw)], dtype=np.int64)
    zero = 0 if lo <= 0 <= hi else lo
    return np.stack([np.full(p.mw, hi), np.full(p.mw, lo), np.full(p.mw, zero), alt]).astype(np.int64)


# ---------------------------------------------------------------------------- golden

def multithreshold(acc: np.ndarray, t: np.ndarray, act_val: int) -> np.ndarray:
    """qonnx multithreshold with out_scale 1: count of t with acc >= T[ch, t], plus act_val."""
    return (acc[:, :, None] >= t[None, :, :]).sum(axis=2).astype(np.int64) + act_val


def expected(p: MvauParams, x: np.ndarray, w: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Expected output values (N, MH) as integers."""
    acc = accumulate(p, x, w)
    lo, hi = p.acc_range
    assert acc.min() >= lo and acc.max() <= hi, "accumulator outside its worst-case range"
    y = acc if p.nsteps == 0 else multithreshold(acc, t, p.act_val)
    olo, ohi = p.out_range
    assert y.min() >= olo and y.max() <= ohi, "output outside OUT_BITS"
    return y


# ---------------------------------------------------------------------------- packing

def pack(values, bits: int) -> int:
    """Pack lane values (two's complement if negative), lane 0 lowest."""
    mask = (1 << bits) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * bits)
    return word


def unpack(word: int, lanes: int, bits: int, signed: bool) -> list[int]:
    mask = (1 << bits) - 1
    out = []
    for i in range(lanes):
        v = (word >> (i * bits)) & mask
        if signed and v >> (bits - 1):
            v -= 1 << bits
        out.append(v)
    return out


def weight_words(p: MvauParams, w: np.ndarray) -> list[int]:
    words = []
    for nf in range(p.nf):
        for sf in range(p.sf):
            lanes = [w[sf * p.simd + s, nf * p.pe + pe]
                     for pe in range(p.pe) for s in range(p.simd)]
            words.append(pack(lanes, p.w_bits))
    return words


def threshold_words(p: MvauParams, t: np.ndarray) -> list[int]:
    return [pack([t[nf * p.pe + pe, k] for pe in range(p.pe) for k in range(p.nsteps)], p.t_bits)
            for nf in range(p.nf)]


def write_hex(path: str | Path, words: list[int], width: int) -> Path:
    """One hex word per line, zero padded to the word width, for $readmemh."""
    digits = max(1, math.ceil(width / 4))
    path = Path(path)
    path.write_text("".join(f"{w:0{digits}x}\n" for w in words))
    return path


def write_memories(p: MvauParams, w: np.ndarray, t: np.ndarray, folder: str | Path
                   ) -> tuple[Path, Path | None]:
    """Write weights.hex (and thresholds.hex when NSTEPS > 0) into folder; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wf = write_hex(folder / "weights.hex", weight_words(p, w), p.pe * p.simd * p.w_bits)
    tf = None
    if p.nsteps:
        tf = write_hex(folder / "thresholds.hex", threshold_words(p, t),
                       p.pe * p.nsteps * p.t_bits)
    return wf, tf


def input_beats(p: MvauParams, x: np.ndarray) -> list[int]:
    """Stream beats of input vectors x (N, MW): SF beats per vector."""
    return [pack(v[sf * p.simd:(sf + 1) * p.simd], p.in_bits) for v in x for sf in range(p.sf)]


def output_beats(p: MvauParams, y: np.ndarray) -> list[int]:
    """Stream beats of outputs y (N, MH): NF beats per vector."""
    return [pack(v[nf * p.pe:(nf + 1) * p.pe], p.out_width) for v in y for nf in range(p.nf)]


def beats_to_outputs(p: MvauParams, beats: list[int]) -> np.ndarray:
    """Inverse of output_beats (N, MH)."""
    lanes = [v for b in beats for v in unpack(b, p.pe, p.out_width, p.out_signed)]
    return np.array(lanes, dtype=np.int64).reshape(-1, p.mh)


# ---------------------------------------------------------------------------- test data files

def save_case(path: str | Path, p: MvauParams, w: np.ndarray, t: np.ndarray) -> Path:
    """Parameters, weights and thresholds for the testbench (an .npz)."""
    path = Path(path)
    np.savez(path, params=np.array(p.to_json()), w=w, t=t)
    return path


def load_case(path: str | Path) -> tuple[MvauParams, np.ndarray, np.ndarray]:
    d = np.load(path)
    return MvauParams.from_json(str(d["params"])), d["w"], d["t"]
