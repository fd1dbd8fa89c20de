"""axis_fifo under cocotb on Verilator and Icarus, randomized, with random backpressure."""

from pathlib import Path

import pytest

from tsmfpga.sim.runner import rtl_source, run_cocotb

TB_DIR = Path(__file__).parent / "tb"


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
@pytest.mark.parametrize(
    "params",
    [
        {"DATA_WIDTH": 8, "USER_WIDTH": 1, "ADDR_WIDTH": 2},
        {"DATA_WIDTH": 13, "USER_WIDTH": 3, "ADDR_WIDTH": 5},
    ],
    ids=["d8u1a2", "d13u3a5"],
)
def test_axis_fifo(simulator, params, tmp_path, request):
    seed = abs(hash(request.node.nodeid)) % (1 << 31)
    run_cocotb(
        toplevel="axis_fifo",
        sources=[rtl_source("axis_fifo.sv")],
        test_module="tb_axis_fifo",
        test_dir=TB_DIR,
        build_dir=tmp_path / "sim",
        simulator=simulator,
        parameters=params,
        seed=seed,
    )
