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


def test_uart_link_flags_an_accelerator_slower_than_the_uart():
    """The overrun rule: the accelerator's average pace per input beat against the UART's."""
    from tsmfpga.deploy.ecp5 import uart_link

    manifest = {"input": {"frame_beats": 256, "width": 8}}
    # 33 clocks per bit -> 330 cycles per 1-byte beat
    ok = uart_link(manifest, 33, 36864.0)          # 144 cycles per beat (the tests' small TSM)
    assert ok["uart_cycles_per_beat"] == 330 and ok["accelerator_cycles_per_beat"] == 144.0
    assert not ok["overrun_risk"]
    slow = uart_link(manifest, 33, 256 * 331.0)    # one cycle per beat slower than the line
    assert slow["overrun_risk"]
    wide = uart_link({"input": {"frame_beats": 256, "width": 12}}, 33, 256 * 331.0)  # 2 bytes a beat
    assert wide["uart_cycles_per_beat"] == 660 and not wide["overrun_risk"]
    assert not uart_link(manifest, 33, None)["overrun_risk"]   # no interval known: nothing claimed
