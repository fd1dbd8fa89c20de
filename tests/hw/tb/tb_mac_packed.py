"""cocotb testbench for mac_packed: sizes from the DUT's parameters. Random unsigned inputs and
weights (extremes included, every lane at its maximum sometimes: the widest field) and random
op_en / prod_en / leaf_en every cycle; p must follow a three-register model (operands, product,
field) whose value is golden_arith.packed_dot of the lanes in use."""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

import golden_arith as golden


@cocotb.test()
async def packed_dot_products_follow_the_register_model(dut):
    ib, wb, ws = int(dut.IN_BITS.value), int(dut.W_BITS.value), bool(int(dut.W_SIGNED.value))
    n, pks = int(dut.NLANES.value), int(dut.PK_S.value)
    rng = random.Random(cocotb.RANDOM_SEED)
    cocotb.start_soon(Clock(dut.clk, 10, "ns").start())
    for s in (dut.op_en, dut.prod_en, dut.leaf_en):
        s.value = 0
    await RisingEdge(dut.clk)
    await Timer(1, "ns")
    ops = prod = p = None
    checked = 0
    for _ in range(500):
        if rng.random() < 0.15:   # every lane at its extreme: x max, u max (or min)
            xs = [(1 << ib) - 1] * n
            ws_raw = [rng.choice([(1 << (wb - 1)) - 1 if ws else (1 << wb) - 1, 1 << (wb - 1) if ws else 0])] * n
        else:
            xs = [rng.getrandbits(ib) for _ in range(n)]
            ws_raw = [rng.getrandbits(wb) for _ in range(n)]
        en = [rng.random() < 0.7 for _ in range(3)]
        dut.x.value = sum(v << (q * ib) for q, v in enumerate(xs))
        dut.w.value = sum(v << (q * wb) for q, v in enumerate(ws_raw))
        dut.op_en.value, dut.prod_en.value, dut.leaf_en.value = (int(e) for e in en)
        await RisingEdge(dut.clk)
        if en[2] and prod is not None:
            p = prod
        if en[1] and ops is not None:
            prod = golden.packed_dot(*ops, ib, wb, ws, pks)
        if en[0]:
            ops = (xs, ws_raw)
        await ReadOnly()
        if p is not None:
            got = int(dut.p.value)
            assert got == p, f"p {got:#x}, want {p:#x} (IN_BITS={ib}, W_BITS={wb}, lanes {n})"
            checked += 1
        await Timer(1, "ns")
    assert checked > 300
