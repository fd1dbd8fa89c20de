"""cocotb testbench for temporal_shift with STREAMS > 1: sizes come from the DUT's parameters.

Whole frames of random streams in random order (the beats of a frame stay together), a random
clip start per stream (tuser on the frame's first beat), tdest = the stream id on the first beat
and random junk on the others (only the first beat's tdest counts), random valid/ready pauses.
Golden: :class:`golden_temporal_shift.MultiStreamReference` (per-stream previous frame); every
output frame must equal it, carry its stream on m_axis_tdest and its tuser unchanged.
"""

import random

import cocotb
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

import axis_tb as tb
from golden_temporal_shift import MultiStreamReference
from tb_temporal_shift import Params, random_frame


async def _setup(dut):
    p = Params(int(dut.CHANNELS.value), int(dut.SHIFT_CHANNELS.value), int(dut.PE.value),
               int(dut.PIXELS.value), int(dut.DATA_BITS.value))
    streams = int(dut.STREAMS.value)
    source, sink = tb.source(dut, "s_axis"), tb.sink(dut, "m_axis")
    await tb.clock_and_reset(dut)
    return p, streams, source, sink


def schedule(p: Params, streams: int, rng: random.Random, n_frames: int, p_clip: float):
    """(stream, beats, tuser list, tdest list) per frame: random stream order, a clip start with
    probability ``p_clip`` per frame (a stream's first frame after reset needs none: reset clears
    every stream)."""
    tdest_bits = max(1, (streams - 1).bit_length())
    frames = []
    for _ in range(n_frames):
        s = rng.randrange(streams)
        beats = random_frame(p, rng)
        user = [0] * len(beats)
        user[0] = int(rng.random() < p_clip)
        dest = [s] + [rng.getrandbits(tdest_bits) for _ in beats[1:]]
        frames.append((s, beats, user, dest))
    return frames


async def _run(dut, p, source, sink, golden, frames):
    want = [golden.frame(s, beats, bool(user[0])) for s, beats, user, _ in frames]
    for _, beats, user, dest in frames:
        await source.send(AxiStreamFrame(beats, tuser=user, tdest=dest))
    for n, ((s, beats, user, _), exp) in enumerate(zip(frames, want)):
        rx = await sink.recv()
        rx.normalize()
        got = list(rx.tdata)
        assert got == exp, f"frame {n} (stream {s}): tdata mismatch:\n got  {got}\n want {exp}\n in   {beats}"
        assert list(rx.tdest) == [s] * len(got), f"frame {n}: m_axis_tdest {list(rx.tdest)}, want stream {s}"
        assert list(rx.tuser) == user, f"frame {n}: tuser {list(rx.tuser)} want {user}"


@cocotb.test()
async def interleaved_streams_random_backpressure(dut):
    """Random stream order and clip starts under random valid/ready: every frame == its stream's golden."""
    p, streams, source, sink = await _setup(dut)
    golden = MultiStreamReference(p.c, p.k, p.pe)
    rng = random.Random(cocotb.RANDOM_SEED)
    used = set()
    shifted_from_prev = 0
    for p_in, p_out, p_clip in [(0.0, 0.0, 0.2), (0.5, 0.0, 0.3), (0.0, 0.7, 0.1), (0.3, 0.6, 0.4), (0.8, 0.2, 0.2)]:
        source.set_pause_generator(tb.random_pause(rng, p_in))
        sink.set_pause_generator(tb.random_pause(rng, p_out))
        frames = schedule(p, streams, rng, 4 * streams, p_clip)
        used |= {f[0] for f in frames}
        shifted_from_prev += sum(1 for s, _, u, _ in frames if not u[0] and s in golden.prev)
        await _run(dut, p, source, sink, golden, frames)
    await ClockCycles(dut.clk, 5)
    assert sink.empty(), "DUT produced beats that were never sent"
    assert used == set(range(streams)), f"streams never exercised: {set(range(streams)) - used}"
    assert shifted_from_prev > 4 * streams, f"only {shifted_from_prev} frames continued a stream's clip"


@cocotb.test()
async def interleaved_full_throughput_fixed_latency(dut):
    """No pauses, streams interleaved frame by frame: one beat per cycle, latency 1 for every frame
    whichever stream came before."""
    p, streams, source, sink = await _setup(dut)
    golden = MultiStreamReference(p.c, p.k, p.pe)
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    mon = tb.HandshakeMonitor(dut)
    frames = schedule(p, streams, rng, 3 * streams, 0.2)
    await _run(dut, p, source, sink, golden, frames)
    await ClockCycles(dut.clk, 5)
    mon.task.cancel()
    bpf = p.beats_per_frame
    assert len(mon.in_cycles) == len(mon.out_cycles) == len(frames) * bpf
    lat = [mon.out_cycles[i] - mon.in_cycles[i] for i in range(0, len(frames) * bpf, bpf)]
    assert set(lat) == {1}, f"first-beat latency per frame: {lat}"
    assert mon.in_cycles[-1] - mon.in_cycles[0] == len(mon.in_cycles) - 1, "input not back to back"
