"""`make regress` (scripts/regress.py): refuses to start without a QAT run, and its RTL
comparison sees a one-byte difference."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "regress.py"


def _module():
    spec = importlib.util.spec_from_file_location("regress", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_needs_a_qat_run(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--qat", str(tmp_path / "none"), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "make qat" in proc.stderr and not (tmp_path / "r" / "report.json").exists()


def test_rtl_comparison(tmp_path):
    mod = _module()
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "x.sv").write_text("module x; endmodule\n")
    assert mod._rtl_identical(a, b) == (True, [])
    (b / "x.sv").write_text("module x; endmodule \n")
    assert mod._rtl_identical(a, b) == (False, ["x.sv"])
