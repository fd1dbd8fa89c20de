"""cocotb testbench for pool (finn-plus Pool: MaxPool / QuantAvgPool): sizes from the DUT parameters.

Golden: golden_pool (numpy): the input tensor is drawn in Pool's window (im2col) order, the DUT gets
it in the depthwise SWG's hardware order (C/PE, K, PE) cut into beats of PE lanes, and the expected
output is Pool.execute_node's result (checked against finn itself in tests/hw/test_pool_dwc_rtl.py)
in beats of PE lanes. Every output beat is also checked against golden_pool.stream_model.

Chain mode: tests/hw/test_pool_dwc_rtl.py also builds finn-plus' own depthwise SWG RTL
(ConvolutionInputGenerator_rtl, generated code, SIMD = PE, stride = window) in front of pool.sv as
`pool_swg_chain`, a top level with the same ports plus the parameters IMG_DIM and WIN_DIM. Then the
stimulus is NHWC images (pixel-major, PE channels per beat) and the golden is plain numpy pooling of
the image (golden_pool.numpy_pool_image): a direct check that pool.sv consumes exactly the order the
real SWG RTL emits. Only `extremes` and `random_traffic_with_backpressure` apply to that top (the
pytest selects them with COCOTB_TEST_FILTER; the timing tests return early if run on it).
"""

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

import axis_tb as tb

import golden_pool as golden


def _chain(dut):
    """(image size, window side) if the DUT is the SWG -> pool chain, else None."""
    if hasattr(dut, "IMG_DIM"):
        return int(dut.IMG_DIM.value), int(dut.WIN_DIM.value)
    return None


async def _setup(dut):
    cfg = golden.PoolCfg.from_dut(dut)
    chain = _chain(dut)
    dut._log.info("pool: %s%s", cfg, f", behind finn's SWG RTL, image/window {chain}" if chain else "")
    source = tb.source(dut, "s_axis")
    sink = tb.sink(dut, "m_axis")
    await tb.clock_and_reset(dut)
    return cfg, source, sink



def _fmt(cfg, beats, bits):
    return [golden.unpack(b, cfg.pe, bits, cfg.in_signed) for b in beats]


def _window_stimulus(cfg, x_window):
    """(input beats, expected output beats) of a window-order tensor (the bare pool DUT)."""
    in_beats = golden.input_beats(x_window, cfg)
    want = golden.expected_beats(x_window, cfg)
    assert golden.stream_model(in_beats, cfg) == want, "golden self-check failed"
    return in_beats, want


def _image_stimulus(cfg, chain, images):
    """(input beats, expected output beats) of NHWC images (n, H, W, C) for the chain DUT."""
    _, k = chain
    in_beats = golden.to_beats(images, cfg.pe, cfg.in_bits)
    want = golden.to_beats(np.concatenate([golden.numpy_pool_image(im[None], k, cfg) for im in images]),
                           cfg.pe, cfg.out_bits)
    return in_beats, want


def _random_stimulus(cfg, chain, nrng, target_beats):
    if chain is None:
        return _window_stimulus(cfg, golden.random_windows(nrng, cfg, _pixels_for(cfg, target_beats)))
    h, _ = chain
    lo, hi = golden.lane_range(cfg.in_bits, cfg.in_signed)
    n = max(2, target_beats // (h * h * cfg.fold))
    images = nrng.integers(lo, hi + 1, size=(n, h, h, cfg.channels))
    images[0] = hi
    images[1, ::2] = lo
    return _image_stimulus(cfg, chain, images)


async def _run(cfg, source, sink, stimulus):
    """Send the input beats, receive and compare every output beat."""
    in_beats, want = stimulus
    await source.send(AxiStreamFrame(in_beats))
    got = []
    for _ in range(len(want)):
        rx = await sink.recv()
        got += list(rx.tdata)
    if got != want:
        bad = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
        k = cfg.kernel
        raise AssertionError(
            f"output beat {bad} of {len(want)} differs: got {_fmt(cfg, got[bad:bad + 1], cfg.out_bits)} "
            f"want {_fmt(cfg, want[bad:bad + 1], cfg.out_bits)}; window beats (bare pool DUT) "
            f"{_fmt(cfg, in_beats[bad * k:(bad + 1) * k], cfg.in_bits)}")
    return len(in_beats), len(want)


def _pixels_for(cfg, target_beats: int) -> int:
    beats_per_pixel = cfg.kernel * cfg.fold
    return max(2, target_beats // beats_per_pixel)


@cocotb.test()
async def extremes(dut):
    """All-max, all-min, min/max alternating, a single max among mins and a single min among
    maxes at every window position (extreme sums, signed compares across zero)."""
    cfg, source, sink = await _setup(dut)
    lo, hi = golden.lane_range(cfg.in_bits, cfg.in_signed)
    k, c = cfg.kernel, cfg.channels
    chain = _chain(dut)
    if chain is not None:
        h, _ = chain
        nrng = np.random.default_rng(cocotb.RANDOM_SEED)
        images = np.stack([np.full((h, h, c), hi), np.full((h, h, c), lo),
                           nrng.choice([lo, hi], size=(h, h, c)), nrng.choice([lo, hi], size=(h, h, c))])
        await _run(cfg, source, sink, _image_stimulus(cfg, chain, images))
        await ClockCycles(dut.clk, 5)
        assert sink.empty()
        return
    pixels = [np.full((k, c), hi), np.full((k, c), lo), np.zeros((k, c), dtype=np.int64)]
    alt = np.full((k, c), lo)
    alt[::2] = hi
    pixels.append(alt)
    for pos in range(k):
        one_hi = np.full((k, c), lo)
        one_hi[pos, :] = hi
        one_lo = np.full((k, c), hi)
        one_lo[pos, :] = lo
        pixels += [one_hi, one_lo]
    if cfg.in_signed:
        mix = np.full((k, c), -1)
        mix[k // 2] = 0
        pixels.append(mix)
    x = np.stack([p.reshape(-1) for p in pixels]).reshape(1, len(pixels), 1, k * c)
    await _run(cfg, source, sink, _window_stimulus(cfg, x))
    await ClockCycles(dut.clk, 5)
    assert sink.empty()


@cocotb.test()
async def random_traffic_with_backpressure(dut):
    """Random tensors under independent random input pauses and output backpressure."""
    cfg, source, sink = await _setup(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    nrng = np.random.default_rng(cocotb.RANDOM_SEED)
    mon = tb.HandshakeMonitor(dut)
    n_in = n_out = 0
    for p_in, p_out in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (0.3, 0.5), (0.8, 0.2), (0.1, 0.9)]:
        source.set_pause_generator(tb.random_pause(rng, p_in))
        sink.set_pause_generator(tb.random_pause(rng, p_out))
        a, b = await _run(cfg, source, sink, _random_stimulus(cfg, _chain(dut), nrng, 800))
        n_in, n_out = n_in + a, n_out + b
    await ClockCycles(dut.clk, 5)
    mon.task.cancel()
    assert sink.empty(), "pool produced beats that were never expected"
    assert int(dut.m_axis_tvalid.value) == 0
    assert (len(mon.in_cycles), len(mon.out_cycles)) == (n_in, n_out)


@cocotb.test()
async def full_throughput_fixed_latency(dut):
    """No pauses: one input beat per cycle back to back, and every output beat exactly one cycle
    after the last beat of its window."""
    if _chain(dut):
        return  # the SWG in front has its own timing
    cfg, source, sink = await _setup(dut)
    nrng = np.random.default_rng(cocotb.RANDOM_SEED + 1)
    mon = tb.HandshakeMonitor(dut)
    n_in, n_out = await _run(cfg, source, sink, _random_stimulus(cfg, None, nrng, 400))
    await ClockCycles(dut.clk, 3)
    mon.task.cancel()
    ins, outs = mon.in_cycles, mon.out_cycles
    assert (len(ins), len(outs)) == (n_in, n_out)
    assert ins[-1] - ins[0] == n_in - 1, "input not accepted back to back"
    lat = {o - ins[(w + 1) * cfg.kernel - 1] for w, o in enumerate(outs)}
    dut._log.info("pool latency (last window beat -> output beat): %s cycles", lat)
    assert lat == {1}, f"latency not a constant 1 cycle: {sorted(lat)}"


@cocotb.test()
async def stalled_output_keeps_accumulating(dut):
    """With m_axis_tready held low, the first window fills the output register and the next
    window's first K-1 beats are still accepted; its last beat waits. Release: all correct."""
    cfg, source, sink = await _setup(dut)
    nrng = np.random.default_rng(cocotb.RANDOM_SEED + 2)
    mon = tb.HandshakeMonitor(dut)
    x = golden.random_windows(nrng, cfg, 1)
    x = np.concatenate([x, x[:, :, :, ::-1]], axis=1)  # 2 pixels
    in_beats = golden.input_beats(x, cfg)
    want = golden.expected_beats(x, cfg)
    sink.pause = True
    await source.send(AxiStreamFrame(in_beats))
    await ClockCycles(dut.clk, len(in_beats) + 10)
    assert len(mon.in_cycles) == 2 * cfg.kernel - 1, \
        f"{len(mon.in_cycles)} beats accepted under a stalled output, want {2 * cfg.kernel - 1}"
    assert int(dut.m_axis_tvalid.value) == 1
    sink.pause = False
    got = []
    for _ in range(len(want)):
        got += list((await sink.recv()).tdata)
    assert got == want
    mon.task.cancel()


@cocotb.test()
async def reset_mid_window(dut):
    """A reset in the middle of a window restarts the window count."""
    if _chain(dut):
        return  # bare pool only
    cfg, source, sink = await _setup(dut)
    nrng = np.random.default_rng(cocotb.RANDOM_SEED + 3)
    lo, hi = golden.lane_range(cfg.in_bits, cfg.in_signed)
    part = [golden.pack([hi] * cfg.pe, cfg.in_bits)] * max(1, cfg.kernel // 2)
    if cfg.kernel > 1:
        await source.send(AxiStreamFrame(part))
        await source.wait()
        await ClockCycles(dut.clk, 2)
        assert sink.empty() and int(dut.m_axis_tvalid.value) == 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    x = golden.random_windows(nrng, cfg, 2)
    x[:] = lo  # would show any leftover partial window of maxima
    x[0, 1, 0, 0] = hi
    await _run(cfg, source, sink, _window_stimulus(cfg, x))
    await ClockCycles(dut.clk, 5)
    assert sink.empty()
