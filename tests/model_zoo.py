"""Small models shared by tests (importable by name: tests/ is on sys.path via its conftest)."""

from __future__ import annotations


def make_tiny_brevitas_cnn():
    import torch
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.quant import Int8ActPerTensorFloat

    torch.manual_seed(0)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, return_quant_tensor=True)
            self.conv = qnn.QuantConv2d(1, 4, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn = nn.BatchNorm2d(4)
            self.act = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.pool = nn.MaxPool2d(2)
            self.fc = qnn.QuantLinear(4 * 4 * 4, 5, bias=True, weight_bit_width=4)

        def forward(self, x):
            x = self.act(self.bn(self.conv(self.inp(x))))
            x = self.pool(x)
            return self.fc(x.flatten(1))

    model = Tiny()
    # give batch-norm non-trivial statistics, then freeze
    model.train()
    with torch.no_grad():
        for _ in range(5):
            model(torch.randn(16, 1, 8, 8))
    model.eval()
    return model


def export_random_tsm(path, size: int, widths: tuple, frames: int, num_classes: int, seed: int = 0,
                      **model_kw):
    """Export a small quantized TSM step graph with non-trivial BN statistics and activation scales
    (a few train-mode forwards on random clips); returns the network. ``model_kw``: other
    ``ModelConfig`` fields (``blocks`` default: one per stage)."""
    import torch

    from tsmfpga.quant.export import export_step_graph
    from tsmfpga.quant.models import ModelConfig, VideoNet

    torch.manual_seed(seed)
    model_kw.setdefault("blocks", (1,) * len(widths))
    net = VideoNet(ModelConfig(in_channels=1, input_size=size, widths=widths, num_classes=num_classes, **model_kw),
                   "tsm", quantized=True)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, frames, 1, size, size))
    net.eval()
    export_step_graph(net, path, {"tsmfpga.frames": frames})
    return net


#: the small TSM of the session fixtures `tsm_step_graph` / `tsm_build` (tests/conftest.py)
TSM_SIZE, TSM_T = 16, 4


def run_cli(*args):
    """``python -m tsmfpga ARGS`` as a user runs it (exit code, stdout, stderr)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "tsmfpga", *args], capture_output=True, text=True)


#: input shape (C, H, W) of brevitas_examples' BNN-PYNQ networks by architecture
BNN_PYNQ_SHAPES = {"FC": (1, 28, 28), "CNV": (3, 32, 32)}


def export_bnn_pynq(name: str, path, seed: int = 0, calib_batches: int = 4):
    """brevitas_examples' BNN-PYNQ network ``name`` (e.g. "tfc_2w2a", "cnv_1w1a"), the exact
    published architecture, exported with ``export_qonnx`` unmodified. Random-initialised (the
    pretrained weights come from GitHub, unreachable here), with BN / TensorNorm statistics from a
    few train-mode forwards on uniform [0, 1] pixels so that thresholds are non-trivial. Returns the
    path; the raw input is pixel/255 in [0, 1] (declare it: --input-type UINT8 --input-scale 1/255)."""
    import torch
    from brevitas.export import export_qonnx
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    torch.manual_seed(seed)
    model, cfg = model_with_cfg(name, pretrained=False)
    shape = BNN_PYNQ_SHAPES[cfg.get("MODEL", "ARCH")]
    model.train()
    with torch.no_grad():
        for _ in range(calib_batches):
            model(torch.rand(16, *shape))
    model.eval()
    export_qonnx(model, torch.rand(1, *shape), export_path=str(path))
    return path


#: layers under test of :func:`make_dw_cnn` (issue #12: strided and depthwise convs in hardware)
DW_KINDS = ("conv_s2", "dw_s1", "dw_s2", "dw_signed")


def make_dw_cnn(kind: str, channels: int = 8, size: int = 8):
    """A small Brevitas CNN around one layer under test, 4-bit weights, BN, QuantReLU(4):
    UINT8 input -> conv 3x3 (1 -> C, pad 1) -> BN -> ReLU4 -> LAYER -> BN -> ReLU4 -> FC.

    ``kind``: "conv_s2" a regular 3x3 conv with stride 2 (C -> C), "dw_s1" a depthwise 3x3
    stride 1 and "dw_s2" a depthwise 3x3 stride 2 (groups = C), the depthwise ones with
    per-channel weight scales (weight_scaling_per_output_channel=True); "dw_signed" the depthwise
    stride 1 fed by a signed 4-bit QuantHardTanh instead of the first ReLU; all padded by 1.
    Returns (module in eval mode with calibrated BN statistics, input shape (1, size, size))."""
    import torch
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.quant import Uint8ActPerTensorFloat

    if kind not in DW_KINDS:
        raise ValueError(f"kind {kind!r} not in {DW_KINDS}")
    torch.manual_seed(0)
    stride = 1 if kind in ("dw_s1", "dw_signed") else 2
    groups = 1 if kind == "conv_s2" else channels
    out_size = (size + 2 - 3) // stride + 1

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(1, channels, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn1 = nn.BatchNorm2d(channels)
            self.act1 = (qnn.QuantHardTanh(bit_width=4, max_val=1.0, min_val=-1.0, return_quant_tensor=True)
                         if kind == "dw_signed" else qnn.QuantReLU(bit_width=4, return_quant_tensor=True))
            self.conv2 = qnn.QuantConv2d(channels, channels, 3, stride=stride, padding=1, groups=groups,
                                         bias=False, weight_bit_width=4,
                                         weight_scaling_per_output_channel=groups > 1)
            self.bn2 = nn.BatchNorm2d(channels)
            self.act2 = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(channels * out_size * out_size, 4, bias=True, weight_bit_width=4)

        def forward(self, x):
            x = self.act1(self.bn1(self.conv1(self.inp(x))))
            x = self.act2(self.bn2(self.conv2(x)))
            return self.fc(x.flatten(1))

    model = M()
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.rand(8, 1, size, size))
    model.eval()
    return model, (1, size, size)


def make_inverted_residual(channels: int = 8, expand: int = 2, size: int = 8):
    """A MobileNetV2-style inverted residual block, test-sized: UINT8 input -> stem conv 3x3 ->
    BN -> shared signed quantizer -> [1x1 expand -> BN -> ReLU4 -> dw 3x3 (per-channel scales) ->
    BN -> ReLU4 -> 1x1 project -> BN -> the shared signed QuantIdentity(4)] + skip -> the shared
    quantizer again (both add inputs at one scale) -> FC. Returns (module in eval mode, input shape)."""
    import torch
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.quant import Int8ActPerTensorFloat, Uint8ActPerTensorFloat

    torch.manual_seed(0)
    hidden = channels * expand

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.stem = qnn.QuantConv2d(1, channels, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn0 = nn.BatchNorm2d(channels)
            self.shared = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=4,
                                            return_quant_tensor=True)
            self.expand = qnn.QuantConv2d(channels, hidden, 1, bias=False, weight_bit_width=4)
            self.bn1 = nn.BatchNorm2d(hidden)
            self.act1 = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.dw = qnn.QuantConv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False,
                                      weight_bit_width=4, weight_scaling_per_output_channel=True)
            self.bn2 = nn.BatchNorm2d(hidden)
            self.act2 = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.project = qnn.QuantConv2d(hidden, channels, 1, bias=False, weight_bit_width=4)
            self.bn3 = nn.BatchNorm2d(channels)
            self.fc = qnn.QuantLinear(channels * size * size, 4, bias=True, weight_bit_width=4)

        def forward(self, x):
            x = self.shared(self.bn0(self.stem(self.inp(x))))
            y = self.act1(self.bn1(self.expand(x)))
            y = self.act2(self.bn2(self.dw(y)))
            y = self.shared(self.bn3(self.project(y)))  # the signed quantizer after project = the shared one
            x = self.shared(x + y)
            return self.fc(x.flatten(1))

    model = M()
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.rand(8, 1, size, size))
    model.eval()
    return model, (1, size, size)


#: the small MobileNetV2-style TSM of :func:`export_random_mobilenet_tsm` (override any via model_kw)
MOBILENET_SMALL = dict(in_channels=3, stem_width=8, stages=((1, 8, 1, 1), (2, 16, 2, 2), (2, 16, 1, 1)),
                       head_width=16, head_kernel=1)


def export_random_mobilenet_tsm(path, size: int, frames: int, num_classes: int, seed: int = 0, **model_kw):
    """Export a small quantized MobileNetV2-style TSM step graph (``model.family: mobilenetv2``)
    with non-trivial BN statistics and activation scales (a few train-mode forwards on random
    clips); returns the network. ``model_kw``: ``ModelConfig`` fields over :data:`MOBILENET_SMALL`
    (RGB, stem 8, an expansion-1 block, a stride-2 group of 16 with two residual blocks (two
    shift points), head 1x1 -> 16; the final map is size/4, e.g. 4x4 at size 16)."""
    from tsmfpga.quant.export import export_random_step_graph
    from tsmfpga.quant.models import ModelConfig

    kw = {**MOBILENET_SMALL, **model_kw}
    cfg = ModelConfig(family="mobilenetv2", input_size=size, num_classes=num_classes, **kw)
    return export_random_step_graph(cfg, path, frames, seed=seed)
