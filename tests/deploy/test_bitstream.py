"""`tsmfpga bitstream` without Vivado: yosys estimate, finn-plus estimate, Vivado project and
deploy package are built, the report says what was not, the exit code is 3; over-capacity is a
clear error; `tsmfpga deploy` copies the package (dry run: no board here)."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil

import pytest
from model_zoo import run_cli
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from tsmfpga.core import toolenv
from tsmfpga.flow.finn_estimate import finn_estimate


@pytest.fixture(scope="module")
def bitstream(tsm_build):
    """Without the yosys estimate (minutes): the fast tier."""
    out, _ = tsm_build
    proc = run_cli("bitstream", str(out), "--board", "pynq-z2", "--skip-estimate")
    return out, proc


def test_bitstream_without_vivado_fast(bitstream):
    out, proc = bitstream
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Vivado is not on PATH" in proc.stderr and "vivado -mode batch -source build.tcl" in proc.stderr
    r = json.loads((out / "bitstream" / "report.json").read_text())
    assert r["bitstream"] is None and r["vivado"]["found"] is False and r["resources"] is None
    assert r["source"].startswith("none")
    assert r["finn_plus_estimate"]["resources"]["LUT"] > 0
    assert (out / "bitstream" / "vivado" / "build.tcl").is_file()
    assert (out / "deploy" / "accel.json").is_file() and (out / "deploy" / "driver.py").is_file()


@pytest.mark.slow
def test_bitstream_without_vivado(tsm_build, tmp_path):
    import shutil

    src, _ = tsm_build
    out = tmp_path / "b"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("sim", "fifo_sizing", "steps", "bitstream", "deploy"))
    proc = run_cli("bitstream", str(out), "--board", "pynq-z2")
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Vivado is not on PATH" in proc.stderr and "vivado -mode batch -source build.tcl" in proc.stderr
    r = json.loads((out / "bitstream" / "report.json").read_text())
    assert r["source"] == "yosys" and r["bitstream"] is None and r["vivado"]["found"] is False
    assert r["board"] == "pynq-z2" and r["part"] == "xc7z020clg400-1" and r["clock_mhz"] == 100
    for k in ("LUT", "FF", "BRAM36", "DSP"):
        assert r["resources"][k] is not None and r["capacity"][k] > 0
        assert r["utilization"][k] == pytest.approx(r["resources"][k] / r["capacity"][k])
    assert r["resources"]["LUT"] > 0 and r["resources"]["FF"] > 0
    f = r["finn_plus_estimate"]
    assert f["resources"]["LUT"] > 0 and f["fps"] > 0 and "finn-plus" in f["source"]
    assert (out / "bitstream" / "vivado" / "build.tcl").is_file()
    assert (out / "deploy" / "accel.json").is_file() and (out / "deploy" / "driver.py").is_file()
    assert "resources (yosys)" in proc.stdout


@pytest.mark.parametrize("board", ["zybo-z7-20", "ultra96-v2"])
def test_bitstream_for_another_board_is_refused(bitstream, tmp_path, board):
    """The design was folded for pynq-z2: a project for another board would describe hardware
    folded against the wrong resources and clock. Refused, naming both boards, nothing written."""
    out, _ = bitstream
    work = tmp_path / "build"
    shutil.copytree(out, work, ignore=shutil.ignore_patterns("sim", "fifo_sizing", "steps", "bitstream", "deploy"))
    proc = run_cli("bitstream", str(work), "--board", board, "--skip-estimate")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "folded for pynq-z2" in proc.stderr and board in proc.stderr
    assert not (work / "bitstream" / "report.json").exists() and not (work / "deploy").exists()


def test_over_capacity_names_the_largest_consumers(bitstream):
    from tsmfpga.deploy.bitstream import OverCapacityError, run_bitstream
    from tsmfpga.hw.boards import get_board

    out, _ = bitstream
    tiny = dataclasses.replace(get_board("pynq-z2"), resources={**get_board("pynq-z2").resources, "LUT": 100})
    with pytest.raises(OverCapacityError, match=r"LUT .* > 100.*largest consumers"):
        run_bitstream(out, tiny, log=lambda *a: None)


def test_deploy_copies_over_ssh(bitstream, tmp_path):
    out, _ = bitstream
    proc = run_cli("deploy", str(out), "--host", "pynq.local", "--dry-run")
    assert proc.returncode == 0 and "scp -r" in proc.stdout and "xilinx@pynq.local" in proc.stdout
    proc = run_cli("deploy", str(out))
    assert proc.returncode == 2 and "--host" in proc.stderr
    proc = run_cli("deploy", str(tmp_path), "--host", "x")
    assert proc.returncode == 2 and "no deploy package" in proc.stderr


def test_finn_baseline_ignores_our_decisions(bitstream, tmp_path):
    """The finn-plus baseline uses finn-plus' own MAC / memory defaults, so it does not move when
    our folding changes resType / ram_style; the 'ours' variant follows them."""
    out, _ = bitstream
    toolenv.prepare_finn_env(tmp_path)
    model = ModelWrapper(str(out / "model_hw.onnx"))
    mvaus = [n for n in model.graph.node if n.op_type == "MVAU"]
    assert mvaus
    base = finn_estimate(model, "xc7z020clg400-1", 100.0, 1000.0)
    ours = finn_estimate(model, "xc7z020clg400-1", 100.0, 1000.0, decisions="ours")
    flipped = copy.deepcopy(model)
    for n in flipped.graph.node:
        if n.op_type == "MVAU":
            op = getCustomOp(n)
            op.set_nodeattr("resType", "lut" if op.get_nodeattr("resType") == "dsp" else "dsp")
    assert finn_estimate(flipped, "xc7z020clg400-1", 100.0, 1000.0)["resources"] == base["resources"]
    assert finn_estimate(flipped, "xc7z020clg400-1", 100.0, 1000.0, decisions="ours")["resources"] != ours["resources"]
    assert "defaults" in base["decisions"] and "our folding" in ours["decisions"]
