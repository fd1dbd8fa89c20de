"""`tsmfpga deploy` for an ECP5 build: the openFPGALoader command (dry run: no board here);
a bitstream that missed timing is not loaded."""

import json

from model_zoo import run_cli


def _build(tmp_path, status):
    (tmp_path / "bitstream").mkdir(parents=True)
    bit = tmp_path / "bitstream" / "tsmfpga_ulx3s-85f.bit"
    bit.write_bytes(b"\xff" * 16)
    (tmp_path / "bitstream" / "report.json").write_text(json.dumps(
        {"family": "ecp5", "board": "ulx3s-85f", "status": status, "bitstream": str(bit)}))
    return bit


def test_deploy_ecp5_dry_run(tmp_path):
    bit = _build(tmp_path, "complete")
    proc = run_cli("deploy", str(tmp_path), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "openFPGALoader -b ulx3s " in proc.stdout and str(bit) in proc.stdout


def test_deploy_refuses_a_timing_failure(tmp_path):
    _build(tmp_path, "timing_failed")
    proc = run_cli("deploy", str(tmp_path), "--dry-run")
    assert proc.returncode == 2 and "missed timing" in proc.stderr
