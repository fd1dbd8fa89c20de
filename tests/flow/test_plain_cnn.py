"""`tsmfpga compile` on ordinary Brevitas CNNs (no temporal shift): a small zoo, each compiled
through the real flow in-process and checked bit-exact (HW graph in Python vs the QONNX golden),
with every node mapped to a HW layer (check_mapped passed)."""

from __future__ import annotations

import json

import pytest


def _calibrate(model, shape, steps=4):
    """Non-trivial BN statistics and activation scales, then eval()."""
    import torch

    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randn(8, *shape))
    model.eval()
    return model


# ---------------------------------------------------------------- the zoo (torch.nn.Module builders)

def int8_signed_input():
    """Int8 signed input quantizer -> conv4 -> BN -> ReLU4 -> MaxPool -> FC4 (the conftest tiny CNN)."""
    from model_zoo import make_tiny_brevitas_cnn

    return make_tiny_brevitas_cnn(), (1, 8, 8)


def hardtanh_global_pool():
    """UINT8 input -> conv -> BN -> HardTanh (INT4) -> conv -> BN -> QuantIdentity -> global
    TruncAvgPool2d (power of two) -> FC."""
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.quant import Uint8ActPerTensorFloat
    from brevitas.quant.scaled_int import RoundTo8bit

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(3, 8, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn1 = nn.BatchNorm2d(8)
            self.act1 = qnn.QuantHardTanh(bit_width=4, max_val=1.0, min_val=-1.0, return_quant_tensor=True)
            self.conv2 = qnn.QuantConv2d(8, 8, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn2 = nn.BatchNorm2d(8)
            self.act2 = qnn.QuantIdentity(bit_width=4, return_quant_tensor=True)
            self.pool = qnn.TruncAvgPool2d(8, trunc_quant=RoundTo8bit, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(8, 4, bias=True, weight_bit_width=4)

        def forward(self, x):
            x = self.act1(self.bn1(self.conv1(self.inp(x))))
            x = self.pool(self.act2(self.bn2(self.conv2(x))))
            return self.fc(x.flatten(1))

    return M(), (3, 8, 8)


def _cnv_like(w_bits: int, a_bits: int, hidden_fc: bool = True):
    """FINN BNN-PYNQ CNV style: 8-bit input, conv -> BN -> act ... MaxPool ... FC -> BN-free logits.
    1 bit = binary weights (SignedBinaryWeightPerTensorConst) and bipolar activations
    (SignedBinaryActPerTensorConst); otherwise INTn weights and signed INTn hardtanh activations."""
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.quant import (
        SignedBinaryActPerTensorConst,
        SignedBinaryWeightPerTensorConst,
        Uint8ActPerTensorFloat,
    )

    def wq():
        if w_bits == 1:
            return {"weight_quant": SignedBinaryWeightPerTensorConst}
        return {"weight_bit_width": w_bits}

    def act():
        if a_bits == 1:
            return qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=True)
        return qnn.QuantHardTanh(bit_width=a_bits, max_val=1.0, min_val=-1.0, return_quant_tensor=True)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(3, 8, 3, bias=False, **wq())
            self.bn1 = nn.BatchNorm2d(8)
            self.act1 = act()
            self.conv2 = qnn.QuantConv2d(8, 8, 3, bias=False, **wq())
            self.bn2 = nn.BatchNorm2d(8)
            self.act2 = act()
            self.pool = nn.MaxPool2d(2)
            if hidden_fc:
                self.fc1 = qnn.QuantLinear(8 * 3 * 3, 16, bias=False, **wq())
                self.bn3 = nn.BatchNorm1d(16)
                self.act3 = act()
            self.fc2 = qnn.QuantLinear(16 if hidden_fc else 8 * 3 * 3, 4, bias=False, **wq())

        def forward(self, x):
            x = self.act1(self.bn1(self.conv1(self.inp(x))))
            x = self.pool(self.act2(self.bn2(self.conv2(x)))).flatten(1)
            if hidden_fc:
                x = self.act3(self.bn3(self.fc1(x)))
            return self.fc2(x)

    return M(), (3, 10, 10)


def cnv_w1a1():
    return _cnv_like(1, 1)


def cnv_w2a2():
    return _cnv_like(2, 2)


def cnv_w8a8():
    """8-bit weights and activations; two thresholded layers (see the xfail below for three)."""
    return _cnv_like(8, 8, hidden_fc=False)


def cnv_w8a8_hidden_fc():
    return _cnv_like(8, 8, hidden_fc=True)


def residual():
    """Residual block without temporal shift; both add inputs through one shared QuantReLU."""
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.quant import Uint8ActPerTensorFloat
    from brevitas.quant.scaled_int import RoundTo8bit

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.stem = qnn.QuantConv2d(1, 8, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn0 = nn.BatchNorm2d(8)
            self.shared = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(8, 8, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn1 = nn.BatchNorm2d(8)
            self.act1 = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.conv2 = qnn.QuantConv2d(8, 8, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn2 = nn.BatchNorm2d(8)
            self.pool = qnn.TruncAvgPool2d(8, trunc_quant=RoundTo8bit, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(8, 4, bias=True, weight_bit_width=4)

        def forward(self, x):
            x = self.shared(self.bn0(self.stem(self.inp(x))))
            y = self.act1(self.bn1(self.conv1(x)))
            y = self.shared(self.bn2(self.conv2(y)))
            x = self.shared(x + y)
            return self.fc(self.pool(x).flatten(1))

    return M(), (1, 8, 8)


def avgpool_2x2():
    """Non-global 2x2 TruncAvgPool2d between convs, then FC."""
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.quant import Uint8ActPerTensorFloat
    from brevitas.quant.scaled_int import RoundTo8bit

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(1, 4, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn1 = nn.BatchNorm2d(4)
            self.act1 = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.pool = qnn.TruncAvgPool2d(2, trunc_quant=RoundTo8bit, return_quant_tensor=True)
            self.conv2 = qnn.QuantConv2d(4, 4, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn2 = nn.BatchNorm2d(4)
            self.act2 = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(4 * 4 * 4, 5, bias=True, weight_bit_width=4)

        def forward(self, x):
            x = self.pool(self.act1(self.bn1(self.conv1(self.inp(x)))))
            x = self.act2(self.bn2(self.conv2(x)))
            return self.fc(x.flatten(1))

    return M(), (1, 8, 8)


def _asym_input(padding: int):
    """ShiftedUint8 input (non-zero zero-point) -> conv -> BN -> ReLU4 -> FC."""
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.quant import ShiftedUint8ActPerTensorFloat

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=ShiftedUint8ActPerTensorFloat, return_quant_tensor=True)
            self.conv = qnn.QuantConv2d(1, 4, 3, padding=padding, bias=False, weight_bit_width=4)
            self.bn = nn.BatchNorm2d(4)
            self.act = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(4 * (8 - 2 + 2 * padding) ** 2, 3, bias=True, weight_bit_width=4)

        def forward(self, x):
            return self.fc(self.act(self.bn(self.conv(self.inp(x)))).flatten(1))

    return M(), (1, 8, 8)



def asym_input():
    """Asymmetric UINT8 input quantizer (zero-point != 0), unpadded first conv."""
    return _asym_input(0)


def asym_input_padded():
    return _asym_input(1)


ZOO = {
    "int8_signed_input": int8_signed_input,
    "hardtanh_global_pool": hardtanh_global_pool,
    "cnv_w1a1": cnv_w1a1,
    "cnv_w2a2": cnv_w2a2,
    "cnv_w8a8": cnv_w8a8,
    "cnv_w8a8_hidden_fc": cnv_w8a8_hidden_fc,
    "residual": residual,
    "avgpool_2x2": avgpool_2x2,
    "asym_input": asym_input,
    "asym_input_padded": asym_input_padded,
}


def export(name: str, path):
    import torch
    from brevitas.export import export_qonnx

    torch.manual_seed(0)
    model, shape = ZOO[name]()
    _calibrate(model, shape)
    export_qonnx(model, torch.randn(1, *shape), export_path=str(path))
    return path


def compile_zoo(name: str, tmp_path):
    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig

    path = export(name, tmp_path / f"{name}.onnx")
    out = tmp_path / "build"
    report = run_compile(CompileConfig(model_path=path, out=out, target_fps=None, verify_images=16),
                         log=lambda *_: None)
    return report, out


FAST = ["int8_signed_input", "hardtanh_global_pool", "cnv_w1a1", "residual"]
SLOW = ["cnv_w2a2", "cnv_w8a8", "avgpool_2x2", "asym_input"]


@pytest.mark.parametrize("name", FAST + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW])
def test_zoo_compiles_bit_exact(name, tmp_path):
    report, out = compile_zoo(name, tmp_path)
    pe = report["python_exec"]
    assert pe["bit_exact"] is True and pe["mismatches"] == 0, pe["traces"][:5]
    assert pe["frames"] == 16 and pe["values"] > 0
    # check_mapped ran and passed: only HW layers and the documented post-processing remain
    assert json.loads((out / "status.json").read_text())["status"] == "complete"
    assert (out / "steps" / "08_check_mapped.onnx").is_file()
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core.graph import POSTPROC_OPS, non_hw_nodes

    hw = ModelWrapper(str(out / "model_hw.onnx"))
    assert non_hw_nodes(hw) == []
    assert {p["op_type"] for p in report["postproc"]} <= set(POSTPROC_OPS)
    assert EXPECTED_OPS.get(name, {"MVAU"}) <= set(report["ops"]), report["ops"]
    if name == "cnv_w1a1":  # bipolar x bipolar layers run as XNOR-popcount MVAUs (FINN BNN style)
        from qonnx.custom_op.registry import getCustomOp

        xnor = [n for n in hw.graph.node
                if n.op_type == "MVAU" and getCustomOp(n).get_nodeattr("binaryXnorMode")]
        assert len(xnor) == 3
    inp = report["input"]
    assert inp["scale"] > 0 and inp["layout"] == "NHWC"
    # the HW input is the input quantizer's integer code; scale and zero-point are reported
    assert (inp["dtype"], inp["zero_point"] != 0) == INPUT_CODE.get(name, ("UINT8", False))


#: HW ops each model must map to (beyond MVAU)
EXPECTED_OPS = {
    "int8_signed_input": {"MVAU", "Pool", "FMPadding"},
    "hardtanh_global_pool": {"MVAU", "Pool", "Thresholding"},  # Thresholding: the pool's round-half-even
    "residual": {"MVAU", "DuplicateStreams", "ElementwiseAdd", "Pool"},
    "avgpool_2x2": {"MVAU", "Pool"},
}

#: (HW input dtype, zero-point != 0) where it is not UINT8 with zero-point 0
INPUT_CODE = {"int8_signed_input": ("INT8", False), "asym_input": ("UINT8", True)}


@pytest.mark.slow
def test_cnv_w8a8_three_thresholded_layers_fit(tmp_path):
    """Three 8-bit-activation layers on pynq-z2 (once refused: 255 embedded thresholds per MVAU
    channel in LUTRAM). Their thresholds now live in standalone binary-search Thresholding layers
    (``SplitWideThresholds``): the design folds within the budget and is bit-exact."""
    report, out = compile_zoo("cnv_w8a8_hidden_fc", tmp_path)
    assert report["python_exec"]["bit_exact"] is True
    assert report["ops"].get("Thresholding", 0) >= 3, report["ops"]
    util = report["utilization"]
    assert all(util[k] <= report["budget"][k] for k in ("LUT", "LUTRAM", "BRAM36", "DSP")), (util, report["budget"])


def test_float_input_without_quantizer_names_the_input(tmp_path):
    import torch
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.export import export_qonnx

    from tsmfpga.core.errors import UserFacingError
    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig

    class NoInQuant(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = qnn.QuantConv2d(1, 4, 3, padding=1, bias=False, weight_bit_width=4, input_quant=None)
            self.act = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(4 * 8 * 8, 3, bias=True, weight_bit_width=4)

        def forward(self, x):
            return self.fc(self.act(self.conv(x)).flatten(1))

    path = tmp_path / "noquant.onnx"
    export_qonnx(NoInQuant().eval(), torch.randn(1, 1, 8, 8), export_path=str(path))
    from qonnx.core.modelwrapper import ModelWrapper

    in_name = ModelWrapper(str(path)).graph.input[0].name
    out = tmp_path / "b"
    with pytest.raises(UserFacingError) as err:
        run_compile(CompileConfig(model_path=path, out=out), log=lambda *_: None)
    msg = str(err.value)
    assert "float" in msg and "quantizer" in msg
    assert f"graph input {in_name!r}" in msg, msg
    assert not (out / "report.json").exists()
    assert json.loads((out / "status.json").read_text()) == {
        "status": "failed", "step": "integer_input", "error": f"UnmappedNodeError: {msg}"}
    # the CLI: exit code 2, the message, no traceback
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "tsmfpga", "compile", str(path), "--out", str(tmp_path / "c")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and f"graph input {in_name!r}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_asym_input_into_padded_conv_is_named(tmp_path):
    from tsmfpga.core.errors import UserFacingError

    with pytest.raises(UserFacingError, match=r"zero-point \d+ and feeds the padded conv .*pads 0 only"):
        compile_zoo("asym_input_padded", tmp_path)
    assert json.loads((tmp_path / "build" / "status.json").read_text())["step"] == "integer_input"
