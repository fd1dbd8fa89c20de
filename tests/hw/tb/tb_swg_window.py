"""cocotb testbench for swg_window (sliding-window generator, finn-rtllib's default style with
registered flow-control differences).

Geometry (image, channels, kernel, stride, SIMD, bits, depthwise) comes from the SWG_GEOMETRY
environment variable (JSON): swg_window's own parameters are finn-plus' derived addressing numbers,
from which the image cannot be read back. Stimulus: several random images back to back (the first
all-ones, the second alternating extremes), each under its own input-valid / output-ready
probability (100 % down to 30 %). Golden: golden_swg (numpy im2col in hardware order).

Lockstep mode (top `swg_lockstep`, built by tests/hw/test_swg_window_rtl.py): finn-rtllib's own
generated ConvolutionInputGenerator_rtl runs next to ours on the same inputs; every cycle the two
must agree on s_axis_tready, m_axis_tvalid and (when valid) m_axis_tdata.
"""

import json
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

import axis_tb as tb

from golden_swg import SwgGeometry, input_beats, output_beats

PHASES = [(1.0, 1.0), (0.5, 1.0), (1.0, 0.3), (0.6, 0.6), (0.3, 0.9)]


def _geometry() -> SwgGeometry:
    return SwgGeometry(**json.loads(os.environ["SWG_GEOMETRY"]))


@cocotb.test()
async def random_images_random_handshakes(dut):
    g = _geometry()
    lockstep = hasattr(dut, "finn_m_axis_tvalid")
    rng = random.Random(cocotb.RANDOM_SEED)
    nrng = np.random.default_rng(cocotb.RANDOM_SEED)
    top = (1 << g.bits) - 1
    images = nrng.integers(0, top + 1, size=(len(PHASES), g.h, g.w, g.channels))
    images[0] = top
    images[1, ::2] = 0
    images[1, 1::2] = top
    dut._log.info("swg_window %s, %d images, lockstep with finn-rtllib: %s", g, len(images), lockstep)

    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    await tb.clock_and_reset(dut)

    send = [(b, i) for i, im in enumerate(images) for b in input_beats(im, g)]
    want = [(b, i) for i, im in enumerate(images) for b in output_beats(im, g)]
    got: list[int] = []
    sent = cycles = 0
    limit = 40 * (len(send) + len(want)) + 1000
    while len(got) < len(want):
        await RisingEdge(dut.clk)
        cycles += 1
        assert cycles < limit, f"stalled: {len(got)} of {len(want)} beats out, {sent} of {len(send)} in"
        # the phase of the image being read (input) / written (output) sets the probabilities
        p_in = PHASES[send[sent][1]][0] if sent < len(send) else 0.0
        p_out = PHASES[want[len(got)][1]][1]
        valid = sent < len(send) and rng.random() < p_in
        dut.s_axis_tvalid.value = int(valid)
        dut.s_axis_tdata.value = send[sent][0] if sent < len(send) else 0
        dut.m_axis_tready.value = int(rng.random() < p_out)
        await ReadOnly()
        s_ready = int(dut.s_axis_tready.value)
        m_valid = int(dut.m_axis_tvalid.value)
        if lockstep:
            assert int(dut.finn_s_axis_tready.value) == s_ready, f"cycle {cycles}: s_axis_tready differs from finn-rtllib"
            assert int(dut.finn_m_axis_tvalid.value) == m_valid, f"cycle {cycles}: m_axis_tvalid differs from finn-rtllib"
            if m_valid:
                assert int(dut.finn_m_axis_tdata.value) == int(dut.m_axis_tdata.value), \
                    f"cycle {cycles}: m_axis_tdata differs from finn-rtllib"
        if valid and s_ready:
            sent += 1
        if m_valid and int(dut.m_axis_tready.value):
            k = len(got)
            got.append(int(dut.m_axis_tdata.value))
            assert got[k] == want[k][0], (f"output beat {k} (image {want[k][1]}): {got[k]:#x} != golden "
                                          f"{want[k][0]:#x}")
    assert sent == len(send), f"{len(send) - sent} input beats never taken"
    dut._log.info("%d beats in, %d out, %d cycles, bit-exact%s", sent, len(got), cycles,
                  ", lockstep with finn-rtllib every cycle" if lockstep else "")
