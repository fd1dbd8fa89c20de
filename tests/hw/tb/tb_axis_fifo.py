"""cocotb testbench for axis_fifo: sizes come from the DUT's parameters.

Golden model: a FIFO passes every beat (tdata, tuser, tlast) through unchanged and in order,
so the expected output is the input stream itself.
"""

import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamFrame

import axis_tb as tb


async def _setup(dut):
    dw = int(dut.DATA_WIDTH.value)
    uw = int(dut.USER_WIDTH.value)
    aw = int(dut.ADDR_WIDTH.value)
    source = tb.source(dut, "s_axis")
    sink = tb.sink(dut, "m_axis")
    await tb.clock_and_reset(dut)
    return dw, uw, aw, source, sink


@cocotb.test()
async def random_traffic_with_backpressure(dut):
    """Random frames, random valid and ready pauses: output == input, beat for beat."""
    dw, uw, aw, source, sink = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    for p_in, p_out in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (0.3, 0.6), (0.8, 0.2)]:
        source.set_pause_generator(tb.random_pause(rng, p_in))
        sink.set_pause_generator(tb.random_pause(rng, p_out))
        frames = []
        for _ in range(12):
            n = rng.randint(1, 3 * (1 << aw))
            data = [rng.getrandbits(dw) for _ in range(n)]
            # exercise both extremes of tdata too
            if rng.random() < 0.3:
                data[0] = (1 << dw) - 1
                data[-1] = 0
            user = [rng.getrandbits(uw) for _ in range(n)]
            frames.append((data, user))
            await source.send(AxiStreamFrame(data, tuser=user))
        for data, user in frames:
            rx = await sink.recv()
            rx.normalize()  # cocotbext-axi collapses a constant tuser to one int
            assert list(rx.tdata) == data, f"tdata mismatch: got {list(rx.tdata)} want {data}"
            assert list(rx.tuser) == user, f"tuser mismatch: got {list(rx.tuser)} want {user}"
    await ClockCycles(dut.clk, 5)
    assert sink.empty(), "FIFO produced beats that were never sent"
    assert int(dut.m_axis_tvalid.value) == 0


@cocotb.test()
async def capacity_and_stall(dut):
    """With the sink stalled the FIFO takes exactly 2**ADDR_WIDTH + 1 beats, then stops."""
    dw, uw, aw, source, sink = await _setup(dut)
    sink.pause = True
    capacity = (1 << aw) + 1
    n = capacity + 4
    data = [i % (1 << dw) for i in range(n)]
    handshakes = []

    async def count_input_handshakes():
        while True:
            await RisingEdge(dut.clk)
            if int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value):
                handshakes.append(1)

    monitor = cocotb.start_soon(count_input_handshakes())
    await source.send(AxiStreamFrame(data, tuser=[0] * n))
    await ClockCycles(dut.clk, 4 * n)
    assert int(dut.s_axis_tready.value) == 0, "FIFO still ready although it should be full"
    assert len(handshakes) == capacity, f"accepted {len(handshakes)} beats, capacity {capacity}"
    monitor.cancel()
    sink.pause = False
    rx = await sink.recv()
    assert list(rx.tdata) == data
    await RisingEdge(dut.clk)
