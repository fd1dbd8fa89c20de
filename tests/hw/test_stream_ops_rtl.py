"""duplicate_streams and add_streams (residual-block stream ops) under cocotb on Verilator
and Icarus, randomized, with independent random pauses on every input and output."""

from pathlib import Path

import pytest

from tsmfpga.sim.runner import rtl_source, run_cocotb

TB_DIR = Path(__file__).parent / "tb"
SIMULATORS = ["verilator", "icarus"]


def _seed(request) -> int:
    return abs(hash(request.node.nodeid)) % (1 << 31)


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize(
    "params",
    [
        {"DATA_WIDTH": 8, "USER_WIDTH": 1},
        {"DATA_WIDTH": 37, "USER_WIDTH": 3},
    ],
    ids=["d8u1", "d37u3"],
)
def test_duplicate_streams(simulator, params, tmp_path, request):
    run_cocotb(
        toplevel="duplicate_streams",
        sources=[rtl_source("duplicate_streams.sv")],
        test_module="tb_duplicate_streams",
        test_dir=TB_DIR,
        build_dir=tmp_path / "sim",
        simulator=simulator,
        parameters=params,
        seed=_seed(request),
    )


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize(
    "params",
    [
        {"PE": 1, "IN_BITS": 8, "IN_SIGNED": 0, "OUT_BITS": 9, "USER_WIDTH": 1},
        {"PE": 4, "IN_BITS": 5, "IN_SIGNED": 1, "OUT_BITS": 6, "USER_WIDTH": 2},
    ],
    ids=["pe1u8", "pe4s5"],
)
def test_add_streams(simulator, params, tmp_path, request):
    run_cocotb(
        toplevel="add_streams",
        sources=[rtl_source("add_streams.sv")],
        test_module="tb_add_streams",
        test_dir=TB_DIR,
        build_dir=tmp_path / "sim",
        simulator=simulator,
        parameters=params,
        seed=_seed(request),
    )
