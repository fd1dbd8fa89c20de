"""axis_fifo under cocotb on Verilator and Icarus, randomized, with random backpressure."""

import pytest


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
@pytest.mark.parametrize(
    "params",
    [
        {"DATA_WIDTH": 8, "USER_WIDTH": 1, "ADDR_WIDTH": 2},
        {"DATA_WIDTH": 13, "USER_WIDTH": 3, "ADDR_WIDTH": 5},
    ],
    ids=["d8u1a2", "d13u3a5"],
)
def test_axis_fifo(simulator, params, run_tb):
    run_tb("axis_fifo", simulator, params)
