"""Same QONNX file -> byte-identical RTL across processes and PYTHONHASHSEED values (issue 11).

Two `tsmfpga compile` runs in two subprocesses with different hash seeds must write the same
bytes to every file of ``DIR/rtl`` (RTL, ROM contents, manifest.json): no tensor name may be
random and no folding/ROM decision may follow set or dict-of-names iteration order.
"""

import os
import subprocess
import sys


def _compile(step_graph, out, hashseed, *extra):
    env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
    return subprocess.run([sys.executable, "-m", "tsmfpga", "compile", str(step_graph), "--out", str(out),
                           "--verify-clips", "1", *extra], capture_output=True, text=True, env=env)


def _assert_same_rtl(a, b):
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a, f"no RTL in {a}"
    assert files_a == files_b, f"different file lists: only in 1: {sorted(set(files_a) - set(files_b))}, " \
                               f"only in 2: {sorted(set(files_b) - set(files_a))}"
    differ = [f for f in files_a if (a / f).read_bytes() != (b / f).read_bytes()]
    assert not differ, f"{len(differ)} of {len(files_a)} RTL files differ between the two processes: {differ}"


def _two_builds(step_graph, tmp_path, seeds, *extra):
    outs = []
    for seed in seeds:
        out = tmp_path / f"seed{seed}"
        proc = _compile(step_graph, out, seed, *extra)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        outs.append(out / "rtl")
    return outs


def test_rtl_identical_across_processes(tsm_step_graph, tmp_path):
    """Default FIFO sizing (a Verilator run), fixed target: every rtl/ file byte-identical."""
    _assert_same_rtl(*_two_builds(tsm_step_graph, tmp_path, (1, 2), "--target-fps", "2000"))


def test_rtl_identical_across_processes_budget_folding(tsm_step_graph, tmp_path):
    """No target: the folding's bisection over the budget, analytical FIFOs, two other hash seeds."""
    _assert_same_rtl(*_two_builds(tsm_step_graph, tmp_path, (3, 4), "--fifo-sizing", "analytical"))

