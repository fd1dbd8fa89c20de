"""The layer contract (pyproject.toml [tool.importlinter]) and the import rules it cannot check.

The package is spread over folders by setuptools' package-dir (quant/ build/ hw/ sim/ tsmfpga/),
so import-linter runs on an installed copy (``pip install --target``) where the folders are
where Python sees them.
"""

from __future__ import annotations

import ast
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder -> package, as pyproject.toml maps them
FOLDERS = {"tsmfpga": "tsmfpga", "quant": "tsmfpga.quant", "build": "tsmfpga.flow", "hw": "tsmfpga.hw",
           "sim": "tsmfpga.sim"}

#: function-local imports of tsmfpga modules that are allowed, and why (none dodges a cycle:
#: the layer contract sees function-local imports too)
LAZY_ALLOWED = {
    ("tsmfpga.cli", "*"): "each subcommand imports its stage when it runs (fast `tsmfpga --help`)",
    ("tsmfpga.deploy", "*"): "package attributes resolve lazily (importing the package must not "
                             "pull qonnx or the simulator in)",
    ("tsmfpga.sim.fullsim", "tsmfpga.quant"): "the float model needs torch: only when evaluated",
}


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    base = FOLDERS[parts[0]]
    rest = parts[1:]
    if rest and rest[-1] == "__init__":
        rest = rest[:-1]
    return ".".join([base, *rest])


def _sources():
    for folder in FOLDERS:
        for p in sorted((ROOT / folder).rglob("*.py")):
            yield p, _module_of(p)


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _imports(tree):
    """(node, target module, names, is_function_local)."""
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module, [a.name for a in node.names], id(node) not in top
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node, a.name, [], id(node) not in top


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    # every build of this tree writes setuptools' scratch folder out/setuptools-build: pytest-xdist
    # workers building at the same time broke each other's wheel ("No such file or directory"),
    # so the builds take turns
    lock = ROOT / "out" / "setuptools-build.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                               "--target", str(target), str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return target


def _lint(site: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(site), "NO_COLOR": "1"}
    return subprocess.run([str(exe), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          capture_output=True, text=True, cwd=site, env=env)


def test_layer_contract_kept(installed):
    proc = _lint(installed)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_layer_contract_catches_an_upward_import(installed, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(installed, site)
    fifos = site / "tsmfpga" / "hw" / "fifos.py"
    fifos.write_text(fifos.read_text() + "\n\ndef _upward():\n    from tsmfpga.flow import steps  # noqa\n")
    proc = _lint(site)
    assert proc.returncode != 0 and "tsmfpga.hw.fifos -> tsmfpga.flow.steps" in proc.stdout, proc.stdout[-3000:]


def test_no_private_name_crosses_a_package():
    bad = []
    for path, mod in _sources():
        for node, target, names, _ in _imports(ast.parse(path.read_text())):
            if not target.startswith("tsmfpga") or _package(target) == _package(mod):
                continue
            bad += [f"{mod}:{node.lineno} imports {target}.{n}" for n in names if n.startswith("_")]
            bad += [f"{mod}:{node.lineno} imports {target}" for p in target.split(".") if p.startswith("_")
                    and p != "__main__"]
    assert not bad, "private names imported across packages:\n" + "\n".join(bad)


def test_no_function_local_import_of_tsmfpga_unless_listed():
    bad = []
    for path, mod in _sources():
        for node, target, _, local in _imports(ast.parse(path.read_text())):
            if not local or not target.startswith("tsmfpga"):
                continue
            if not any((mod == m or mod.startswith(m + ".")) and
                       (t == "*" or target == t or target.startswith(t + ".")) for m, t in LAZY_ALLOWED):
                bad.append(f"{mod}:{node.lineno} imports {target} inside a function")
    assert not bad, ("function-local imports of tsmfpga modules (import at the top; the layer "
                     "contract decides what may be imported):\n" + "\n".join(bad))
