"""Launcher for the per-module cocotb testbenches in tests/hw/tb (Verilator or Icarus)."""

import zlib
from pathlib import Path

import pytest

from tsmfpga.core.rtl import rtl_source
from tsmfpga.sim.runner import run_cocotb

TB_DIR = Path(__file__).parent / "tb"


@pytest.fixture
def run_tb(tmp_path, request):
    """``run_tb(toplevel, simulator, params, uses=())``: build ``hw/rtl/<toplevel>.sv`` (and the
    modules it instantiates, ``uses``: file names in hw/rtl) and run ``tb/tb_<toplevel>.py``. The
    cocotb seed is derived from the test id (stable across runs)."""

    def run(toplevel: str, simulator: str, params: dict, uses: tuple = ()) -> None:
        run_cocotb(
            toplevel=toplevel,
            sources=[rtl_source(f"{toplevel}.sv"), *(rtl_source(u) for u in uses)],
            test_module=f"tb_{toplevel}",
            test_dir=TB_DIR,
            build_dir=tmp_path / "sim",
            simulator=simulator,
            parameters=params,
            seed=zlib.crc32(request.node.nodeid.encode()) % (1 << 31),
        )

    return run
