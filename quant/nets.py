"""The one factory of the QAT networks: ``model.family`` picks the backbone.

Both families share the interface the training, export and check code use: clip forward
``(N, T, C, H, W)`` -> ``(N, T, K)``, ``forward_step(frame, *states)``, ``state_shapes()``,
``shift_points``, ``input_quant``, ``cfg``, ``temporal``, ``quantized``.
"""

from __future__ import annotations

import torch.nn as nn

from tsmfpga.quant.mobilenet import MobileNetTSM
from tsmfpga.quant.models import ModelConfig, VideoNet

#: model.family -> network class
NETS = {"resnet": VideoNet, "mobilenetv2": MobileNetTSM}


def make_net(cfg: ModelConfig, temporal: str = "tsm", quantized: bool = False) -> nn.Module:
    """TSN (``temporal="tsn"``) or TSM, float or quantized (Brevitas), of ``cfg.family``."""
    cfg.validate()
    return NETS[cfg.family](cfg, temporal, quantized)
