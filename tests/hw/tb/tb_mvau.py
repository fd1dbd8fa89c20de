"""cocotb testbench for mvau: sizes come from the DUT's parameters, weights / thresholds / the
golden parameter set from the .npz named by $MVAU_CASE (written by tests/hw/test_mvau_rtl.py
together with the hex files the DUT was built with).

Golden model: golden_mvau (FINN MVAU semantics, checked against finn-plus' execute_node).
"""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

import axis_tb as tb

import golden_mvau as golden

from tsmfpga.hw.ops.mvau import mvau_latency  # the analytical latency the RTL must equal


async def _setup(dut):
    p, w, t = golden.load_case(os.environ["MVAU_CASE"])
    got = {name: int(getattr(dut, name).value) for name in
           ("MW", "MH", "SIMD", "PE", "IN_BITS", "IN_SIGNED", "W_BITS", "W_SIGNED", "BINARY_XNOR",
            "ACC_BITS", "NSTEPS", "T_BITS", "OUT_BITS", "DSP_LANES")}
    got["ACT_VAL"] = int(dut.ACT_VAL.value)
    if got["ACT_VAL"] >= 1 << 31:  # some simulators hand back the 32-bit pattern unsigned
        got["ACT_VAL"] -= 1 << 32
    want = {k: v for k, v in p.rtl_parameters("", "").items() if not isinstance(v, str)}
    assert got == want, f"DUT parameters {got} != case {want}"
    source = tb.source(dut, "s_axis")
    sink = tb.sink(dut, "m_axis")
    await tb.clock_and_reset(dut)
    return p, w, t, source, sink



async def _run_vectors(p, w, t, source, sink, x, what=""):
    """Send the vectors x (N, MW) as one burst, receive N*NF beats, compare with the golden."""
    want = golden.expected(p, x, w, t)
    await source.send(AxiStreamFrame(golden.input_beats(p, x)))
    beats = []
    for _ in range(len(x) * p.nf):
        rx = await sink.recv()
        beats += list(rx.tdata)
    got = golden.beats_to_outputs(p, beats)
    bad = np.argwhere(got != want)
    assert bad.size == 0, (
        f"{what}: {len(bad)} mismatches, first at vector {bad[0][0]} channel {bad[0][1]}: "
        f"got {got[bad[0][0]].tolist()} want {want[bad[0][0]].tolist()} "
        f"acc {golden.accumulate(p, x[bad[0][0]:bad[0][0] + 1], w)[0].tolist()}")
    return want


def _vectors_per_batch(p, budget_cycles=2500, lo=4, hi=40):
    return max(lo, min(hi, budget_cycles // (p.nf * p.sf)))


@cocotb.test()
async def extremes(dut):
    """All inputs at max / min / zero / alternating against the all-max and all-min weight
    channels: the accumulator reaches both ends of its range (checked), thresholds at the ends."""
    p, w, t, source, sink = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    x = golden.extreme_vectors(p)
    acc = golden.accumulate(p, x, w)
    assert acc.min() == p.acc_range[0] and acc.max() == p.acc_range[1], \
        f"extreme vectors reach {acc.min()}..{acc.max()}, range {p.acc_range}"
    await _run_vectors(p, w, t, source, sink, x, "extremes, no pauses")
    # again, interleaved with random vectors and under pauses on both sides
    mix = np.concatenate([x, golden.random_vectors(p, np.random.default_rng(rng.getrandbits(32)), 4), x])
    source.set_pause_generator(tb.random_pause(rng, 0.4))
    sink.set_pause_generator(tb.random_pause(rng, 0.5))
    await _run_vectors(p, w, t, source, sink, mix, "extremes, random pauses")
    await ClockCycles(dut.clk, 8)
    assert sink.empty(), "mvau produced beats that were never expected"


@cocotb.test()
async def random_traffic_with_backpressure(dut):
    """Random vectors, independent random input pauses and output backpressure: output == golden."""
    p, w, t, source, sink = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    nrng = np.random.default_rng(rng.getrandbits(32))
    mon = tb.HandshakeMonitor(dut)
    n_total = 0
    n = _vectors_per_batch(p)
    for p_in, p_out in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (0.3, 0.6), (0.8, 0.2), (0.1, 0.9)]:
        source.set_pause_generator(tb.random_pause(rng, p_in))
        sink.set_pause_generator(tb.random_pause(rng, p_out))
        x = golden.random_vectors(p, nrng, n)
        await _run_vectors(p, w, t, source, sink, x, f"pauses in {p_in} out {p_out}")
        n_total += n
    await ClockCycles(dut.clk, 8)
    mon.task.cancel()
    assert sink.empty(), "mvau produced beats that were never expected"
    assert int(dut.m_axis_tvalid.value) == 0
    assert len(mon.in_cycles) == n_total * p.sf, "input beats consumed != sent (vector read twice?)"
    assert len(mon.out_cycles) == n_total * p.nf
    dut._log.info("mvau: %d vectors with random pauses OK", n_total)


@cocotb.test()
async def latency_and_throughput(dut):
    """No pauses: fixed latency SF + 6 + TS, + 1 with DSP products (first input beat -> first output
    beat of each vector; TS = adder-tree register stages, hw/rtl/mvau.sv) = the owner's analytical
    mvau_latency,
    one vector every NF*SF cycles on both sides, output beats SF cycles apart."""
    p, w, t, source, sink = await _setup(dut)
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    mon = tb.HandshakeMonitor(dut)
    n = min(12, _vectors_per_batch(p, lo=6))
    x = golden.random_vectors(p, rng, n)
    await _run_vectors(p, w, t, source, sink, x, "back to back")
    await ClockCycles(dut.clk, 8)
    mon.task.cancel()
    ii = p.nf * p.sf
    assert len(mon.in_cycles) == n * p.sf and len(mon.out_cycles) == n * p.nf
    first_in = mon.in_cycles[::p.sf]
    first_out = mon.out_cycles[::p.nf]
    lat = [o - i for i, o in zip(first_in, first_out)]
    dut._log.info("mvau latency (first input beat -> first output beat): %s cycles, II %d", lat, ii)
    assert max(lat) == min(lat), f"latency varies across vectors: {lat}"
    want = mvau_latency(p.sf, p.simd, p.dsp_lanes, bool(int(dut.DSP_STAGE.value)))
    assert lat[0] == want, (f"latency {lat[0]}, expected mvau_latency(SF={p.sf}, SIMD={p.simd}, "
                            f"lanes={p.dsp_lanes}) = {want}")
    assert np.all(np.diff(first_in) == ii), f"input vector starts {first_in}, expected II {ii}"
    assert np.all(np.diff(first_out) == ii), f"output vector starts {first_out}, expected II {ii}"
    # within a vector: the SF input beats back to back, the NF output beats SF cycles apart
    for v in range(n):
        ins = mon.in_cycles[v * p.sf:(v + 1) * p.sf]
        outs = mon.out_cycles[v * p.nf:(v + 1) * p.nf]
        assert np.all(np.diff(ins) == 1), f"vector {v}: input beats at {ins}"
        assert np.all(np.diff(outs) == p.sf), f"vector {v}: output beats at {outs}"
