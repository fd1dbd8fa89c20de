"""`make bench` (scripts/bench.py): a bad design name is refused before any work, naming it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_refuses_unknown_design(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--nets", "reference", "cnv_9w9a",
                           "--out", str(tmp_path / "b")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "cnv_9w9a" in proc.stderr and "cnv_1w1a" in proc.stderr and "reference" in proc.stderr
    assert not (tmp_path / "b").exists()   # nothing written
