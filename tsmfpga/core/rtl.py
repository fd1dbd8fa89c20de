"""Where our RTL sources are: package data of ``tsmfpga.hw`` (``hw/rtl``), found with
``importlib.resources``, never through an environment variable."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

#: the package whose ``rtl/`` folder holds our SystemVerilog
RTL_PACKAGE = "tsmfpga.hw"


def rtl_dir() -> Path:
    """Folder holding the project's own RTL sources (``hw/rtl`` in the source tree)."""
    return Path(str(importlib.resources.files(RTL_PACKAGE) / "rtl"))


def rtl_source(name: str) -> Path:
    """Path of one of our RTL files, e.g. ``rtl_source("axis_fifo.sv")``."""
    path = rtl_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"RTL source {name!r} not found in {rtl_dir()}")
    return path
