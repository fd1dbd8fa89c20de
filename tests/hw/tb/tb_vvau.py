"""cocotb testbench for vvau: sizes come from the DUT's parameters, weights / thresholds / the
golden parameter set from the .npz named by $VVAU_CASE (written by tests/hw/test_vvau_rtl.py
together with the hex files the DUT was built with).

Golden model: golden_vvau (FINN VVAU semantics, checked against finn-plus' execute_node).
"""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

import axis_tb as tb

import golden_vvau as golden

from tsmfpga.hw.ops.vvau import vvau_latency  # the analytical latency the RTL must equal


async def _setup(dut):
    p, w, t = golden.load_case(os.environ["VVAU_CASE"])
    got = {name: int(getattr(dut, name).value) for name in
           ("CHANNELS", "PE", "KERNEL", "IN_BITS", "IN_SIGNED", "W_BITS", "W_SIGNED", "ACC_BITS",
            "NSTEPS", "T_BITS", "OUT_BITS")}
    got["ACT_VAL"] = int(dut.ACT_VAL.value)
    if got["ACT_VAL"] >= 1 << 31:  # some simulators hand back the 32-bit pattern unsigned
        got["ACT_VAL"] -= 1 << 32
    want = {k: v for k, v in p.rtl_parameters("", "").items() if not isinstance(v, str)}
    assert got == want, f"DUT parameters {got} != case {want}"
    source = tb.source(dut, "s_axis")
    sink = tb.sink(dut, "m_axis")
    await tb.clock_and_reset(dut)
    return p, w, t, source, sink


async def _run_windows(p, w, t, source, sink, x, what=""):
    """Send the windows x (N, CHANNELS, KERNEL) as one burst, receive N*NF beats, compare."""
    want = golden.expected(p, x, w, t)
    await source.send(AxiStreamFrame(golden.input_beats(p, x)))
    beats = []
    for _ in range(len(x) * p.nf):
        rx = await sink.recv()
        beats += list(rx.tdata)
    got = golden.beats_to_outputs(p, beats)
    bad = np.argwhere(got != want)
    assert bad.size == 0, (
        f"{what}: {len(bad)} mismatches, first at window {bad[0][0]} channel {bad[0][1]}: "
        f"got {got[bad[0][0]].tolist()} want {want[bad[0][0]].tolist()} "
        f"acc {golden.accumulate(p, x[bad[0][0]:bad[0][0] + 1], w)[0].tolist()}")


@cocotb.test()
async def extremes(dut):
    """Windows at max / min / zero / alternating against the all-max and all-min weight channels:
    the accumulator reaches both ends of its range (checked), thresholds at the ends."""
    p, w, t, source, sink = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    x = golden.extreme_windows(p)
    acc = golden.accumulate(p, x, w)
    assert acc.min() == p.acc_range[0] and acc.max() == p.acc_range[1], \
        f"extreme windows reach {acc.min()}..{acc.max()}, range {p.acc_range}"
    await _run_windows(p, w, t, source, sink, x, "extremes, no pauses")
    mix = np.concatenate([x, golden.random_windows(p, np.random.default_rng(rng.getrandbits(32)), 4), x])
    source.set_pause_generator(tb.random_pause(rng, 0.4))
    sink.set_pause_generator(tb.random_pause(rng, 0.5))
    await _run_windows(p, w, t, source, sink, mix, "extremes, random pauses")
    await ClockCycles(dut.clk, 8)
    assert sink.empty(), "vvau produced beats that were never expected"


@cocotb.test()
async def random_traffic_with_backpressure(dut):
    """Random windows, independent random input pauses and output backpressure: output == golden,
    every input beat consumed once."""
    p, w, t, source, sink = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    nrng = np.random.default_rng(rng.getrandbits(32))
    mon = tb.HandshakeMonitor(dut)
    n_total, n = 0, golden.windows_per_batch(p)
    for p_in, p_out in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (0.3, 0.6), (0.8, 0.2), (0.1, 0.95)]:
        source.set_pause_generator(tb.random_pause(rng, p_in))
        sink.set_pause_generator(tb.random_pause(rng, p_out))
        await _run_windows(p, w, t, source, sink, golden.random_windows(p, nrng, n),
                           f"pauses in {p_in} out {p_out}")
        n_total += n
    await ClockCycles(dut.clk, 8)
    mon.task.cancel()
    assert sink.empty(), "vvau produced beats that were never expected"
    assert int(dut.m_axis_tvalid.value) == 0
    assert len(mon.in_cycles) == n_total * p.nf * p.kernel
    assert len(mon.out_cycles) == n_total * p.nf
    dut._log.info("vvau: %d windows with random pauses OK", n_total)


@cocotb.test()
async def latency_and_throughput(dut):
    """No pauses: every output beat comes a fixed KERNEL + 4 cycles after its window's first input
    beat (= the owner's analytical vvau_latency), one beat per cycle in, NF*KERNEL cycles per pixel."""
    p, w, t, source, sink = await _setup(dut)
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    mon = tb.HandshakeMonitor(dut)
    n = min(12, golden.windows_per_batch(p, lo=6))
    await _run_windows(p, w, t, source, sink, golden.random_windows(p, rng, n), "back to back")
    await ClockCycles(dut.clk, 8)
    mon.task.cancel()
    beats = n * p.nf * p.kernel
    assert len(mon.in_cycles) == beats and len(mon.out_cycles) == n * p.nf
    assert np.all(np.diff(mon.in_cycles) == 1), "input beats not back to back"
    first_in = mon.in_cycles[::p.kernel]      # first beat of every (pixel, channel group) window
    lat = [o - i for i, o in zip(first_in, mon.out_cycles)]
    dut._log.info("vvau latency (window's first input beat -> its output beat): %s cycles", sorted(set(lat)))
    assert max(lat) == min(lat), f"latency varies: {lat}"
    want = vvau_latency(p.kernel)
    assert lat[0] == want, f"latency {lat[0]}, expected vvau_latency(KERNEL={p.kernel}) = {want}"
    assert np.all(np.diff(mon.out_cycles) == p.kernel), "output beats not KERNEL cycles apart"
