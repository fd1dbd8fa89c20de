"""One ResNet-style 2D backbone used three ways: TSN (no shift), float TSM, quantized TSM.

Hardware-friendly by construction (README, "Stage 1: QAT", "Models"):

* the input quantizer is unsigned 8-bit with a constant scale of 1/255, so the integer code of a
  pixel ``p`` fed as ``p / 255`` is ``p`` itself;
* every stage has one shared activation quantizer (a ``QuantReLU``, zero-point 0) that produces
  the stage output, the residual branch output and the sum, so residual adds meet at one scale;
* the temporal shift sits at the input of a residual branch, right after that quantizer, so
  the zeros shifted in at the clip's first frame are the integer code 0;
* global pooling is a power-of-two ``TruncAvgPool2d`` (exports as AveragePool + Trunc, which
  FINN maps), not ``ReduceMean``.

The float and quantized variants share parameter names, so QAT starts from the float TSM by
``load_state_dict(strict=False)`` (quantizer scales are extra, learned from statistics).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from tsmfpga.quant import mobilenet_layout

SHIFT_DIRECTIONS = ("online", "bidirectional")
#: model.family values: this file's ResNet-style VideoNet, or quant/mobilenet.py's MobileNetV2 TSM
FAMILIES = ("resnet", "mobilenetv2")


@dataclass
class ModelConfig:
    """Backbone shape, temporal modelling and bit widths."""

    #: backbone family: "resnet" (widths/blocks below) or "mobilenetv2" (stem_width ... per_channel)
    family: str = "resnet"
    #: input channels (1 grayscale, 3 RGB)
    in_channels: int = 1
    #: input height = width in pixels; must be divisible by 2 ** len(widths)
    input_size: int = 32
    #: output classes (set from the dataset)
    num_classes: int = 10
    #: output channels of each stage's 3x3 conv (each stage halves H and W with a 2x2 max pool)
    widths: tuple[int, ...] = (16, 32, 64)
    #: residual blocks per stage (each block: shift -> conv3x3 -> conv3x3, identity shortcut)
    blocks: tuple[int, ...] = (1, 1, 1)
    #: 1 / shift_div of a block's channels are shifted along time (TSM default 8)
    shift_div: int = 8
    #: "online" (frame t gets channels of t-1; the hardware default) or "bidirectional"
    shift_direction: str = "online"
    #: weight bits of the hidden conv layers (1..8)
    weight_bits: int = 4
    #: activation bits of every ReLU quantizer (1..8)
    act_bits: int = 4
    #: weight bits of the first conv (1..8)
    first_weight_bits: int = 8
    #: weight bits of the final fully connected layer (1..8)
    last_weight_bits: int = 8
    #: bits of the pooled features fed to the classifier (TruncAvgPool2d output, 2..16);
    #: 0 = exact: act_bits + log2(pool window), so the average drops no bits
    pool_bits: int = 0
    #: mobilenetv2: output channels of the 3x3 stride-2 stem conv (scaled by width_mult)
    stem_width: int = 16
    #: mobilenetv2: inverted residual stages, each [expansion, width, blocks, stride] (the stride
    #: applies to the stage's first block; expansion 1 = no 1x1 expand conv)
    stages: tuple[tuple[int, ...], ...] = ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2))
    #: mobilenetv2: multiplier of the stem and stage widths, rounded to multiples of shift_div
    width_mult: float = 1.0
    #: mobilenetv2: output channels of the head conv before the global pool (not scaled)
    head_width: int = 64
    #: mobilenetv2: kernel of the head conv, padding 0 (3 turns a 6x6 map into 4x4: the global pool
    #: needs a power-of-two final map)
    head_kernel: int = 1
    #: mobilenetv2: per-output-channel weight scales for "none", "depthwise" (default: 4-bit
    #: depthwise kernels have 9 weights each) or "all" convs
    per_channel: str = "depthwise"

    def validate(self) -> None:
        for name in ("weight_bits", "act_bits", "first_weight_bits", "last_weight_bits"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 1 <= v <= 8:
                raise ValueError(f"model.{name} = {v!r} is out of range: bit widths must be 1..8")
        if self.pool_bits != 0 and not 2 <= self.pool_bits <= 16:
            raise ValueError(f"model.pool_bits = {self.pool_bits!r} must be 0 (exact) or 2..16")
        if self.act_bits < 2:
            raise ValueError("model.act_bits = 1 is not supported: ReLU quantizers need >= 2 bits")
        if self.shift_direction not in SHIFT_DIRECTIONS:
            raise ValueError(f"model.shift_direction = {self.shift_direction!r}; use one of {SHIFT_DIRECTIONS}")
        if self.family not in FAMILIES:
            raise ValueError(f"model.family = {self.family!r}; use one of {FAMILIES}")
        if not isinstance(self.shift_div, int) or self.shift_div < 1:
            raise ValueError(f"model.shift_div = {self.shift_div!r} must be a positive integer")
        if self.family == "mobilenetv2":
            return mobilenet_layout.validate(self)
        if len(self.widths) != len(self.blocks) or not self.widths:
            raise ValueError("model.widths and model.blocks must be non-empty and of equal length")
        if self.input_size % (2 ** len(self.widths)):
            raise ValueError(f"model.input_size = {self.input_size} must be divisible by {2 ** len(self.widths)}")
        final = self.input_size // 2 ** len(self.widths)
        if final & (final - 1):
            raise ValueError(f"final feature map {final}x{final} must be a power of two (avg pool is a shift)")
        for w in self.widths:
            if w % self.shift_div or w // self.shift_div < 1:
                raise ValueError(f"stage width {w} is not divisible by shift_div {self.shift_div}")

    @property
    def final_size(self) -> int:
        """Height = width of the last feature map (the global pool's window)."""
        if self.family == "mobilenetv2":
            return mobilenet_layout.layout(self).final_size
        return self.input_size // 2 ** len(self.widths)

    @property
    def effective_pool_bits(self) -> int:
        """Output bits of the global average pool (exact when ``pool_bits`` is 0)."""
        exact = self.act_bits + 2 * (self.final_size.bit_length() - 1)
        return self.pool_bits or exact


def shift_clip(x: torch.Tensor, n_frames: int, fold: int, direction: str) -> torch.Tensor:
    """Temporal shift of a folded batch ``(N*T, C, H, W)``: the first ``fold`` channels of frame t
    come from frame t-1 (zeros at t=0); bidirectional also moves the next ``fold`` from t+1."""
    nt, c, h, w = x.shape
    v = x.view(nt // n_frames, n_frames, c, h, w)
    out = torch.zeros_like(v)
    out[:, 1:, :fold] = v[:, :-1, :fold]
    if direction == "bidirectional":
        out[:, :-1, fold : 2 * fold] = v[:, 1:, fold : 2 * fold]
        out[:, :, 2 * fold :] = v[:, :, 2 * fold :]
    else:
        out[:, :, fold:] = v[:, :, fold:]
    return out.view(nt, c, h, w)


def value_of(x):
    """Float values of a tensor or Brevitas QuantTensor (QuantTensors cannot be sliced)."""
    return x.value if hasattr(x, "value") and not isinstance(x, torch.Tensor) else x


def shift_residual_step(block: nn.Module, x, state):
    """One frame through a residual block whose branch starts with the online shift (the one step
    of both model families): ``block`` has ``shift`` (a :class:`TemporalShift`), ``shared_act`` (the
    quantizer shared by the block's input and output) and ``branch``; ``state`` holds the previous
    frame's first ``fold`` input channels. Returns (output, new state); (``block(x, 1)``, None)
    when the block does not shift."""
    if not block.shift.enabled:
        return block(x, 1), None
    fold = block.shift.fold
    xv = value_of(x)
    prev = value_of(block.shared_act[0](state))  # same quantizer: idempotent, exports a Quant node
    y = torch.cat([prev, xv[:, fold:]], dim=1)
    return block.shared_act[0](block.branch(y) + x), xv[:, :fold]


class Builder:
    """Creates float or Brevitas layers with the same parameter names."""

    def __init__(self, cfg: ModelConfig, quantized: bool):
        self.cfg = cfg
        self.quantized = quantized

    def conv(self, cin, cout, bits):
        if not self.quantized:
            return nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        from brevitas import nn as qnn

        return qnn.QuantConv2d(cin, cout, 3, padding=1, bias=False, **self.weight_quant(bits))

    @staticmethod
    def weight_quant(bits: int) -> dict:
        """Weight quantizer arguments: ``bits`` >= 2 signed integers (per-tensor float scale);
        1 bit = binary weights +-1 (a signed 1-bit integer grid is {0} alone: every weight would
        be zero). Binary weights export as BipolarQuant, which FINN maps to bipolar MVAU weights."""
        if bits == 1:
            from brevitas.quant import SignedBinaryWeightPerTensorConst

            return {"weight_quant": SignedBinaryWeightPerTensorConst}
        return {"weight_bit_width": bits}

    def conv_k(self, cin, cout, bits, kernel, stride=1, padding=0, groups=1, per_channel=False):
        """Any square conv (no bias); ``per_channel``: per-output-channel weight scales (not for
        binary weights, whose scale is a constant)."""
        kw = dict(stride=stride, padding=padding, groups=groups, bias=False)
        if not self.quantized:
            return nn.Conv2d(cin, cout, kernel, **kw)
        from brevitas import nn as qnn

        wq = self.weight_quant(bits)
        if per_channel and bits > 1:
            wq["weight_scaling_per_output_channel"] = True
        return qnn.QuantConv2d(cin, cout, kernel, **kw, **wq)

    def act(self):
        if not self.quantized:
            return nn.ReLU()
        from brevitas import nn as qnn

        return qnn.QuantReLU(bit_width=self.cfg.act_bits, return_quant_tensor=True)

    def input_quant(self):
        if not self.quantized:
            return nn.Identity()
        from brevitas import nn as qnn
        from brevitas.quant import Uint8ActPerTensorFloat

        # constant scale 1/255: the integer code of pixel/255 is the pixel value
        return qnn.QuantIdentity(
            act_quant=Uint8ActPerTensorFloat,
            scaling_impl_type="const",
            max_val=1.0,
            return_quant_tensor=True,
        )

    def pool(self, k):
        if not self.quantized:
            return nn.AvgPool2d(k)
        from brevitas import nn as qnn
        from brevitas.quant.scaled_int import RoundTo8bit

        class PoolTrunc(RoundTo8bit):  # exact: act_bits + log2(k * k) unless pool_bits is set
            bit_width = self.cfg.pool_bits or self.cfg.act_bits + 2 * (k.bit_length() - 1)

        return qnn.TruncAvgPool2d(k, trunc_quant=PoolTrunc, return_quant_tensor=True)

    def linear(self, cin, cout):
        if not self.quantized:
            return nn.Linear(cin, cout, bias=True)
        from brevitas import nn as qnn

        return qnn.QuantLinear(cin, cout, bias=True, **self.weight_quant(self.cfg.last_weight_bits))


class TemporalShift(nn.Module):
    """Residual temporal shift. Clip mode shifts a folded batch; step mode swaps in a state."""

    def __init__(self, channels: int, shift_div: int, direction: str, enabled: bool):
        super().__init__()
        self.fold = channels // shift_div
        self.direction = direction
        self.enabled = enabled

    def forward(self, x, n_frames: int):
        if not self.enabled:
            return x
        return shift_clip(value_of(x), n_frames, self.fold, self.direction)


class ResidualBlock(nn.Module):
    """shift -> conv-bn-act -> conv-bn -> Q ; Q(branch + identity), Q shared with the stage."""

    def __init__(self, b: Builder, width: int, shared_act: nn.Module, shift: bool):
        super().__init__()
        cfg = b.cfg
        self.shift = TemporalShift(width, cfg.shift_div, cfg.shift_direction, shift)
        self.conv1 = b.conv(width, width, cfg.weight_bits)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = b.act()
        self.conv2 = b.conv(width, width, cfg.weight_bits)
        self.bn2 = nn.BatchNorm2d(width)
        self.shared_act = [shared_act]  # a list: owned (and named) by the stage, not the block

    def branch(self, y):
        y = self.act1(self.bn1(self.conv1(y)))
        return self.shared_act[0](self.bn2(self.conv2(y)))

    def forward(self, x, n_frames: int):
        y = self.branch(self.shift(x, n_frames))
        return self.shared_act[0](y + x)

    def forward_step(self, x, state):
        """One frame: ``state`` holds the previous frame's first ``fold`` channels (already quantized
        codes from the shared quantizer); returns (output, new state)."""
        return shift_residual_step(self, x, state)


class Stage(nn.Module):
    def __init__(self, b: Builder, cin: int, width: int, n_blocks: int, first: bool, shift: bool):
        super().__init__()
        self.conv = b.conv(cin, width, b.cfg.first_weight_bits if first else b.cfg.weight_bits)
        self.bn = nn.BatchNorm2d(width)
        self.act = b.act()
        self.blocks = nn.ModuleList(ResidualBlock(b, width, self.act, shift) for _ in range(n_blocks))

    def forward(self, x):
        """conv3x3 -> BN -> shared quantizer -> 2x2 max pool (the blocks run separately)."""
        return F.max_pool2d(self.act(self.bn(self.conv(x))), 2)


class VideoNet(nn.Module):
    """TSN / TSM / quantized TSM on folded clips ``(N, T, C, H, W)`` -> per-frame logits ``(N, T, K)``."""

    def __init__(self, cfg: ModelConfig, temporal: str = "tsm", quantized: bool = False):
        super().__init__()
        cfg.validate()
        if cfg.family != "resnet":
            raise ValueError(f"model.family = {cfg.family!r}: build it with tsmfpga.quant.nets.make_net")
        if temporal not in ("tsm", "tsn"):
            raise ValueError(f"temporal = {temporal!r}; use 'tsm' or 'tsn'")
        self.cfg, self.temporal, self.quantized = cfg, temporal, quantized
        b = Builder(cfg, quantized)
        self.input_quant = b.input_quant()
        stages, cin = [], cfg.in_channels
        for i, (w, n) in enumerate(zip(cfg.widths, cfg.blocks)):
            stages.append(Stage(b, cin, w, n, first=(i == 0), shift=(temporal == "tsm")))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.pool = b.pool(cfg.final_size)
        self.fc = b.linear(cin, cfg.num_classes)

    @property
    def shift_points(self) -> list[ResidualBlock]:
        return [blk for s in self.stages for blk in s.blocks if blk.shift.enabled]

    def _features(self, x):
        return self.input_quant(x)

    def _classify(self, x):
        x = self.pool(x)
        x = value_of(x).flatten(1) if not self.quantized else x.flatten(1)
        return self.fc(x)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        n, t = clips.shape[:2]
        x = self.input_quant(clips.reshape(n * t, *clips.shape[2:]))
        for stage in self.stages:
            x = stage(x)
            for blk in stage.blocks:
                x = blk(x, t)
        logits = value_of(self._classify(x))
        return logits.view(n, t, -1)

    def forward_step(self, frame: torch.Tensor, *states: torch.Tensor):
        """One frame ``(1, C, H, W)`` plus one state per shift point -> (logits, *new states)."""
        if self.cfg.shift_direction != "online" and self.temporal == "tsm":
            raise ValueError("model.shift_direction = 'bidirectional' cannot stream frame by frame (it looks a "
                             "frame ahead): the hardware export (step graph) needs 'online'")
        states = list(states)
        if len(states) != len(self.shift_points):
            raise ValueError(f"forward_step needs {len(self.shift_points)} states, got {len(states)}")
        new_states = []
        x = self.input_quant(frame)
        for stage in self.stages:
            x = stage(x)
            for blk in stage.blocks:
                if blk.shift.enabled:
                    x, s = blk.forward_step(x, states.pop(0))
                    new_states.append(s)
                else:
                    x = blk(x, 1)
        return (value_of(self._classify(x)), *new_states)

    def state_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the per-shift-point states for a batch of one frame."""
        shapes, size = [], self.cfg.input_size
        for stage, w in zip(self.stages, self.cfg.widths):
            size //= 2
            for blk in stage.blocks:
                if blk.shift.enabled:
                    shapes.append((1, blk.shift.fold, size, size))
        return shapes


def count_macs(cfg: ModelConfig) -> int:
    """Multiply-accumulates per frame (analytical), either family."""
    if cfg.family == "mobilenetv2":
        return mobilenet_layout.count_macs(cfg)
    macs, size, cin = 0, cfg.input_size, cfg.in_channels
    for w, n in zip(cfg.widths, cfg.blocks):
        macs += size * size * cin * w * 9
        size //= 2
        macs += n * 2 * size * size * w * w * 9
        cin = w
    return macs + cin * cfg.num_classes


def copy_matching(model: nn.Module, state: dict) -> list[str]:
    """Warm start: copy every tensor of ``state`` whose name and shape ``model`` also has (a
    backbone trained on another task; a classifier of another class count is left as built).
    Returns the copied names; raises if none match (the state is of another architecture)."""
    own = model.state_dict()
    take = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not take:
        raise ValueError("warm start: no tensor of the given state matches the model by name and shape "
                         "(another model family or width?)")
    model.load_state_dict(take, strict=False)
    return sorted(take)


def load_float_into_quant(qmodel: VideoNet, float_state: dict) -> list[str]:
    """Copy float weights into the quantized model by name. Returns the quantized model's own
    parameters that the float model does not have (quantizer scales); raises if a float
    parameter has no counterpart."""
    missing, unexpected = qmodel.load_state_dict(float_state, strict=False)
    if unexpected:
        raise KeyError(f"float checkpoint has parameters the quantized model lacks: {unexpected[:5]}")
    not_quant = [k for k in missing if "quant" not in k]
    if not_quant:
        raise KeyError(f"quantized model parameters missing from the float checkpoint: {not_quant[:5]}")
    return list(missing)
