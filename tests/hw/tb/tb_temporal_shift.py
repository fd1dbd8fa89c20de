"""cocotb testbench for temporal_shift: sizes come from the DUT's parameters.

Golden model: :class:`Reference`, a tiny pure-Python model of the op, reset at every clip start
(and after the DUT's reset). Importing qonnx/FINN inside the simulator's embedded Python costs
~25 s per run, so the op's own execution (:class:`OpGolden`: ``tsmfpga.hw.ops.TemporalShift``
through ``execute_onnx`` on a one-node graph) is not run in the simulation; instead
tests/hw/test_temporal_shift_rtl.py checks, in the pytest process, that :class:`Reference` and
:class:`OpGolden` agree beat for beat on random clips. Frames are packed into beats of PE channels,
pixel-major, channel c of a beat at bits [c*DATA_BITS +: DATA_BITS].
"""

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotbext.axi import AxiStreamFrame

import axis_tb as tb


class Params:
    def __init__(self, c: int, k: int, pe: int, pixels: int, bits: int):
        self.c, self.k, self.pe, self.pixels, self.bits = c, k, pe, pixels, bits
        assert 0 < self.k < self.c and self.c % self.pe == 0 and self.k % self.pe == 0
        self.beats_per_frame = self.pixels * self.c // self.pe


class OpGolden:
    """One-node graph running tsmfpga's TemporalShift Python execution."""

    def __init__(self, p: Params):
        from onnx import TensorProto, helper
        from qonnx.core.datatype import DataType
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.util.basic import qonnx_make_model

        from tsmfpga.hw.ops import make_temporal_shift_node, reset_state

        shape = [1, 1, p.pixels, p.c]
        dtype = f"UINT{p.bits}"
        node = make_temporal_shift_node("x", "y", p.c, p.k, (1, p.pixels), "NHWC", dtype,
                                        name="ts_golden", state_id="tb_temporal_shift_golden")
        for a in node.attribute:
            if a.name == "PE":
                a.i = p.pe
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
        self.model = ModelWrapper(qonnx_make_model(g))
        self.model.set_tensor_datatype("x", DataType[dtype])
        self._exec = execute_onnx
        self._reset = reset_state
        self.p = p

    def reset(self):
        self._reset(self.model)

    def frame(self, beats: list[int]) -> list[int]:
        """Expected output beats of one input frame (given as beats)."""
        x = unpack(self.p, beats).reshape(1, 1, self.p.pixels, self.p.c).astype(np.float32)
        y = self._exec(self.model, {"x": x})["y"]
        return pack(self.p, y.reshape(self.p.pixels, self.p.c).astype(np.int64))


class Reference:
    """Pure-Python temporal shift on beats: the first K/PE groups of each pixel come from the
    previous frame's same beat (zeros after a reset), all other beats pass through."""

    def __init__(self, p: Params):
        self.p = p
        self.prev = None

    def reset(self):
        self.prev = None

    def frame(self, beats: list[int]) -> list[int]:
        groups, shift_groups = self.p.c // self.p.pe, self.p.k // self.p.pe
        prev = self.prev if self.prev is not None else [0] * len(beats)
        self.prev = list(beats)
        return [prev[n] if n % groups < shift_groups else b for n, b in enumerate(beats)]


def pack(p: Params, frame: np.ndarray) -> list[int]:
    """(PIXELS, C) channel values -> beats of PE channels, pixel-major."""
    beats = []
    for pix in range(p.pixels):
        for g in range(p.c // p.pe):
            v = 0
            for i in range(p.pe):
                v |= int(frame[pix, g * p.pe + i]) << (i * p.bits)
            beats.append(v)
    return beats


def unpack(p: Params, beats: list[int]) -> np.ndarray:
    mask = (1 << p.bits) - 1
    out = np.zeros((p.pixels, p.c), dtype=np.int64)
    groups = p.c // p.pe
    for n, v in enumerate(beats):
        pix, g = divmod(n, groups)
        for i in range(p.pe):
            out[pix, g * p.pe + i] = (v >> (i * p.bits)) & mask
    return out


def random_frame(p: Params, rng: random.Random) -> list[int]:
    maxv = (1 << p.bits) - 1
    style = rng.random()
    vals = np.zeros((p.pixels, p.c), dtype=np.int64)
    for pix in range(p.pixels):
        for ch in range(p.c):
            if style < 0.15:
                vals[pix, ch] = maxv  # all ones
            elif style < 0.25:
                vals[pix, ch] = rng.choice((0, maxv))
            else:
                vals[pix, ch] = rng.randint(0, maxv)
    return pack(p, vals)


async def _setup(dut):
    p = Params(int(dut.CHANNELS.value), int(dut.SHIFT_CHANNELS.value), int(dut.PE.value),
               int(dut.PIXELS.value), int(dut.DATA_BITS.value))
    source = tb.source(dut, "s_axis")
    sink = tb.sink(dut, "m_axis")
    await tb.clock_and_reset(dut)
    return p, source, sink


class _Monitor:
    """Counts handshakes on both ports, cycle by cycle (sampled in ReadOnly before each edge)."""

    def __init__(self, dut, beats_per_frame: int):
        self.dut = dut
        self.bpf = beats_per_frame
        self.cycle = 0
        self.n_in = 0
        self.n_out = 0
        self.first_in = []   # cycle of the first input beat of each frame
        self.first_out = []  # cycle of the first output beat of each frame
        self.task = cocotb.start_soon(self._run())

    async def _run(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            self.cycle += 1
            if int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value):
                if self.n_in % self.bpf == 0:
                    self.first_in.append(self.cycle)
                self.n_in += 1
            if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
                if self.n_out % self.bpf == 0:
                    self.first_out.append(self.cycle)
                self.n_out += 1


def make_clips(p: Params, rng: random.Random, n_clips: int, first_tuser: bool = True):
    """List of (beats, tuser list) frames; tuser=1 on the first beat of each clip's first frame."""
    frames = []
    for clip in range(n_clips):
        for f in range(rng.randint(2, 4)):
            beats = random_frame(p, rng)
            user = [0] * len(beats)
            if f == 0 and (first_tuser or clip > 0):
                user[0] = 1
            frames.append((beats, user))
    return frames


def expected_frames(golden, frames, fresh: bool = True):
    """Golden output frames; ``fresh``: the DUT has just been reset (no previous frame)."""
    if fresh:
        golden.reset()
    exp = []
    for beats, user in frames:
        if user[0]:
            golden.reset()
        exp.append(golden.frame(beats))
    return exp


async def _run_traffic(dut, p, source, sink, frames, expected):
    for beats, user in frames:
        await source.send(AxiStreamFrame(beats, tuser=user))
    for n, ((beats, user), want) in enumerate(zip(frames, expected)):
        rx = await sink.recv()
        rx.normalize()  # cocotbext-axi collapses a constant tuser to one int
        got = list(rx.tdata)
        assert len(got) == p.beats_per_frame, f"frame {n}: {len(got)} beats, want {p.beats_per_frame}"
        assert got == want, f"frame {n}: tdata mismatch:\n got  {got}\n want {want}\n in   {beats}"
        assert list(rx.tuser) == user, f"frame {n}: tuser mismatch: got {list(rx.tuser)} want {user}"


@cocotb.test()
async def clips_with_random_backpressure(dut):
    """Several clips of several frames, random valid and ready pauses: output == golden."""
    p, source, sink = await _setup(dut)
    golden = Reference(p)
    rng = random.Random(cocotb.RANDOM_SEED)
    mon = _Monitor(dut, p.beats_per_frame)
    frames_all = []
    for p_in, p_out in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (0.3, 0.6), (0.8, 0.2)]:
        source.set_pause_generator(tb.random_pause(rng, p_in))
        sink.set_pause_generator(tb.random_pause(rng, p_out))
        # the first batch starts without tuser: right after rst the buffer counts as empty
        frames = make_clips(p, rng, n_clips=3, first_tuser=bool(frames_all))
        expected = expected_frames(golden, frames, fresh=not frames_all)
        frames_all += frames
        await _run_traffic(dut, p, source, sink, frames, expected)
    await ClockCycles(dut.clk, 5)
    assert sink.empty(), "DUT produced beats that were never sent"
    assert int(dut.m_axis_tvalid.value) == 0
    assert mon.n_in == mon.n_out == len(frames_all) * p.beats_per_frame, (mon.n_in, mon.n_out)
    mon.task.cancel()


@cocotb.test()
async def full_throughput_fixed_latency(dut):
    """No pauses: one beat per cycle, every frame out complete, constant first-beat latency."""
    p, source, sink = await _setup(dut)
    golden = Reference(p)
    rng = random.Random(cocotb.RANDOM_SEED + 1)
    mon = _Monitor(dut, p.beats_per_frame)
    frames = make_clips(p, rng, n_clips=3)
    expected = expected_frames(golden, frames)
    await _run_traffic(dut, p, source, sink, frames, expected)
    await ClockCycles(dut.clk, 5)
    mon.task.cancel()
    n_frames = len(frames)
    assert mon.n_in == mon.n_out == n_frames * p.beats_per_frame, (mon.n_in, mon.n_out)
    assert len(mon.first_in) == len(mon.first_out) == n_frames
    lat = [o - i for i, o in zip(mon.first_in, mon.first_out)]
    dut._log.info("temporal_shift latency (first input beat -> first output beat): %s cycles", lat)
    assert max(lat) - min(lat) == 0, f"latency varies across frames: {lat}"
    assert lat[0] == 1, f"expected a 1-cycle pipeline, measured {lat[0]}"
    # full throughput: the input stream took one beat per cycle, back to back
    total = n_frames * p.beats_per_frame
    assert mon.first_in[-1] - mon.first_in[0] == total - p.beats_per_frame, \
        f"input not back to back: frame starts {mon.first_in}"
    assert mon.first_out[-1] - mon.first_out[0] == total - p.beats_per_frame, \
        f"output not back to back: frame starts {mon.first_out}"
