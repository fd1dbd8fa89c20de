"""Shared cocotb testbench plumbing for our AXI-Stream modules (clock, reset, sources, sinks)."""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource


def random_pause(rng: random.Random, p_pause: float):
    """Pause generator for cocotbext-axi: pause each cycle with probability ``p_pause``."""
    while True:
        yield rng.random() < p_pause


def source(dut, prefix: str = "s_axis") -> AxiStreamSource:
    return AxiStreamSource(AxiStreamBus.from_prefix(dut, prefix), dut.clk, dut.rst, byte_lanes=1)


def sink(dut, prefix: str = "m_axis") -> AxiStreamSink:
    return AxiStreamSink(AxiStreamBus.from_prefix(dut, prefix), dut.clk, dut.rst, byte_lanes=1)


async def clock_and_reset(dut) -> None:
    """Start a 100 MHz clock on ``clk`` and hold the synchronous ``rst`` for three cycles."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)


class HandshakeMonitor:
    """Cycle numbers of every ``s_axis`` and ``m_axis`` handshake (sampled in ReadOnly before
    each rising edge), for latency and throughput checks."""

    def __init__(self, dut):
        self.dut = dut
        self.cycle = 0
        self.in_cycles: list[int] = []
        self.out_cycles: list[int] = []
        self.task = cocotb.start_soon(self._run())

    async def _run(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            self.cycle += 1
            if int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value):
                self.in_cycles.append(self.cycle)
            if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
                self.out_cycles.append(self.cycle)
