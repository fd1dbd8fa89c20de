"""Every RTL file we ship is -Wall clean under Verilator and parses under Icarus (-g2012) (the
modules it instantiates are found in the same folder), is one module named after its file, and
starts with `default_nettype none."""

import re
import shutil
import subprocess

import pytest

from tsmfpga.core import toolenv
from tsmfpga.core.rtl import rtl_dir

RTL = sorted(rtl_dir().glob("*.sv")) + sorted(rtl_dir().glob("*.v"))


def test_there_is_rtl():
    assert RTL, f"no RTL found in {rtl_dir()}"


@pytest.mark.parametrize("path", RTL, ids=lambda p: p.name)
def test_style(path):
    text = path.read_text()
    modules = re.findall(r"^\s*module\s+(\w+)", text, re.M)
    assert modules == [path.stem], f"{path.name}: modules {modules}, expected exactly [{path.stem}]"
    assert "`default_nettype none" in text


@pytest.mark.parametrize("path", RTL, ids=lambda p: p.name)
def test_verilator_lint(path):
    toolenv.prepare_sim_env()
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "-y", str(rtl_dir()), str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("path", RTL, ids=lambda p: p.name)
def test_icarus_parse(path, tmp_path):
    assert shutil.which("iverilog"), "iverilog missing: run `make setup` (installs Debian iverilog)"
    proc = subprocess.run(["iverilog", "-g2012", "-y", str(rtl_dir()), "-Y", ".sv",
                           "-o", str(tmp_path / "a.vvp"), str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
