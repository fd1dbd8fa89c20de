"""clip_flags (the per-frame clip-start flag queue in front of each temporal shift) under cocotb
on Verilator and Icarus: random input and op beats against a cycle model, exact overflow; with STREAM_BITS the stream id
of every frame (random tdest) against the same model."""

import pytest

SIMULATORS = ["verilator", "icarus"]


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize(
    "params",
    [
        {"IN_FRAME_BEATS": 4, "OP_FRAME_BEATS": 4, "DEPTH_LOG2": 3},
        {"IN_FRAME_BEATS": 1, "OP_FRAME_BEATS": 6, "DEPTH_LOG2": 1},
        {"IN_FRAME_BEATS": 7, "OP_FRAME_BEATS": 1, "DEPTH_LOG2": 2},
        {"IN_FRAME_BEATS": 3, "OP_FRAME_BEATS": 5, "DEPTH_LOG2": 3, "STREAM_BITS": 3},
    ],
    ids=["i4o4d8", "i1o6d2", "i7o1d4", "i3o5d8s3"],
)
def test_clip_flags(simulator, params, run_tb):
    run_tb("clip_flags", simulator, params)
