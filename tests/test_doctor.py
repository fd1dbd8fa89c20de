"""`tsmfpga doctor` lists every tool and exits 0 only when all required tools are present."""

import os
import subprocess
import sys

from tsmfpga import doctor
from tsmfpga.core import toolenv

TOOLS = ["python", "torch", "brevitas", "qonnx", "finn-plus", "onnxruntime", "cocotb",
         "verilator", "iverilog", "yosys", "nextpnr-ecp5", "vivado"]


def test_doctor_lists_every_tool():
    proc = subprocess.run([sys.executable, "-m", "tsmfpga", "doctor"], capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    for tool in TOOLS:
        assert any(line.split()[0] == tool for line in lines if line.strip()), f"{tool} not listed"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    torch_line = next(line for line in lines if line.startswith("torch"))
    assert "+cpu" in torch_line, torch_line
    vivado_line = next(line for line in lines if line.startswith("vivado"))
    if not doctor.check_vivado().ok:
        assert "ABSENT" in vivado_line and "bitstream" in vivado_line


def test_doctor_fails_when_a_required_tool_is_missing(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "check_iverilog",
                        lambda: doctor.Check("iverilog", False, "not on PATH"))
    assert doctor.main() == 1
    assert "iverilog" in capsys.readouterr().err


def test_verilator_version_check_rejects_old(monkeypatch):
    real = doctor.importlib.metadata.version
    monkeypatch.setattr(doctor.importlib.metadata, "version",
                        lambda name: "5.6.0" if name == "verilator" else real(name))
    check = doctor.check_verilator()
    assert not check.ok and "5.036" in check.detail


def test_prepare_sim_env_is_idempotent(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "-j1")
    toolenv.prepare_sim_env()
    first = dict(os.environ)
    toolenv.prepare_sim_env()
    assert os.environ["PATH"] == first["PATH"]
    assert os.environ["MAKEFLAGS"].split().count("CFG_CXXFLAGS_STD=-std=c++20") == 1
    assert os.environ["MAKEFLAGS"].startswith("-j1")
    assert str(toolenv.verilator_bin_dir()) == os.environ["PATH"].split(os.pathsep)[0]
