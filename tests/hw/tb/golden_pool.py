"""Golden model of finn-plus' Pool op (MaxPool / QuantAvgPool) and of its hardware stream order.

numpy only (no cocotb, no FINN), so both the cocotb testbench and pytest import it.

Two layouts of Pool's input tensor (1, OH, OW, K*C) matter (K = window size K_H*K_W):

* "window" (im2col) order, (OH, OW, K, C): what Pool.execute_node reshapes its input to and what
  the Python execution of ConvolutionInputGenerator / Im2Col produces.
* "hw" order, (OH, OW, C/PE, K, PE): what finn-plus' depthwise ConvolutionInputGenerator RTL
  (SIMD = PE) streams (its cppsim execution reorders im2col to exactly this), and what hlslib's
  Pool_batch and our hw/rtl/pool.sv consume. Identical to "window" order when PE = C.

Beats are packed integers, lane i at bits [i*bits, (i+1)*bits) (two's complement if signed).
"""

from __future__ import annotations

import numpy as np

from golden_stream_ops import lane_range, pack, unpack  # noqa: F401  (re-exported)

MAXPOOL, QUANTAVGPOOL = 0, 1
FUNCTION_NAMES = {MAXPOOL: "MaxPool", QUANTAVGPOOL: "QuantAvgPool"}


def quant_avg_shift(in_bits: int, out_bits: int, kernel: int) -> int:
    """finn's QuantAvgPool right shift: Pool.execute_node's formula, equal to QuantAvgPool2d's
    get_shifts() that InferPool stores in the node's Size attribute (uses 2**in_bits - 1 even
    for signed inputs, as finn does)."""
    max_bit_width = int((2**in_bits - 1) * kernel).bit_length()
    return max(max_bit_width - out_bits, 0)


def accum_bits(in_bits: int, signed: bool, kernel: int) -> int:
    """Bits of finn's smallest datatype holding every window sum (Pool's AccumBits after
    minimize_accumulator_width)."""
    lo, hi = lane_range(in_bits, signed)
    lo, hi = lo * kernel, hi * kernel
    if signed:
        bits = 1
        while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
            bits += 1
        return bits
    return max(int(hi).bit_length(), 1)


class PoolCfg:
    """Sizes and types of one Pool instance (the RTL parameters)."""

    def __init__(self, channels: int, pe: int, kernel: int, in_bits: int, in_signed: bool,
                 out_bits: int, function: int, shift: int = 0):
        assert channels % pe == 0, "PE must divide CHANNELS"
        assert function in FUNCTION_NAMES
        if function == MAXPOOL:
            assert out_bits == in_bits and shift == 0, "MaxPool keeps the input datatype"
        self.channels, self.pe, self.kernel = channels, pe, kernel
        self.in_bits, self.in_signed, self.out_bits = in_bits, bool(in_signed), out_bits
        self.function, self.shift = function, shift

    @classmethod
    def from_dut(cls, dut) -> "PoolCfg":
        return cls(int(dut.CHANNELS.value), int(dut.PE.value), int(dut.KERNEL.value),
                   int(dut.IN_BITS.value), bool(int(dut.IN_SIGNED.value)), int(dut.OUT_BITS.value),
                   int(dut.FUNCTION.value), int(dut.SHIFT.value))

    @property
    def idt(self) -> str:
        return f"{'INT' if self.in_signed else 'UINT'}{self.in_bits}"

    @property
    def odt(self) -> str:
        return f"{'INT' if self.in_signed else 'UINT'}{self.out_bits}"

    @property
    def fold(self) -> int:
        return self.channels // self.pe

    def __repr__(self) -> str:
        return (f"PoolCfg(C={self.channels}, PE={self.pe}, K={self.kernel}, {self.idt}->{self.odt}, "
                f"{FUNCTION_NAMES[self.function]}, shift={self.shift})")


# ----------------------------------------------------------------------------- reference math

def pool_windows(x: np.ndarray, cfg: PoolCfg) -> np.ndarray:
    """Pool.execute_node semantics on a window-order tensor (..., K*C) -> (..., C), as int64.
    MaxPool: max over the window. QuantAvgPool: window sum >> shift (floor, numpy right_shift)."""
    x = np.asarray(x).astype(np.int64)
    w = x.reshape(*x.shape[:-1], cfg.kernel, cfg.channels)
    if cfg.function == MAXPOOL:
        out = w.max(axis=-2)
    else:
        out = np.right_shift(w.sum(axis=-2), cfg.shift)
    lo, hi = lane_range(cfg.out_bits, cfg.in_signed)
    assert out.min() >= lo and out.max() <= hi, f"{cfg}: result leaves the {cfg.odt} range"
    return out


def window_to_hw(x: np.ndarray, cfg: PoolCfg) -> np.ndarray:
    """Window order (..., K*C) -> depthwise-SWG hardware order (..., C/PE * K * PE)."""
    lead = x.shape[:-1]
    w = np.asarray(x).reshape(*lead, cfg.kernel, cfg.fold, cfg.pe)
    w = np.moveaxis(w, -3, -2)  # (..., fold, K, PE)
    return w.reshape(*lead, cfg.kernel * cfg.channels)


def hw_to_window(x: np.ndarray, cfg: PoolCfg) -> np.ndarray:
    """Inverse of :func:`window_to_hw`."""
    lead = x.shape[:-1]
    w = np.asarray(x).reshape(*lead, cfg.fold, cfg.kernel, cfg.pe)
    w = np.moveaxis(w, -2, -3)  # (..., K, fold, PE)
    return w.reshape(*lead, cfg.kernel * cfg.channels)


def to_beats(values: np.ndarray, lanes: int, bits: int) -> list[int]:
    """Flatten in memory order and cut into packed beats of ``lanes`` lanes."""
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    assert len(flat) % lanes == 0
    return [pack(flat[i:i + lanes], bits) for i in range(0, len(flat), lanes)]


def from_beats(beats: list[int], lanes: int, bits: int, signed: bool) -> np.ndarray:
    return np.array([v for b in beats for v in unpack(b, lanes, bits, signed)], dtype=np.int64)


def input_beats(x_window: np.ndarray, cfg: PoolCfg) -> list[int]:
    """The beats the RTL receives for a window-order input tensor (hardware order, PE lanes)."""
    return to_beats(window_to_hw(x_window, cfg), cfg.pe, cfg.in_bits)


def expected_beats(x_window: np.ndarray, cfg: PoolCfg) -> list[int]:
    """Expected RTL output: the (..., C) pool result flattened, in beats of PE lanes."""
    return to_beats(pool_windows(x_window, cfg), cfg.pe, cfg.out_bits)


def stream_model(in_beats: list[int], cfg: PoolCfg) -> list[int]:
    """Beat-level model of the RTL (independent of the tensor reshapes): every run of K
    consecutive beats reduces lane-wise to one output beat."""
    assert len(in_beats) % cfg.kernel == 0
    out = []
    for start in range(0, len(in_beats), cfg.kernel):
        lanes = [unpack(b, cfg.pe, cfg.in_bits, cfg.in_signed) for b in in_beats[start:start + cfg.kernel]]
        res = []
        for i in range(cfg.pe):
            vals = [ln[i] for ln in lanes]
            res.append(max(vals) if cfg.function == MAXPOOL else sum(vals) >> cfg.shift)
        out.append(pack(res, cfg.out_bits))
    return out


# ----------------------------------------------------------------------------- stimulus

def random_windows(rng: np.random.Generator, cfg: PoolCfg, pixels: int, p_extreme: float = 0.15) -> np.ndarray:
    """Random window-order input (1, pixels, 1, K*C): uniform values, some all-min / all-max /
    mixed-extreme pixels and some extreme single values."""
    lo, hi = lane_range(cfg.in_bits, cfg.in_signed)
    x = rng.integers(lo, hi + 1, size=(pixels, cfg.kernel * cfg.channels), dtype=np.int64)
    for p in range(pixels):
        r = rng.random()
        if r < p_extreme:
            x[p] = hi
        elif r < 2 * p_extreme:
            x[p] = lo
        elif r < 3 * p_extreme:
            x[p] = rng.choice([lo, hi], size=x.shape[1])
    mask = rng.random(x.shape) < 0.05
    x[mask] = rng.choice([lo, hi, 0], size=int(mask.sum()))
    return x.reshape(1, pixels, 1, cfg.kernel * cfg.channels)


def im2col_depthwise(img: np.ndarray, k: int) -> np.ndarray:
    """NHWC image (1, H, W, C) -> window-order tensor (1, H/k, W/k, k*k*C), stride k, no padding
    (kernel position row-major, channel innermost: Im2Col's order)."""
    _, h, w, c = img.shape
    oh, ow = h // k, w // k
    t = img[:, :oh * k, :ow * k, :].reshape(1, oh, k, ow, k, c).transpose(0, 1, 3, 2, 4, 5)
    return t.reshape(1, oh, ow, k * k * c)


def numpy_pool_image(img: np.ndarray, k: int, cfg: PoolCfg) -> np.ndarray:
    """Plain numpy pooling of an NHWC image with a k x k window, stride k: max, or sum >> shift."""
    _, h, w, c = img.shape
    t = np.asarray(img).astype(np.int64)[:, :h // k * k, :w // k * k, :].reshape(1, h // k, k, w // k, k, c)
    if cfg.function == MAXPOOL:
        return t.max(axis=(2, 4))
    return np.right_shift(t.sum(axis=(2, 4)), cfg.shift)
