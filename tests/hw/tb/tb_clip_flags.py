"""cocotb testbench for clip_flags: sizes come from the DUT's parameters.

Golden model (golden_clip_flags.ClipFlagsModel): every cycle, op_tuser / op_tlast / overflow
of the RTL equal the model's, driven by the same random input beats (random tuser on every
beat, only a frame's first beat counts) and random op beats. The op never runs ahead of the
input: it may take a beat of frame f only once frame f started at the input in an earlier cycle.
End to end, independent of the cycle model: the op's tuser on the first beat of its frame f is
the tuser of the first input beat of frame f, for every frame before the first lost flag.
"""

import random

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

import axis_tb as tb

from golden_clip_flags import ClipFlagsModel


class Bench:
    def __init__(self, dut):
        self.dut = dut
        self.inb = int(dut.IN_FRAME_BEATS.value)
        self.opb = int(dut.OP_FRAME_BEATS.value)
        self.depth = 1 << int(dut.DEPTH_LOG2.value)
        self.stream_bits = int(dut.STREAM_BITS.value)   # 0: no stream ids (op_tdest stays 0)
        self.rng = random.Random(cocotb.RANDOM_SEED + 7)  # random in_tdest on every beat
        self.streams_checked = 0
        self.model = ClipFlagsModel(self.inb, self.opb, self.depth)
        self.cycle = 0
        self.full_push_pop = 0      # cycles with `depth` frames in flight, one in and one out
        self.clear()

    def clear(self):
        self.in_beats = 0
        self.op_beats = 0
        self.in_flags: list[int] = []     # tuser of each input frame's first beat
        self.op_flags: list[int] = []     # op_tuser on the first beat of each op frame
        self.first_lost: int | None = None  # input frame index of the first flag lost

    @property
    def in_frames(self) -> int:           # frames started at the input
        return -(-self.in_beats // self.inb)

    @property
    def op_frames_done(self) -> int:
        return self.op_beats // self.opb

    def op_may_beat(self) -> bool:
        """The op's next beat belongs to a frame that started at the input in an earlier cycle."""
        return self.in_frames > self.op_beats // self.opb

    async def reset(self):
        dut = self.dut
        dut.in_beat.value = 0
        dut.in_tuser.value = 0
        dut.op_beat.value = 0
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        self.model.reset()
        self.clear()

    async def cycle_with(self, in_beat: bool, in_tuser: bool, op_beat: bool):
        """One clock cycle: drive the handshakes, compare the outputs with the model, clock."""
        dut, m = self.dut, self.model
        dut.in_beat.value = int(in_beat)
        dut.in_tuser.value = int(in_tuser)
        dut.op_beat.value = int(op_beat)
        in_tdest = self.rng.getrandbits(self.stream_bits) if self.stream_bits else 0
        dut.in_tdest.value = in_tdest
        await ReadOnly()
        got = (int(dut.op_tuser.value), int(dut.op_tlast.value), int(dut.overflow.value))
        want = (int(m.op_tuser), int(m.op_tlast), int(m.overflow))
        assert int(dut.op_tdest.value) == m.op_tdest, (
            f"cycle {self.cycle}: op_tdest {int(dut.op_tdest.value)}, model {m.op_tdest}")
        self.streams_checked += bool(m.queue) and m.op_tdest != 0
        assert got == want, (
            f"cycle {self.cycle}: (op_tuser, op_tlast, overflow) = {got}, model {want}; "
            f"in frames {self.in_frames}, op beats {self.op_beats}, in flight {m.in_flight}")
        frame_start = in_beat and self.in_beats % self.inb == 0
        if frame_start:
            self.in_flags.append(int(in_tuser))
            if m.would_overflow(in_beat, op_beat) and self.first_lost is None:
                self.first_lost = len(self.in_flags) - 1
            if m.in_flight == self.depth and op_beat and m.op_tlast:
                self.full_push_pop += 1
        if op_beat and self.op_beats % self.opb == 0:
            self.op_flags.append(got[0])
        await RisingEdge(dut.clk)
        m.step(in_beat, in_tuser, op_beat, in_tdest)
        self.in_beats += int(in_beat)
        self.op_beats += int(op_beat)
        self.cycle += 1
        return got

    async def idle(self):
        """A cycle without handshakes (changes nothing); returns the outputs seen in it."""
        return await self.cycle_with(False, False, False)

    def p_op(self, p_in: float, speed: float) -> float:
        """Op beat probability for frames to finish at the op ``speed`` times as fast as they
        start at the input (whatever the two frame lengths)."""
        return min(1.0, speed * p_in * self.opb / self.inb)

    async def random_cycle(self, rng, p_in: float, p_op: float, p_tuser: float, limit: bool):
        """Random handshakes; with ``limit`` a frame starts at the input only while fewer than
        ``depth`` frames are in flight, or exactly ``depth`` and the op finishes one this cycle."""
        op_beat = self.op_may_beat() and rng.random() < p_op
        in_beat = rng.random() < p_in
        if limit and in_beat and self.in_beats % self.inb == 0:
            in_flight = self.in_frames - self.op_frames_done
            finishing = op_beat and self.op_beats % self.opb == self.opb - 1
            in_beat = in_flight < self.depth or (in_flight == self.depth and finishing)
        return await self.cycle_with(in_beat, rng.random() < p_tuser, op_beat)

    def check_flags_end_to_end(self):
        n = len(self.op_flags)
        if self.first_lost is not None:
            n = min(n, self.first_lost)
        assert self.op_flags[:n] == self.in_flags[:n], (
            f"op frame flags {self.op_flags[:n]} != input frame flags {self.in_flags[:n]}")
        return n


async def _setup(dut) -> Bench:
    bench = Bench(dut)
    dut.in_beat.value = 0
    dut.in_tuser.value = 0
    dut.op_beat.value = 0
    await tb.clock_and_reset(dut)
    return bench


@cocotb.test()
async def random_traffic_no_overflow(dut):
    """Random input and op beats, frames in flight kept within the FIFO depth: every cycle equals
    the model, every op frame gets its input frame's flag, overflow never rises."""
    bench = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    checked = 0
    # (p_in, op speed relative to the input in frames, p_tuser)
    for p_in, speed, p_tuser in [(1.0, 1.0, 0.5), (0.9, 0.3, 0.5), (0.3, 3.0, 0.5),
                                 (0.6, 1.0, 0.2), (1.0, 0.5, 0.8), (0.5, 2.0, 0.5),
                                 (0.95, 0.7, 0.5), (0.8, 0.1, 0.5)]:
        p_op = bench.p_op(p_in, speed)
        for _ in range(500):
            await bench.random_cycle(rng, p_in, p_op, p_tuser, limit=True)
        if rng.random() < 0.5:   # drain the op, then reset with an empty queue or mid-traffic
            while bench.op_may_beat():
                await bench.cycle_with(False, False, True)
        assert (await bench.idle())[2] == 0, "overflow without a lost flag"
        assert bench.first_lost is None
        checked += bench.check_flags_end_to_end()
        await bench.reset()
    dut._log.info("%d op frames checked, %d cycles with a frame in and one out at a full queue",
                  checked, bench.full_push_pop)
    assert checked > 50, f"only {checked} op frames checked"
    assert bench.full_push_pop > 0, "never started a frame at a full queue while one left it"
    if bench.stream_bits:
        assert bench.streams_checked > 100, f"only {bench.streams_checked} cycles with a stream id checked"


@cocotb.test()
async def random_traffic_overflow(dut):
    """The input runs ahead of a slow op without limit: every cycle equals the model, so
    overflow rises exactly in the cycle after the edge that drops a flag, stays up, and a
    reset clears it; flags before the first lost one are still right."""
    bench = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    rounds_with_overflow = 0
    for rnd in range(8):
        p_in = rng.uniform(0.5, 1.0)
        # a slow op overflows the queue; a fast one (every fourth round) may never
        p_op = bench.p_op(p_in, rng.uniform(0.1, 0.8) if rnd % 4 else 2.0)
        rose_at = None
        lost_at = None          # cycle whose edge dropped the first flag
        was = 0
        for _ in range(300):
            before = bench.model.lost
            now = (await bench.random_cycle(rng, p_in, p_op, 0.5, limit=False))[2]
            assert now >= was, "overflow is not sticky"
            if now and rose_at is None:
                rose_at = bench.cycle - 1   # seen in this cycle, so set by the previous edge
            if bench.model.lost > before and lost_at is None:
                lost_at = bench.cycle - 1
            was = now
            if rose_at is not None and bench.cycle > rose_at + 20:
                break
        if lost_at is not None and rose_at is None:
            c = bench.cycle
            rose_at = c if (await bench.idle())[2] else None
        assert rose_at == (None if lost_at is None else lost_at + 1), (rose_at, lost_at)
        rounds_with_overflow += rose_at is not None
        bench.check_flags_end_to_end()
        await bench.reset()
        assert (await bench.idle())[2] == 0, "reset does not clear overflow"
    dut._log.info("overflow in %d of 8 rounds", rounds_with_overflow)
    assert rounds_with_overflow >= 3, f"overflow rose in only {rounds_with_overflow} of 8 rounds"


@cocotb.test()
async def overflow_boundary(dut):
    """Directed: `depth` frames in flight is no overflow; one more frame start in the cycle the
    op finishes a frame is no overflow; one more frame start without the op finishing is."""
    bench = await _setup(dut)
    inb, opb, depth = bench.inb, bench.opb, bench.depth
    flags = [(k % 3) == 0 for k in range(depth + 2)]
    for f in range(depth):                       # fill: depth frames in flight
        for b in range(inb):
            await bench.cycle_with(True, flags[f] if b == 0 else not flags[f], False)
    for b in range(opb - 1):                     # the op takes all but the last beat of frame 0
        await bench.cycle_with(False, False, True)
    _, tlast, overflow = await bench.idle()
    assert overflow == 0, f"overflow with {depth} frames in flight"
    assert tlast == 1
    await bench.cycle_with(True, flags[depth], True)   # frame depth in, frame 0 out: still fits
    for b in range(1, inb):
        await bench.cycle_with(True, False, False)
    assert (await bench.idle())[2] == 0, "overflow although a frame left as one arrived"
    await bench.cycle_with(True, flags[depth + 1], False)  # depth + 1 in flight: the flag is lost
    assert (await bench.idle())[2] == 1, f"no overflow with {depth + 1} frames in flight"
    assert bench.op_flags == [int(flags[0])]
    # the frames that fitted still carry their own flags
    while bench.op_frames_done < depth + 1:
        await bench.cycle_with(False, False, True)
    bench.check_flags_end_to_end()
    assert len(bench.op_flags) == depth + 1
