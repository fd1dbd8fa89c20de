"""uart_frame_bridge (the ECP5 boards' host interface) under cocotb on Verilator and Icarus:
frames in over the UART model, results out, random backpressure."""

import pytest


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
@pytest.mark.parametrize(
    "params",
    [
        {"CLKS_PER_BIT": 5, "IN_W": 12, "IN_BEATS": 3, "OUT_W": 19},
        {"CLKS_PER_BIT": 4, "IN_W": 8, "IN_BEATS": 5, "OUT_W": 8},
    ],
    ids=["in12x3_out19", "in8x5_out8"],
)
def test_uart_frame_bridge(simulator, params, run_tb):
    run_tb("uart_frame_bridge", simulator, params)
