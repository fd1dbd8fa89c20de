"""cocotb testbench for duplicate_streams: sizes come from the DUT's parameters.

Golden model (golden_stream_ops.duplicate_streams): both outputs equal the input stream
(tdata, tuser, tlast) beat for beat, while the two consumers stall independently.
"""

import random

import cocotb
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

import axis_tb as tb

import golden_stream_ops as golden


async def _setup(dut):
    dw = int(dut.DATA_WIDTH.value)
    uw = int(dut.USER_WIDTH.value)
    source = tb.source(dut, "s_axis")
    sinks = [tb.sink(dut, f"m{k}_axis")
             for k in range(2)]
    await tb.clock_and_reset(dut)
    return dw, uw, source, sinks


@cocotb.test()
async def random_traffic_independent_stalls(dut):
    """Random frames, random pauses on the input and on each output: both outputs == input."""
    dw, uw, source, sinks = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    for p_in, p_out0, p_out1 in [(0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (0.0, 0.7, 0.0),
                                 (0.0, 0.0, 0.7), (0.3, 0.6, 0.2), (0.1, 0.5, 0.5), (0.8, 0.2, 0.9)]:
        source.set_pause_generator(tb.random_pause(rng, p_in))
        sinks[0].set_pause_generator(tb.random_pause(rng, p_out0))
        sinks[1].set_pause_generator(tb.random_pause(rng, p_out1))
        frames = []
        for _ in range(8):
            n = rng.randint(1, 20)
            data = [rng.getrandbits(dw) for _ in range(n)]
            if rng.random() < 0.3:
                data[0] = (1 << dw) - 1
                data[-1] = 0
            user = [rng.getrandbits(uw) for _ in range(n)]
            frames.append((data, user))
            await source.send(AxiStreamFrame(data, tuser=user))
        for data, user in frames:
            want_data = golden.duplicate_streams(data)
            want_user = golden.duplicate_streams(user)
            for k, sink in enumerate(sinks):
                rx = await sink.recv()
                rx.normalize()  # cocotbext-axi collapses a constant tuser to one int
                assert list(rx.tdata) == want_data[k], \
                    f"m{k} tdata mismatch: got {list(rx.tdata)} want {want_data[k]}"
                assert list(rx.tuser) == want_user[k], \
                    f"m{k} tuser mismatch: got {list(rx.tuser)} want {want_user[k]}"
    await ClockCycles(dut.clk, 5)
    for k, sink in enumerate(sinks):
        assert sink.empty(), f"m{k} produced beats that were never sent"
    assert int(dut.m0_axis_tvalid.value) == 0
    assert int(dut.m1_axis_tvalid.value) == 0


@cocotb.test()
async def one_branch_stalled(dut):
    """With m1 stalled, m0 gets at most one beat; releasing m1 delivers everything to both."""
    dw, uw, source, sinks = await _setup(dut)
    sinks[1].pause = True
    n = 10
    data = [i % (1 << dw) for i in range(n)]
    await source.send(AxiStreamFrame(data, tuser=[0] * n))
    await ClockCycles(dut.clk, 4 * n)
    assert int(dut.s_axis_tready.value) == 0, "input ready although branch 1 is full and stalled"
    assert int(dut.m0_axis_tvalid.value) == 0, "branch 0 should have drained its one beat"
    assert int(dut.m1_axis_tvalid.value) == 1
    sinks[1].pause = False
    for k, sink in enumerate(sinks):
        rx = await sink.recv()
        assert list(rx.tdata) == data, f"m{k}: got {list(rx.tdata)} want {data}"
    await ClockCycles(dut.clk, 2)
