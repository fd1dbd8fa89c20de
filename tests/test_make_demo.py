"""`make demo` stops at the first failed stage (no stage runs on the output of a failed one)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_stops_at_the_first_failure(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {widths: [not-a-number]}\n")
    proc = subprocess.run(
        ["make", "-C", str(ROOT), "demo", f"QAT_CONFIG={bad}", f"QAT_OUT={tmp_path / 'qat'}",
         f"COMPILE_OUT={tmp_path / 'compile'}"], capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "tsmfpga qat: error" in proc.stderr, proc.stderr[-2000:]
    # nothing after the failed stage ran
    assert "tsmfpga compile" not in proc.stdout.split("tsmfpga qat")[-1]
    assert not (tmp_path / "compile").exists()
