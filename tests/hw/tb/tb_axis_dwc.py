"""cocotb testbench for axis_dwc (lane-granular AXI-Stream width converter): sizes from the DUT.

Golden: the stream is a sequence of lanes; input beats are IN_LANES consecutive lanes and output
beats OUT_LANES consecutive lanes, lane 0 of a beat in the lowest LANE_BITS bits. Every test sends a
multiple of lcm(IN_LANES, OUT_LANES) lanes (the module does no partial flush).
"""

import math
import random

import cocotb
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

import axis_tb as tb


class Cfg:
    def __init__(self, dut):
        self.lb = int(dut.LANE_BITS.value)
        self.n_in = int(dut.IN_LANES.value)
        self.n_out = int(dut.OUT_LANES.value)
        self.lcm = math.lcm(self.n_in, self.n_out)


def pack(lanes, bits):
    word = 0
    for i, v in enumerate(lanes):
        word |= v << (i * bits)
    return word


def beats(lanes, per_beat, bits):
    assert len(lanes) % per_beat == 0
    return [pack(lanes[i:i + per_beat], bits) for i in range(0, len(lanes), per_beat)]


def random_lanes(rng, cfg, n_lcm):
    hi = (1 << cfg.lb) - 1
    return [rng.choice([0, hi]) if rng.random() < 0.1 else rng.randint(0, hi)
            for _ in range(n_lcm * cfg.lcm)]


async def _setup(dut):
    cfg = Cfg(dut)
    dut._log.info("axis_dwc: %d x %d bits -> %d x %d bits", cfg.n_in, cfg.lb, cfg.n_out, cfg.lb)
    source = tb.source(dut, "s_axis")
    sink = tb.sink(dut, "m_axis")
    await tb.clock_and_reset(dut)
    return cfg, source, sink



async def _run(cfg, source, sink, lanes):
    tx = beats(lanes, cfg.n_in, cfg.lb)
    want = beats(lanes, cfg.n_out, cfg.lb)
    await source.send(AxiStreamFrame(tx))
    got = []
    for _ in range(len(want)):
        got += list((await sink.recv()).tdata)
    if got != want:
        bad = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
        raise AssertionError(f"output beat {bad} of {len(want)}: got {got[bad]:#x} want {want[bad]:#x}")
    return len(tx), len(want)


@cocotb.test()
async def random_traffic_with_backpressure(dut):
    """Random lanes under independent random input pauses and output backpressure."""
    cfg, source, sink = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    mon = tb.HandshakeMonitor(dut)
    n_tx = n_rx = 0
    n_lcm = max(2, 240 // cfg.lcm)
    for p_in, p_out in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (0.3, 0.5), (0.8, 0.2), (0.1, 0.9),
                        (0.6, 0.6)]:
        source.set_pause_generator(tb.random_pause(rng, p_in))
        sink.set_pause_generator(tb.random_pause(rng, p_out))
        a, b = await _run(cfg, source, sink, random_lanes(rng, cfg, n_lcm))
        n_tx, n_rx = n_tx + a, n_rx + b
    await ClockCycles(dut.clk, 5)
    mon.task.cancel()
    assert sink.empty(), "axis_dwc produced beats that were never expected"
    assert int(dut.m_axis_tvalid.value) == 0
    assert (len(mon.in_cycles), len(mon.out_cycles)) == (n_tx, n_rx)


@cocotb.test()
async def extremes_and_long_stall(dut):
    """All-ones / all-zero / one-hot lanes; output stalled until the input backs up, then released."""
    cfg, source, sink = await _setup(dut)
    hi = (1 << cfg.lb) - 1
    lanes = [hi] * cfg.lcm + [0] * cfg.lcm + [(1 << (i % cfg.lb)) for i in range(2 * cfg.lcm)]
    mon = tb.HandshakeMonitor(dut)
    sink.pause = True
    tx = beats(lanes, cfg.n_in, cfg.lb)
    want = beats(lanes, cfg.n_out, cfg.lb)
    await source.send(AxiStreamFrame(tx))
    await ClockCycles(dut.clk, len(tx) + 10)
    # the buffer holds IN_LANES + OUT_LANES - 1 lanes: the input backs up once it is full
    accepted = len(mon.in_cycles)
    assert int(dut.m_axis_tvalid.value) == 1
    assert accepted * cfg.n_in <= cfg.n_in + cfg.n_out - 1
    assert accepted >= min(len(tx), math.ceil(cfg.n_out / cfg.n_in))
    sink.pause = False
    got = []
    for _ in range(len(want)):
        got += list((await sink.recv()).tdata)
    assert got == want
    await ClockCycles(dut.clk, 3)
    mon.task.cancel()
    assert sink.empty()


@cocotb.test()
async def throughput_and_latency_no_stall(dut):
    """No pauses: narrowing (or equal) gives one output beat per cycle, widening one input beat
    per cycle; every output beat leaves one cycle after the input beat that completes it (or one
    cycle after the previous output beat)."""
    cfg, source, sink = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    mon = tb.HandshakeMonitor(dut)
    n_lcm = max(4, 200 // cfg.lcm)
    n_tx, n_rx = await _run(cfg, source, sink, random_lanes(rng, cfg, n_lcm))
    await ClockCycles(dut.clk, 3)
    mon.task.cancel()
    ins, outs = mon.in_cycles, mon.out_cycles
    assert (len(ins), len(outs)) == (n_tx, n_rx)
    span = outs[-1] - outs[0] + 1
    dut._log.info("axis_dwc %d->%d: %d output beats in %d cycles (%.3f cycles/beat), "
                  "%d input beats in %d cycles", cfg.n_in, cfg.n_out, n_rx, span, span / n_rx,
                  n_tx, ins[-1] - ins[0] + 1)
    if cfg.n_in >= cfg.n_out:
        assert span == n_rx, f"output not back to back: {n_rx} beats over {span} cycles"
    if cfg.n_in <= cfg.n_out:
        assert ins[-1] - ins[0] + 1 == n_tx, "input not accepted back to back"
    # exact timing: beat j needs lanes up to (j+1)*OUT-1, i.e. input beat ceil((j+1)*OUT/IN)-1
    prev = -1
    for j, o in enumerate(outs):
        done = ins[-(-(j + 1) * cfg.n_out // cfg.n_in) - 1]
        want = max(done + 1, prev + 1)
        assert o == want, f"output beat {j} at cycle {o}, want {want} (completed by input at {done})"
        prev = o
