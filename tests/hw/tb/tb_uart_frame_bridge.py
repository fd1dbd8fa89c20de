"""cocotb testbench for uart_frame_bridge: a host UART model (8N1 at CLKS_PER_BIT) sends frames
(header byte + little-endian beats) and must see exactly those beats on m_axis (tuser on the first
beat of a clip-start frame) under random m_axis backpressure; beats offered on s_axis must come
back on txd as little-endian bytes, none lost, under random s_axis valid gaps."""

import random

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge, Timer

import axis_tb as tb


def _p(dut):
    return {k: int(getattr(dut, k).value) for k in ("CLKS_PER_BIT", "IN_W", "IN_BEATS", "OUT_W")}


async def uart_send(dut, data: bytes, cpb: int, rng: random.Random):
    for byte in data:
        bits = [0] + [(byte >> i) & 1 for i in range(8)] + [1]
        for b in bits:
            dut.rxd.value = b
            await ClockCycles(dut.clk, cpb)
        if rng.random() < 0.3:   # idle gaps between bytes
            await ClockCycles(dut.clk, rng.randrange(1, 3 * cpb))


async def uart_recv(dut, n: int, cpb: int) -> list[int]:
    out = []
    for _ in range(n):
        while int(dut.txd.value) == 1:
            await RisingEdge(dut.clk)
        await ClockCycles(dut.clk, cpb // 2)      # middle of the start bit
        assert int(dut.txd.value) == 0, "start bit glitch"
        v = 0
        for i in range(8):
            await ClockCycles(dut.clk, cpb)
            v |= int(dut.txd.value) << i
        await ClockCycles(dut.clk, cpb)
        assert int(dut.txd.value) == 1, "stop bit missing"
        out.append(v)
    return out


async def _start(dut):
    dut.rxd.value = 1
    dut.m_axis_tready.value = 0
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    await tb.clock_and_reset(dut)


@cocotb.test()
async def frames_in(dut):
    p = _p(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    await _start(dut)
    nbytes = (p["IN_W"] + 7) // 8
    frames = [([rng.randrange(1 << p["IN_W"]) for _ in range(p["IN_BEATS"])], rng.random() < 0.5) for _ in range(4)]
    stream = bytearray()
    for beats, start in frames:
        stream.append(1 if start else 0)
        for v in beats:
            stream += v.to_bytes(nbytes, "little")
    got = []

    async def consumer():
        # tready set mid-cycle; the beat seen then is the handshake of the next rising edge
        while True:
            await FallingEdge(dut.clk)
            ready = int(rng.random() < 0.7)
            dut.m_axis_tready.value = ready
            await ReadOnly()
            if int(dut.m_axis_tvalid.value) and ready:
                got.append((int(dut.m_axis_tdata.value), int(dut.m_axis_tuser.value)))

    task = cocotb.start_soon(consumer())
    await uart_send(dut, bytes(stream), p["CLKS_PER_BIT"], rng)
    await ClockCycles(dut.clk, 4 * p["CLKS_PER_BIT"])
    task.cancel()
    want = [(v, int(start and i == 0)) for beats, start in frames for i, v in enumerate(beats)]
    assert got == want, f"beats {got} != {want}"
    assert int(dut.overrun.value) == 0


@cocotb.test()
async def results_out(dut):
    p = _p(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    await _start(dut)
    nbytes = (p["OUT_W"] + 7) // 8
    beats = [rng.randrange(1 << p["OUT_W"]) for _ in range(6)]
    rx = cocotb.start_soon(uart_recv(dut, len(beats) * nbytes, p["CLKS_PER_BIT"]))
    for v in beats:
        await FallingEdge(dut.clk)
        while rng.random() < 0.3:
            await ClockCycles(dut.clk, 1)
            await FallingEdge(dut.clk)
        dut.s_axis_tdata.value = v
        dut.s_axis_tvalid.value = 1
        while True:   # tready sampled mid-cycle: the handshake happens at the next rising edge
            await ReadOnly()
            taken = int(dut.s_axis_tready.value)
            await RisingEdge(dut.clk)
            if taken:
                break
            await FallingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.s_axis_tvalid.value = 0
    data = await rx
    got = [int.from_bytes(bytes(data[i * nbytes:(i + 1) * nbytes]), "little") for i in range(len(beats))]
    assert got == beats, f"{got} != {beats}"
    await Timer(1, "ns")
