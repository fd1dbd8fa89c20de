"""Golden model of a sliding-window generator's stream (finn-plus ConvolutionInputGenerator,
hardware order), for tb_swg_window: numpy only, apart from the testbench."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SwgGeometry:
    h: int            # input rows
    w: int            # input columns
    channels: int
    k: int            # square kernel side
    stride: int
    simd: int         # channels per beat
    bits: int         # bits per element
    depthwise: bool

    @property
    def fold(self) -> int:
        return self.channels // self.simd

    @property
    def out_hw(self) -> tuple[int, int]:
        return (self.h - self.k) // self.stride + 1, (self.w - self.k) // self.stride + 1


def input_beats(img: np.ndarray, g: SwgGeometry) -> list[int]:
    """Beats of one (H, W, C) unsigned image: pixel-major, SIMD channels per beat, lane 0 low."""
    return [pack(img[y, x, f * g.simd:(f + 1) * g.simd], g.bits)
            for y in range(g.h) for x in range(g.w) for f in range(g.fold)]


def output_beats(img: np.ndarray, g: SwgGeometry) -> list[int]:
    """The window stream: per output pixel, (kh, kw, channel fold) for a dense window, (channel
    fold, kh, kw) for a depthwise one (the order finn's VVAU / Pool consume)."""
    oh, ow = g.out_hw
    out = []
    for y in range(oh):
        for x in range(ow):
            taps = [(ky, kx) for ky in range(g.k) for kx in range(g.k)]
            order = ([(f, t) for f in range(g.fold) for t in taps] if g.depthwise
                     else [(f, t) for t in taps for f in range(g.fold)])
            for f, (ky, kx) in order:
                px = img[y * g.stride + ky, x * g.stride + kx]
                out.append(pack(px[f * g.simd:(f + 1) * g.simd], g.bits))
    return out


def pack(lanes, bits: int) -> int:
    v = 0
    for i, e in enumerate(lanes):
        v |= int(e) << (i * bits)
    return v
