"""cocotb testbench for mac_lane: sizes and mode from the DUT's parameters. Random operands
(extremes included) and random op_en / prod_en every cycle; p must follow a register model of
the lane (operand register when OPERAND_STAGE, product register) with the product from
golden_arith (the exact product, or the XNOR of the codes)."""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

import golden_arith as golden


@cocotb.test()
async def products_follow_the_register_model(dut):
    g = {k: int(getattr(dut, k).value) for k in ("IN_BITS", "IN_SIGNED", "W_BITS", "W_SIGNED", "BINARY_XNOR",
                                                  "PROD_BITS", "OPERAND_STAGE")}
    ib, wb = g["IN_BITS"], g["W_BITS"]
    rng = random.Random(cocotb.RANDOM_SEED)
    cocotb.start_soon(Clock(dut.clk, 10, "ns").start())

    def rand(bits):
        return rng.choice([0, (1 << bits) - 1, 1 << (bits - 1)]) if rng.random() < 0.3 else rng.getrandbits(bits)

    def prod(x, w):
        if g["BINARY_XNOR"]:
            return 1 - ((x ^ w) & 1)
        return golden.product(x, ib, bool(g["IN_SIGNED"]), w, wb, bool(g["W_SIGNED"]), g["PROD_BITS"])

    dut.op_en.value = 0
    dut.prod_en.value = 0
    await RisingEdge(dut.clk)
    await Timer(1, "ns")
    ops = None        # the model's operand register (OPERAND_STAGE)
    p = None          # the model's product register
    checked = 0
    for _ in range(500):
        x, w = rand(ib), rand(wb)
        op_en, prod_en = rng.random() < 0.7, rng.random() < 0.7
        dut.x.value, dut.w.value = x, w
        dut.op_en.value, dut.prod_en.value = int(op_en), int(prod_en)
        await RisingEdge(dut.clk)
        # the register model: both registers sample their inputs before the edge
        src = ops if g["OPERAND_STAGE"] else (x, w)
        if prod_en and src is not None:
            p = prod(*src)
        if g["OPERAND_STAGE"] and op_en:
            ops = (x, w)
        await ReadOnly()
        if p is not None:
            got = int(dut.p.value)
            assert got == p, f"p {got:#x}, want {p:#x} ({g})"
            checked += 1
        await Timer(1, "ns")
    assert checked > 300
