"""duplicate_streams and add_streams (residual-block stream ops) under cocotb on Verilator
and Icarus, randomized, with independent random pauses on every input and output."""

import pytest


SIMULATORS = ["verilator", "icarus"]


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize(
    "params",
    [
        {"DATA_WIDTH": 8, "USER_WIDTH": 1},
        {"DATA_WIDTH": 37, "USER_WIDTH": 3},
    ],
    ids=["d8u1", "d37u3"],
)
def test_duplicate_streams(simulator, params, run_tb):
    run_tb("duplicate_streams", simulator, params)


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize(
    "params",
    [
        {"PE": 1, "IN_BITS": 8, "IN_SIGNED": 0, "OUT_BITS": 9, "USER_WIDTH": 1},
        {"PE": 4, "IN_BITS": 5, "IN_SIGNED": 1, "OUT_BITS": 6, "USER_WIDTH": 2},
    ],
    ids=["pe1u8", "pe4s5"],
)
def test_add_streams(simulator, params, run_tb):
    run_tb("add_streams", simulator, params)
