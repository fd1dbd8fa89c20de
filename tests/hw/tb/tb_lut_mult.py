"""cocotb testbench for lut_mult (combinational): sizes and signedness from the DUT's parameters.
Every (a, b) pair when there are at most 2**12 of them, else random pairs plus the extremes;
golden: golden_arith.product."""

import random

import cocotb
from cocotb.triggers import Timer

import golden_arith as golden


@cocotb.test()
async def products(dut):
    ab, asg = int(dut.A_BITS.value), bool(int(dut.A_SIGNED.value))
    bb, bsg = int(dut.B_BITS.value), bool(int(dut.B_SIGNED.value))
    pb = int(dut.P_BITS.value)
    rng = random.Random(cocotb.RANDOM_SEED)
    if ab + bb <= 12:
        pairs = [(a, b) for a in range(1 << ab) for b in range(1 << bb)]
    else:
        ext = lambda bits: [0, 1, (1 << bits) - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1]
        pairs = [(a, b) for a in ext(ab) for b in ext(bb)]
        pairs += [(rng.getrandbits(ab), rng.getrandbits(bb)) for _ in range(3000)]
    for a, b in pairs:
        dut.a.value = a
        dut.b.value = b
        await Timer(1, "ns")
        want = golden.product(a, ab, asg, b, bb, bsg, pb)
        got = int(dut.p.value)
        assert got == want, f"a={a} b={b} (A {ab}b signed={asg}, B {bb}b signed={bsg}): p={got:#x}, want {want:#x}"
