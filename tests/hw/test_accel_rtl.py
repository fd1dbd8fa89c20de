"""tsmfpga_accel + tsmfpga_ctrl (AXI-Lite registers, clip-start sideband, frame counters,
latency stats) around a test double of the stitched top, on Verilator and Icarus."""

import zlib
from pathlib import Path

import pytest

from tsmfpga.core.rtl import rtl_source
from tsmfpga.sim.runner import run_cocotb

TB_DIR = Path(__file__).parent / "tb"

# must match the parameter defaults of tb/fake_tsmfpga_top.sv (the accel instantiates the top
# without parameters, like the generated one); IN_W / OUT_W are not byte multiples on purpose
PARAMS = {
    "IN_W": 12,
    "OUT_W": 19,
    "IN_FRAME_BEATS": 6,
    "OUT_FRAME_BEATS": 3,
    "IN_BYTES": 2,
    "OUT_BYTES": 4,
    "WITH_CORE": 1,
}


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_tsmfpga_accel(simulator, tmp_path, request):
    run_cocotb(
        toplevel="tsmfpga_accel",
        sources=[TB_DIR / "fake_tsmfpga_top.sv", rtl_source("tsmfpga_ctrl.sv"),
                 rtl_source("tsmfpga_accel.sv")],
        test_module="tb_tsmfpga_accel",
        test_dir=TB_DIR,
        build_dir=tmp_path / "sim",
        simulator=simulator,
        parameters=PARAMS,
        seed=zlib.crc32(request.node.nodeid.encode()) % (1 << 31),
    )
