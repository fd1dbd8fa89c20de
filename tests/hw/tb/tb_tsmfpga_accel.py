"""cocotb testbench for tsmfpga_accel (+ tsmfpga_ctrl) around the fake top (fake_tsmfpga_top.sv).

The fake top sums each input frame and reports, in every output beat, whether s_axis_tuser was
set on the frame's first beat (bit OUT_W-1) and whether it was set on any other beat (bit
OUT_W-2, must stay 0); the low bits carry (sum + beat index). So the output stream shows on
which beats the clip-start flag reached the top. The testbench measures every handshake
itself (its own cycle count) and checks the registers against that:
  * latency = cycle of a frame's last output beat - cycle of its first input beat,
  * II_LAST = difference of the first-input-beat cycles of the last two frames.
Register map: see hw/rtl/tsmfpga_ctrl.sv.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSource)

import axis_tb as tb

REG = {"CTRL": 0x00, "STATUS": 0x04, "FRAMES_IN": 0x08, "FRAMES_OUT": 0x0C, "LAT_LAST": 0x10,
       "LAT_MIN": 0x14, "LAT_MAX": 0x18, "II_LAST": 0x1C, "CYCLES": 0x20, "INFO": 0x24}
CLIP_START, CLEAR_STATS = 0x1, 0x2
ST_ERROR, ST_PENDING, ST_BUSY = 0x1, 0x2, 0x4


class Env:
    def __init__(self, dut):
        self.dut = dut
        self.in_w = int(dut.IN_W.value)
        self.out_w = int(dut.OUT_W.value)
        self.ifb = int(dut.IN_FRAME_BEATS.value)
        self.ofb = int(dut.OUT_FRAME_BEATS.value)
        self.in_bytes = int(dut.IN_BYTES.value)
        self.out_bytes = int(dut.OUT_BYTES.value)
        assert int(dut.WITH_CORE.value) == 1
        self.rng = random.Random(cocotb.RANDOM_SEED)
        self.cycle = 0
        self.in_beats = []   # (cycle, tdata) of every accepted input beat
        self.out_beats = []  # (cycle, tdata, tlast, tkeep) of every output handshake
        self.p_ready = 0.0
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_ctrl"), dut.ap_clk,
                                  dut.ap_rst_n, reset_active_level=False)
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.ap_clk,
                                      dut.ap_rst_n, reset_active_level=False, byte_lanes=1)

    async def start(self):
        dut = self.dut
        dut.m_axis_tready.value = 0
        dut.ap_rst_n.value = 0
        cocotb.start_soon(Clock(dut.ap_clk, 10, unit="ns").start())
        await ClockCycles(dut.ap_clk, 4)
        dut.ap_rst_n.value = 1
        cocotb.start_soon(self._monitor())
        cocotb.start_soon(self._drive_ready())
        await ClockCycles(dut.ap_clk, 2)

    async def _monitor(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.ap_clk)
            self.cycle += 1
            if int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value):
                self.in_beats.append((self.cycle, int(dut.s_axis_tdata.value)))
            if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
                self.out_beats.append((self.cycle, int(dut.m_axis_tdata.value),
                                       int(dut.m_axis_tlast.value), int(dut.m_axis_tkeep.value)))

    async def _drive_ready(self):
        while True:
            self.dut.m_axis_tready.value = int(self.rng.random() >= self.p_ready)
            await RisingEdge(self.dut.ap_clk)

    async def rd(self, name: str) -> int:
        return await self.axil.read_dword(REG[name])

    async def wr(self, name: str, value: int) -> None:
        await self.axil.write_dword(REG[name], value)

    def frame(self) -> list[int]:
        """Random input words over the full DMA width (bits above IN_W must be ignored)."""
        return [self.rng.getrandbits(8 * self.in_bytes) for _ in range(self.ifb)]

    async def wait_until(self, cond, what: str, budget: int = 20000) -> None:
        for _ in range(budget):
            if cond():
                return
            await RisingEdge(self.dut.ap_clk)
        raise AssertionError(f"timeout waiting for {what}")

    def starts(self) -> list[int]:
        return [c for i, (c, _) in enumerate(self.in_beats) if i % self.ifb == 0]

    def ends(self) -> list[int]:
        return [c for c, _, last, _ in self.out_beats if last]

    def check_outputs(self, frames: list[list[int]], first_flags: list[bool]) -> None:
        sw = self.out_w - 2
        assert len(self.out_beats) == len(frames) * self.ofb
        for k, words in enumerate(frames):
            total = sum(w & ((1 << self.in_w) - 1) for w in words)
            for j in range(self.ofb):
                _, data, last, keep = self.out_beats[k * self.ofb + j]
                assert keep == (1 << self.out_bytes) - 1, f"tkeep {keep:#x} not all ones"
                assert data >> self.out_w == 0, f"padding bits set in {data:#x}"
                assert last == (j == self.ofb - 1), f"frame {k} beat {j}: tlast {last}"
                flag_first, flag_other = (data >> (sw + 1)) & 1, (data >> sw) & 1
                assert flag_first == first_flags[k], (
                    f"frame {k}: tuser on its first beat = {flag_first}, expected {first_flags[k]:d}")
                assert flag_other == 0, f"frame {k}: tuser set on a beat other than the first"
                assert data & ((1 << sw) - 1) == (total + j) % (1 << sw), f"frame {k} beat {j}: data"

    async def check_stats(self, first_frame: int) -> None:
        """Counters and latency stats cover the frames from ``first_frame`` on."""
        starts, ends = self.starts(), self.ends()
        assert len(starts) == len(ends)
        lat = [e - s for s, e in zip(starts[first_frame:], ends[first_frame:])]
        assert await self.rd("FRAMES_IN") == len(lat)
        assert await self.rd("FRAMES_OUT") == len(lat)
        assert await self.rd("LAT_LAST") == lat[-1], f"LAT_LAST vs measured {lat}"
        assert await self.rd("LAT_MIN") == min(lat), f"LAT_MIN vs measured {lat}"
        assert await self.rd("LAT_MAX") == max(lat), f"LAT_MAX vs measured {lat}"
        if len(lat) >= 2:
            assert await self.rd("II_LAST") == starts[-1] - starts[-2]
        assert await self.rd("STATUS") == 0, "idle: no error, nothing pending, not busy"


async def setup(dut) -> Env:
    env = Env(dut)
    await env.start()
    return env


@cocotb.test()
async def clip_start_frames_and_latency(dut):
    """CLIP_START reaches the top on exactly the right beats; counters and latency stats match
    the handshakes the testbench measures; CLEAR_STATS; INFO; CYCLES."""
    env = await setup(dut)
    assert await env.rd("INFO") == (env.ofb << 16) | env.ifb
    assert await env.rd("LAT_MIN") == 0xFFFF_FFFF
    for name in ("CTRL", "STATUS", "FRAMES_IN", "FRAMES_OUT", "LAT_LAST", "LAT_MAX", "II_LAST"):
        assert await env.rd(name) == 0, f"{name} after reset"
    for addr in (0x28, 0x2C, 0x3C):
        assert await env.axil.read_dword(addr) == 0, f"unmapped address {addr:#x}"
    await env.wr("FRAMES_IN", 1234)  # read-only: ignored
    assert await env.rd("FRAMES_IN") == 0

    # CYCLES is free running: it advances exactly with the clock between two reads
    b1 = env.cycle
    c1 = await env.rd("CYCLES")
    a1 = env.cycle
    await ClockCycles(dut.ap_clk, 37)
    b2 = env.cycle
    c2 = await env.rd("CYCLES")
    a2 = env.cycle
    assert b2 - a1 <= c2 - c1 <= a2 - b1, (c1, c2, b1, a1, b2, a2)

    env.source.set_pause_generator(tb.random_pause(env.rng, 0.3))
    env.p_ready = 0.5
    frames, first = [], []

    # clip 1: CLIP_START, then three frames as one DMA transfer (tlast only at its end: ignored)
    await env.wr("CTRL", CLIP_START)
    assert await env.rd("CTRL") == CLIP_START
    assert await env.rd("STATUS") == ST_PENDING
    clip = [env.frame() for _ in range(3)]
    frames += clip
    first += [True, False, False]
    await env.source.send(AxiStreamFrame([w for f in clip for w in f]))
    await env.source.wait()
    await env.wait_until(lambda: len(env.in_beats) == 3 * env.ifb, "clip 1 input")
    assert await env.rd("STATUS") & ST_PENDING == 0, "CLIP_START did not clear itself"

    # clip 2: CLIP_START written in the middle of a frame applies to the next frame
    mid = env.frame()
    frames.append(mid)
    first.append(False)
    await env.source.send(AxiStreamFrame(mid))
    await env.wait_until(lambda: len(env.in_beats) >= 3 * env.ifb + 2, "mid-frame")
    env.source.set_pause_generator(None)
    env.source.pause = True
    await ClockCycles(dut.ap_clk, 2)
    assert len(env.in_beats) < 4 * env.ifb
    await env.wr("CTRL", CLIP_START)
    status = await env.rd("STATUS")
    assert status & (ST_PENDING | ST_BUSY) == ST_PENDING | ST_BUSY, f"STATUS {status:#x}"
    env.source.set_pause_generator(tb.random_pause(env.rng, 0.3))
    env.source.pause = False
    for k in range(5):
        f = env.frame()
        frames.append(f)
        first.append(k == 0)
        await env.source.send(AxiStreamFrame(f))  # one DMA transfer per frame
    await env.source.wait()
    await env.wait_until(lambda: len(env.out_beats) == len(frames) * env.ofb, "outputs")
    await ClockCycles(dut.ap_clk, 10)
    env.check_outputs(frames, first)
    await env.check_stats(0)

    # CLEAR_STATS does not drop a pending CLIP_START (write-1-to-set); stats restart
    await env.wr("CTRL", CLIP_START)
    await env.wr("CTRL", CLEAR_STATS)
    assert await env.rd("CTRL") == CLIP_START
    assert await env.rd("STATUS") == ST_PENDING
    for name in ("FRAMES_IN", "FRAMES_OUT", "LAT_LAST", "LAT_MAX", "II_LAST"):
        assert await env.rd(name) == 0, f"{name} after CLEAR_STATS"
    assert await env.rd("LAT_MIN") == 0xFFFF_FFFF
    n_before = len(frames)
    env.p_ready = 0.0
    env.source.set_pause_generator(None)
    env.source.pause = False  # the generator may have left it set
    for k in range(3):
        f = env.frame()
        frames.append(f)
        first.append(k == 0)
        await env.source.send(AxiStreamFrame(f))
    await env.wait_until(lambda: len(env.out_beats) == len(frames) * env.ofb, "outputs after clear")
    await ClockCycles(dut.ap_clk, 10)
    env.check_outputs(frames, first)
    await env.check_stats(n_before)


@cocotb.test()
async def frames_in_flight_under_backpressure(dut):
    """Output stalled: several frames in flight, BUSY set, latencies still frame by frame."""
    env = await setup(dut)
    env.p_ready = 1.0  # stall the output completely
    frames = [env.frame() for _ in range(6)]
    for f in frames:
        await env.source.send(AxiStreamFrame(f))
    await env.wait_until(lambda: len(env.in_beats) >= 4 * env.ifb, "input while stalled")
    await ClockCycles(dut.ap_clk, 20)
    assert await env.rd("STATUS") == ST_BUSY
    assert await env.rd("FRAMES_OUT") == 0
    assert await env.rd("LAT_MIN") == 0xFFFF_FFFF
    env.p_ready = 0.4
    await env.source.wait()
    await env.wait_until(lambda: len(env.out_beats) == len(frames) * env.ofb, "outputs")
    await ClockCycles(dut.ap_clk, 10)
    env.check_outputs(frames, [False] * len(frames))
    await env.check_stats(0)


@cocotb.test()
async def status_error_is_reported(dut):
    """STATUS.ERROR mirrors the top's sticky status_error."""
    env = await setup(dut)
    assert await env.rd("STATUS") & ST_ERROR == 0
    dut.g_core.g_top.u_top.err_q.value = 1  # the fake never sets it on its own (one-stream top)
    await ClockCycles(dut.ap_clk, 2)
    assert await env.rd("STATUS") & ST_ERROR == ST_ERROR
