"""MobileNetV2-style TSM (``model.family: mobilenetv2``): TSN / float TSM / quantized TSM.

Same contract as :class:`tsmfpga.quant.models.VideoNet` (clip forward ``(N, T, C, H, W)`` ->
per-frame logits, ``forward_step`` with one state per shift point, ``state_shapes``,
``input_quant``), so training, export and the export check take either family.

Hardware rules (DESIGN.md, "Temporal shift, the heart of it"), as in the ResNet family:

* input: the unsigned 8-bit quantizer of scale 1/255 (code = pixel);
* stem: 3x3 stride-2 conv (``first_weight_bits``) -> BN -> QuantReLU;
* inverted residual block: [1x1 expand -> BN -> QuantReLU] (skipped at expansion 1) -> 3x3
  depthwise (stride 1 or 2, padding 1, per-channel weight scales by default) -> BN -> QuantReLU
  -> 1x1 project -> BN -> the group's shared quantizer (linear bottleneck: no ReLU);
* one SIGNED ``QuantIdentity`` (``act_bits``, zero-point 0) per group of equal-width blocks
  (quant/mobilenet_layout.py) quantizes every project output, identity and residual sum of the
  group, so both add inputs meet at one scale;
* online TSM: in every block with an identity residual the first ``C / shift_div`` channels of
  the block input (the shared quantizer's output, zero-point 0: the zeros shifted in at clip
  start are the integer code 0) come from the previous frame, at the input of the expand conv;
* head: conv (``head_kernel``, padding 0) -> BN -> QuantReLU -> power-of-two TruncAvgPool2d ->
  QuantLinear (``last_weight_bits``).

Float and quantized variants share parameter names (``load_float_into_quant`` works).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from tsmfpga.quant import mobilenet_layout
from tsmfpga.quant.models import Builder, ModelConfig, TemporalShift, shift_residual_step, value_of


def shared_quant(b: Builder) -> nn.Module:
    """The signed, zero-point-0 quantizer shared by a group's block outputs and residual adds."""
    if not b.quantized:
        return nn.Identity()
    from brevitas import nn as qnn
    from brevitas.quant import Int8ActPerTensorFloat

    return qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=b.cfg.act_bits, return_quant_tensor=True)


class InvertedResidual(nn.Module):
    """[expand 1x1] -> depthwise 3x3 -> project 1x1 -> shared Q; Q(branch + identity) if residual."""

    def __init__(self, b: Builder, spec: mobilenet_layout.BlockSpec, shared: nn.Module, shift: bool):
        super().__init__()
        cfg, h = b.cfg, spec.hidden
        pc_all = cfg.per_channel == "all"
        self.residual = spec.residual
        self.shift = TemporalShift(spec.cin, cfg.shift_div, cfg.shift_direction, shift and spec.residual)
        self.has_expand = spec.expansion != 1
        if self.has_expand:
            self.expand = b.conv_k(spec.cin, h, cfg.weight_bits, 1, per_channel=pc_all)
            self.bn_expand = nn.BatchNorm2d(h)
            self.act_expand = b.act()
        self.dw = b.conv_k(h, h, cfg.weight_bits, 3, stride=spec.stride, padding=1, groups=h,
                           per_channel=cfg.per_channel != "none")
        self.bn_dw = nn.BatchNorm2d(h)
        self.act_dw = b.act()
        self.project = b.conv_k(h, spec.cout, cfg.weight_bits, 1, per_channel=pc_all)
        self.bn_project = nn.BatchNorm2d(spec.cout)
        self.shared_act = [shared]  # a list: owned (and named) by the network, not the block

    def branch(self, y):
        if self.has_expand:
            y = self.act_expand(self.bn_expand(self.expand(y)))
        y = self.act_dw(self.bn_dw(self.dw(y)))
        return self.shared_act[0](self.bn_project(self.project(y)))

    def forward(self, x, n_frames: int):
        if not self.residual:
            return self.branch(x)
        return self.shared_act[0](self.branch(self.shift(x, n_frames)) + x)

    def forward_step(self, x, state):
        """One frame: ``state`` holds the previous frame's first ``fold`` input channels (codes of
        the shared quantizer); returns (output, new state)."""
        return shift_residual_step(self, x, state)


class MobileNetTSM(nn.Module):
    """TSN / TSM / quantized TSM, MobileNetV2-style, on clips ``(N, T, C, H, W)`` -> ``(N, T, K)``."""

    def __init__(self, cfg: ModelConfig, temporal: str = "tsm", quantized: bool = False):
        super().__init__()
        cfg.validate()
        if cfg.family != "mobilenetv2":
            raise ValueError(f"model.family = {cfg.family!r}: MobileNetTSM builds 'mobilenetv2' (use make_net)")
        if temporal not in ("tsm", "tsn"):
            raise ValueError(f"temporal = {temporal!r}; use 'tsm' or 'tsn'")
        self.cfg, self.temporal, self.quantized = cfg, temporal, quantized
        self.layout = lay = mobilenet_layout.layout(cfg)
        b = Builder(cfg, quantized)
        self.input_quant = b.input_quant()
        pc = cfg.per_channel == "all"
        self.stem = b.conv_k(cfg.in_channels, lay.stem_width, cfg.first_weight_bits, 3, stride=2, padding=1,
                             per_channel=pc)
        self.stem_bn = nn.BatchNorm2d(lay.stem_width)
        self.stem_act = b.act()
        self.shared = nn.ModuleList(shared_quant(b) for _ in lay.groups)
        self.blocks = nn.ModuleList(InvertedResidual(b, s, self.shared[s.group], temporal == "tsm")
                                    for s in lay.blocks)
        self.head = b.conv_k(lay.blocks[-1].cout, cfg.head_width, cfg.weight_bits, cfg.head_kernel, per_channel=pc)
        self.head_bn = nn.BatchNorm2d(cfg.head_width)
        self.head_act = b.act()
        self.pool = b.pool(lay.final_size)
        self.fc = b.linear(cfg.head_width, cfg.num_classes)

    @property
    def shift_points(self) -> list[InvertedResidual]:
        return [blk for blk in self.blocks if blk.shift.enabled]

    def _stem(self, frames):
        return self.stem_act(self.stem_bn(self.stem(self.input_quant(frames))))

    def _classify(self, x):
        x = self.pool(self.head_act(self.head_bn(self.head(x))))
        x = value_of(x).flatten(1) if not self.quantized else x.flatten(1)
        return value_of(self.fc(x))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        n, t = clips.shape[:2]
        x = self._stem(clips.reshape(n * t, *clips.shape[2:]))
        for blk in self.blocks:
            x = blk(x, t)
        return self._classify(x).view(n, t, -1)

    def forward_step(self, frame: torch.Tensor, *states: torch.Tensor):
        """One frame ``(1, C, H, W)`` plus one state per shift point -> (logits, *new states)."""
        if self.cfg.shift_direction != "online" and self.temporal == "tsm":
            raise ValueError("model.shift_direction = 'bidirectional' cannot stream frame by frame (it looks a "
                             "frame ahead): the hardware export (step graph) needs 'online'")
        states = list(states)
        if len(states) != len(self.shift_points):
            raise ValueError(f"forward_step needs {len(self.shift_points)} states, got {len(states)}")
        new_states = []
        x = self._stem(frame)
        for blk in self.blocks:
            if blk.shift.enabled:
                x, s = blk.forward_step(x, states.pop(0))
                new_states.append(s)
            else:
                x = blk(x, 1)
        return (self._classify(x), *new_states)

    def state_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the per-shift-point states for a batch of one frame."""
        return [(1, blk.shift.fold, spec.size_in, spec.size_in)
                for blk, spec in zip(self.blocks, self.layout.blocks) if blk.shift.enabled]
