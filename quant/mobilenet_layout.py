"""Geometry of the MobileNetV2-style family (``model.family: mobilenetv2``): block list, feature
map sizes, validation and the analytical MAC count. Pure arithmetic on a ``ModelConfig`` (no torch),
so that ``ModelConfig.validate`` and ``count_macs`` can use it; the network is quant/mobilenet.py.

Layout: stem 3x3 stride 2 (padding 1) -> inverted residual blocks -> head conv (padding 0) ->
power-of-two global average pool -> fully connected. A block has an identity residual (and, in
TSM, the temporal shift at the start of its residual branch) where its stride is 1 and its input
comes from the shared quantizer of its own group: a group is a run of consecutive blocks with the
same output width, and one signed quantizer per group produces every block output, identity and
sum of the group. The first block after the stem never has one (the stem ends in a ReLU quantizer).
"""

from __future__ import annotations

from dataclasses import dataclass

#: model.per_channel values: which convs get per-output-channel weight scales
PER_CHANNEL = ("none", "depthwise", "all")


@dataclass(frozen=True)
class BlockSpec:
    """One inverted residual block."""

    cin: int
    cout: int
    hidden: int  # channels after the 1x1 expand (= cin when expansion is 1: no expand conv)
    expansion: int
    stride: int
    size_in: int  # input feature map height = width
    group: int  # index of the shared quantizer (run of equal output widths)
    residual: bool

    @property
    def size_out(self) -> int:
        return self.size_in // self.stride


@dataclass(frozen=True)
class Layout:
    stem_width: int
    stem_size: int  # after the stride-2 stem
    blocks: tuple[BlockSpec, ...]
    groups: tuple[int, ...]  # width of each group's shared quantizer
    pre_head_size: int
    final_size: int  # after the head conv (padding 0): the global pool's window


def scaled_width(width: int, mult: float, div: int) -> int:
    """``width * mult`` rounded to the nearest multiple of ``div`` (at least ``div``)."""
    return max(div, int(width * mult / div + 0.5) * div)


def _pow2(n: int) -> bool:
    return n >= 1 and not n & (n - 1)


def layout(cfg) -> Layout:
    """Block list and sizes of ``cfg`` (assumes the field checks of :func:`validate` passed)."""
    stem = scaled_width(cfg.stem_width, cfg.width_mult, cfg.shift_div)
    size = cfg.input_size // 2
    cin, blocks, groups, group_in = stem, [], [], False
    for expansion, width, n, stride in cfg.stages:
        cout = scaled_width(width, cfg.width_mult, cfg.shift_div)
        for i in range(n):
            s = stride if i == 0 else 1
            if not groups or groups[-1] != cout:
                groups.append(cout)
                group_in = False  # this block's input comes from elsewhere (stem or another group)
            blocks.append(BlockSpec(cin, cout, cin * expansion, expansion, s, size, len(groups) - 1,
                                    residual=s == 1 and cin == cout and group_in))
            size //= s
            cin, group_in = cout, True
    final = size - cfg.head_kernel + 1
    return Layout(stem, cfg.input_size // 2, tuple(blocks), tuple(groups), size, final)


def validate(cfg) -> None:
    """Raise ValueError naming the ``model.`` field (mobilenetv2 fields and geometry)."""
    for name in ("stem_width", "head_width"):
        v = getattr(cfg, name)
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"model.{name} = {v!r} must be a positive integer")
    if not cfg.width_mult > 0:
        raise ValueError(f"model.width_mult = {cfg.width_mult!r} must be > 0 (widths are rounded to "
                         f"multiples of model.shift_div)")
    if cfg.per_channel not in PER_CHANNEL:
        raise ValueError(f"model.per_channel = {cfg.per_channel!r}; use one of {PER_CHANNEL}")
    if not isinstance(cfg.head_kernel, int) or cfg.head_kernel < 1 or cfg.head_kernel % 2 == 0:
        raise ValueError(f"model.head_kernel = {cfg.head_kernel!r} must be an odd positive integer (1, 3, 5)")
    if not cfg.stages:
        raise ValueError("model.stages is empty: give [expansion, width, blocks, stride] lists")
    for i, st in enumerate(cfg.stages):
        if len(st) != 4:
            raise ValueError(f"model.stages[{i}] = {list(st)} must be [expansion, width, blocks, stride]")
        e, w, n, s = st
        if e < 1 or w < 1 or n < 1 or s not in (1, 2):
            raise ValueError(f"model.stages[{i}] = {list(st)}: expansion, width and blocks must be >= 1 "
                             "and stride 1 or 2")
    size = cfg.input_size
    steps = [(2, "the stem")] + [(s, f"model.stages[{i}]") for i, (_, _, _, s) in enumerate(cfg.stages)]
    for stride, where in steps:
        if stride == 2 and size % 2:
            raise ValueError(f"model.input_size = {cfg.input_size}: the stride-2 conv of {where} gets an odd "
                             f"{size}x{size} map; use an input size divisible by {2 ** sum(s == 2 for s, _ in steps)}")
        size //= stride
    lay = layout(cfg)
    if lay.final_size < 1:
        raise ValueError(f"model.head_kernel = {cfg.head_kernel} is larger than the {lay.pre_head_size}x"
                         f"{lay.pre_head_size} map before the head")
    if not _pow2(lay.final_size):
        fits = [k for k in range(1, lay.pre_head_size + 1, 2) if _pow2(lay.pre_head_size - k + 1)]
        raise ValueError(
            f"model.head_kernel = {cfg.head_kernel}: the final feature map is {lay.final_size}x{lay.final_size} "
            f"({lay.pre_head_size}x{lay.pre_head_size} before the head conv, padding 0), not a power of two "
            "(the global average pool is a shift); "
            + (f"use model.head_kernel {' or '.join(map(str, fits[:2]))}" if fits else "no head kernel fits")
            + " or change the strides in model.stages / model.input_size")


def count_macs(cfg) -> int:
    """Multiply-accumulates per frame (analytical; depthwise counts 9 per output value)."""
    lay = layout(cfg)
    macs = lay.stem_size ** 2 * cfg.in_channels * lay.stem_width * 9
    for b in lay.blocks:
        if b.expansion != 1:
            macs += b.size_in ** 2 * b.cin * b.hidden
        macs += b.size_out ** 2 * b.hidden * 9 + b.size_out ** 2 * b.hidden * b.cout
    cin = lay.blocks[-1].cout
    macs += lay.final_size ** 2 * cin * cfg.head_width * cfg.head_kernel ** 2
    return macs + cfg.head_width * cfg.num_classes
