"""cocotb testbench for adder_tree: sizes from the DUT's parameters. Random leaves (extremes
included), one step per cycle or with gaps; each root must equal golden_arith.tree_sum of its
step STAGES cycles after the step entered, and the root holds while no step arrives."""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

import golden_arith as golden


@cocotb.test()
async def sums_with_fixed_latency(dut):
    n, ib = int(dut.N.value), int(dut.IN_BITS.value)
    sg, ob, stages = bool(int(dut.IN_SIGNED.value)), int(dut.OUT_BITS.value), int(dut.STAGES.value)
    assert stages == golden.tree_stages(n), "the DUT's STAGES disagrees with the golden depth"
    rng = random.Random(cocotb.RANDOM_SEED)
    cocotb.start_soon(Clock(dut.clk, 10, "ns").start())
    extremes = [0, (1 << ib) - 1, 1 << (ib - 1), (1 << (ib - 1)) - 1]
    steps = []
    for _ in range(300):
        kind = rng.random()
        if kind < 0.1:
            leaves = [rng.choice(extremes[1:3])] * n   # all at one extreme: the widest sums
        else:
            leaves = [rng.choice(extremes) if rng.random() < 0.2 else rng.getrandbits(ib) for _ in range(n)]
        steps.append((leaves, rng.random() < 0.3))  # (leaves, idle cycles after it)
    dut.in_valid.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await Timer(1, "ns")
    history = []  # per cycle from here: the leaves of the step that entered, or None (idle)
    drain = [(None, False)] * (stages + 2)
    for leaves, gap in steps + drain:
        for entry in [leaves] + ([None] if gap else []):
            if entry is None:
                dut.in_valid.value = 0
            else:
                dut.in_valid.value = 1
                dut.in_data.value = sum(v << (i * ib) for i, v in enumerate(entry))
            history.append(entry)
            await RisingEdge(dut.clk)
            await ReadOnly()
            # newest step the root can show: the one entered max(STAGES, 1) - 1 cycles before
            # this one (STAGES = 0: a combinational root of the current leaves)
            shown = [h for h in history[:len(history) + 1 - max(stages, 1)] if h is not None]
            if shown:
                want = golden.tree_sum(shown[-1], ib, sg, ob)
                got = int(dut.out_data.value)
                assert got == want, f"root {got:#x}, want {want:#x} (N={n}, IN_BITS={ib}, signed={sg})"
            await Timer(1, "ns")
