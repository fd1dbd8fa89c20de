"""`tsmfpga compile` end to end on a small TSM step graph, resume, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

SIZE, T = 16, 4


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tsmfpga", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def step_graph(tsm_step_graph):
    return tsm_step_graph


@pytest.fixture(scope="module")
def build(tsm_build):
    return tsm_build


def test_report_contract(build):
    out, proc = build
    r = json.loads((out / "report.json").read_text())
    for key in ("board", "clock_mhz", "fps_estimate", "ideal_ii_cycles", "layers"):
        assert r[key] is not None, key
    assert r["board"] == "pynq-z2" and r["clock_mhz"] == 100
    assert r["fps_estimate"] >= 2000 and r["ideal_ii_cycles"] <= 100e6 / 2000
    for layer in r["layers"]:
        assert {"name", "op", "pe", "simd", "cycles", "resources"} <= set(layer)
        assert layer["cycles"] <= r["ideal_ii_cycles"]
    assert max(layer["cycles"] for layer in r["layers"]) == r["ideal_ii_cycles"]
    pe = r["python_exec"]
    assert pe["bit_exact"] is True and pe["mismatches"] == 0 and pe["frames"] == 3 * T
    assert "float64" in pe["source"]
    it = r["integer_thresholds"]   # the front end made every integer-input threshold an integer
    assert it["nodes"] >= 1 and it["thresholds"] >= it["nodes"] and 0 <= it["exact_ties"] <= it["thresholds"]
    assert r["input"]["dtype"] == "UINT8" and r["input"]["zero_point"] == 0
    assert abs(r["input"]["scale"] - 1 / 255) < 1e-9
    assert r["ops"].get("TemporalShift") == 2
    steps = sorted(p.name for p in (out / "steps").glob("*.onnx"))
    assert len(steps) == 12 and steps[0] == "01_tidy.onnx" and steps[-1] == "12_rtl.onnx"
    assert "09_streams.onnx" in steps   # --streams: no-op for one stream, before fold
    assert r["rtl"]["top"] == "tsmfpga_top" and (out / "rtl" / "tsmfpga_top.sv").is_file()
    assert r["rtl"]["fifo_sizing"].startswith("simulation")
    assert json.loads((out / "status.json").read_text())["status"] == "complete"
    assert "bit exact: True" in proc.stdout


def test_stop_then_resume_gives_the_same_report(step_graph, build, tmp_path):
    out = tmp_path / "b"
    first = _cli("compile", str(step_graph), "--out", str(out), "--target-fps", "2000",
                 "--verify-clips", "3", "--stop-step", "check_mapped")
    assert first.returncode == 0, first.stderr[-2000:]
    assert not (out / "report.json").exists()
    assert json.loads((out / "status.json").read_text())["status"] == "stopped"
    second = _cli("compile", str(step_graph), "--out", str(out), "--target-fps", "2000",
                  "--verify-clips", "3", "--start-step", "streams", "--fifo-sizing", "analytical")
    assert second.returncode == 0, second.stderr[-2000:]
    a = json.loads((out / "report.json").read_text())
    b = json.loads((build[0] / "report.json").read_text())
    assert a["layers"] == b["layers"] and a["python_exec"]["mismatches"] == b["python_exec"]["mismatches"]


def test_impossible_fps_names_layer(step_graph, tmp_path):
    proc = _cli("compile", str(step_graph), "--out", str(tmp_path / "b"), "--target-fps", "1e7")
    assert proc.returncode == 2
    assert "cycles" in proc.stderr and "_" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "b" / "report.json").exists()
    assert json.loads((tmp_path / "b" / "status.json").read_text())["status"] == "failed"


def test_budget_too_small_names_resource(step_graph, tmp_path):
    proc = _cli("compile", str(step_graph), "--out", str(tmp_path / "b"), "--target-fps", "20000",
                "--budget", "0.02")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert any(res in proc.stderr for res in ("LUT", "BRAM", "DSP")) and "needed" in proc.stderr


@pytest.mark.parametrize("content,message", [(b"not an onnx file at all", "not a readable ONNX"),
                                             (None, "does not exist")])
def test_bad_model_file(tmp_path, content, message):
    path = tmp_path / "m.onnx"
    if content is not None:
        path.write_bytes(content)
    proc = _cli("compile", str(path), "--out", str(tmp_path / "b"))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_board(step_graph, tmp_path):
    proc = _cli("compile", str(step_graph), "--board", "nexys9", "--out", str(tmp_path / "b"))
    assert proc.returncode == 2 and "pynq-z2" in proc.stderr


def test_unmapped_op_is_named(tmp_path):
    import torch
    import torch.nn as nn
    from brevitas import nn as qnn
    from brevitas.export import export_qonnx
    from brevitas.quant import Uint8ActPerTensorFloat

    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.conv = qnn.QuantConv2d(1, 4, 3, padding=1, weight_bit_width=4, bias=False)
            self.act = qnn.QuantReLU(bit_width=4)

        def forward(self, x):
            return torch.sigmoid(self.act(self.conv(self.inp(x))))

    path = tmp_path / "bad.onnx"
    m = Bad().eval()
    export_qonnx(m, torch.rand(1, 1, 8, 8), export_path=str(path))
    proc = _cli("compile", str(path), "--out", str(tmp_path / "b"))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Sigmoid" in proc.stderr and "Traceback" not in proc.stderr


def test_verify_inputs_npy_shape_checked(step_graph, tmp_path):
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((2, 3, 3), np.uint8))
    proc = _cli("compile", str(step_graph), "--out", str(tmp_path / "b"), "--target-fps", "2000",
                "--inputs", str(bad))
    assert proc.returncode == 2 and "x.npy" in proc.stderr and "shape" in proc.stderr


def test_golden_mismatch_fails_the_compile(step_graph, build, tmp_path):
    """Mutate the golden (one weight of the QONNX file) and re-verify the saved HW graph against it:
    the compile exits non-zero, writes the report marked failed with the traces, and builds no RTL;
    --allow-mismatch builds on and says so in the report."""
    import onnx
    from onnx import numpy_helper

    out = tmp_path / "b"
    first = _cli("compile", str(step_graph), "--out", str(out), "--target-fps", "2000",
                 "--verify-clips", "2", "--stop-step", "fold")
    assert first.returncode == 0, first.stderr[-2000:]
    proto = onnx.load(str(step_graph))
    init = max((i for i in proto.graph.initializer if len(i.dims) == 4), key=lambda i: int(np.prod(i.dims)))
    w = numpy_helper.to_array(init).copy()
    w.reshape(-1)[:] = -w.reshape(-1)          # a different network with the same graph
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    mutated = tmp_path / "mutated.onnx"
    onnx.save(proto, str(mutated))
    proc = _cli("compile", str(mutated), "--out", str(out), "--target-fps", "2000", "--verify-clips", "2",
                "--start-step", "verify_python", "--fifo-sizing", "analytical")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "NOT bit-exact" in proc.stderr and "--allow-mismatch" in proc.stderr
    r = json.loads((out / "report.json").read_text())
    assert r["status"] == "failed" and r["failed_step"] == "verify_python"
    assert r["python_exec"]["bit_exact"] is False and r["python_exec"]["traces"]
    assert json.loads((out / "status.json").read_text())["status"] == "failed"
    assert not (out / "rtl").exists()
    again = _cli("compile", str(mutated), "--out", str(out), "--target-fps", "2000", "--verify-clips", "2",
                 "--start-step", "verify_python", "--fifo-sizing", "analytical", "--allow-mismatch")
    assert again.returncode == 0, again.stderr[-2000:]
    r = json.loads((out / "report.json").read_text())
    assert r["status"] == "complete" and r["python_exec"]["bit_exact"] is False
    assert "bit exact: False" in again.stdout
