"""brevitas_examples' BNN-PYNQ networks as published (exact architecture, ``export_qonnx``
unmodified; random-initialised weights: the pretrained ones are on GitHub, unreachable here)
compile with a declared UINT8 pixel input (``--input-type UINT8 --input-scale 1/255``) and
simulate bit-exact in RTL (Verilator) against the integer HW graph and the QONNX golden, with
every inter-layer stream equal (taps). TFC-W1A1 and CNV-W1A1 are XNOR (bipolar) networks:
TFC-W1A1 a UINT8 -> bipolar input Thresholding layer, then 4 XNOR-popcount MVAUs; CNV-W1A1 a
UINT8 -> INT8 input Thresholding layer (the published 2x - 1 and 8-bit input quantizer), an
INT8 x (+-1) first conv, then 8 XNOR-popcount MVAUs.

Fast tier: the TFC MLPs (784-64-64-64-10) folded to 100k frames/s, 16 images (with fewer, the
back-to-back run measures the input acceptance rate, not the interval: FIFOs absorb the
difference, and the paced run's latency then grows). Slow tier: CNV-W1A1 and CNV-W2A2 (32x32x3, 64-64-128-128-256-256 convs, 512-512 FC) at the most that fits pynq-z2."""

from __future__ import annotations

import json

import pytest
from model_zoo import export_bnn_pynq, run_cli


def _compile_and_sim(name, tmp_path, *compile_args, clips="16"):
    path = export_bnn_pynq(name, tmp_path / f"{name}.onnx")
    out = tmp_path / "build"
    proc = run_cli("compile", str(path), "--out", str(out), "--input-type", "UINT8", "--input-scale", "1/255",
                   *compile_args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "(declared: --input-type/--input-scale)" in proc.stdout
    proc = run_cli("sim", str(out), "--clips", clips)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    compile_report = json.loads((out / "report.json").read_text())
    sim_report = json.loads((out / "sim" / "report.json").read_text())
    return out, compile_report, sim_report


def _check(compile_report, sim, n_images):
    pe = compile_report["python_exec"]
    assert pe["bit_exact"] is True and pe["mismatches"] == 0 and pe["values"] > 0
    inp = compile_report["input"]
    assert (inp["dtype"], inp["scale"], inp["zero_point"], inp["declared"]) == ("UINT8", 1 / 255, 0, True)
    # the RTL: bit-exact with the HW graph and (through it) the QONNX golden, every stream equal
    assert sim["bit_exact"] is True and sim["mismatches"] == 0 and sim["failures"] == []
    # the sim may repeat the images to measure the interval: at least every image, 10 logits each
    assert sim["frames"] >= n_images and sim["values"] >= 10 * n_images and sim["values"] % 10 == 0
    assert sim["golden"]["hw_graph_vs_qonnx_mismatches"] == 0
    assert sim["taps"]["first_divergence"] is None and sim["taps"]["mismatching_streams"] == 0
    assert sim["latency_cycles"]["max"] == sim["latency_cycles"]["min"]
    assert sim["efficiency"] >= 0.9


def _xnor_mvaus(out):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    hw = ModelWrapper(str(out / "model_hw.onnx"))
    return [n.name for n in hw.graph.node if n.op_type == "MVAU" and getCustomOp(n).get_nodeattr("binaryXnorMode")]


# (name, XNOR MVAUs expected, first HW layer and its output type)
TFC = [("tfc_2w2a", 0, "INT2"), ("tfc_1w1a", 4, "BINARY")]


@pytest.mark.parametrize("name,xnor,first_out", TFC)
def test_published_tfc_simulates_bit_exact(name, xnor, first_out, tmp_path):
    out, rep, sim = _compile_and_sim(name, tmp_path, "--target-fps", "100000", "--fifo-sizing", "analytical")
    _check(rep, sim, 16)
    assert len(_xnor_mvaus(out)) == xnor
    assert rep["ops"] == {"Thresholding": 1, "MVAU": 4, "Mul": 1, "Add": 1}, rep["ops"]
    assert rep["input"]["shape"] == [1, 784] and rep["input"]["layout"] == "NC"
    from qonnx.core.modelwrapper import ModelWrapper

    hw = ModelWrapper(str(out / "model_hw.onnx"))
    first = hw.graph.node[0]
    assert first.op_type == "Thresholding" and hw.get_tensor_datatype(first.output[0]).name == first_out
    assert sim["fps"] >= 0.9 * 100000


@pytest.mark.slow
@pytest.mark.parametrize("name,xnor", [("cnv_1w1a", 8), ("cnv_2w2a", 0)])
def test_published_cnv_simulates_bit_exact(name, xnor, tmp_path):
    out, rep, sim = _compile_and_sim(name, tmp_path, clips="8")
    _check(rep, sim, 8)
    assert len(_xnor_mvaus(out)) == xnor
    assert rep["ops"]["MVAU"] == 9 and rep["ops"]["ConvolutionInputGenerator"] == 8 and rep["ops"]["Pool"] == 2
    assert rep["input"]["shape"] == [1, 32, 32, 3] and rep["input"]["layout"] == "NHWC"
