"""The arithmetic building blocks of mvau / vvau under cocotb on Verilator and Icarus:
lut_mult (LUT-6 digit-table multiplier, every operand pair for small widths), adder_tree
(width-growing pipelined sum, fixed latency), mac_lane (one registered product: DSP, LUT or
XNOR) and mac_packed (a dot-product-packed multiplier). Golden: tests/hw/tb/golden_arith.py."""

import pytest

SIMULATORS = ["verilator", "icarus"]

MULTS = {
    # (A_BITS, A_SIGNED, B_BITS, B_SIGNED, P_BITS): 2-bit digits; one table; 1-bit digits;
    # unsigned x unsigned; a top digit narrower than the others; a wrapped (narrow) output
    "u4xi4": (4, 0, 4, 1, 8),
    "i2xi2": (2, 1, 2, 1, 4),
    "u8xi8": (8, 0, 8, 1, 16),
    "u3xu3": (3, 0, 3, 0, 7),
    "i5xi3": (5, 1, 3, 1, 8),
    "u4xi4_wrap": (4, 0, 4, 1, 5),
    "i8xu2": (8, 1, 2, 0, 10),
}

TREES = {
    # (N, IN_BITS, IN_SIGNED, OUT_BITS): one leaf; odd leaf counts (pass-through nodes); unsigned;
    # narrow root (wrap-around); 4 levels (2 register stages)
    "n1": (1, 6, 1, 8),
    "n3": (3, 5, 1, 7),
    "n7_unsigned": (7, 4, 0, 7),
    "n12_wrap": (12, 6, 1, 7),
    "n16": (16, 9, 1, 14),
    "n24_leaves_wider": (24, 9, 0, 8),
}

LANES = {
    # (IN_BITS, IN_SIGNED, W_BITS, W_SIGNED, BINARY_XNOR, MAC_IMPL, PROD_BITS, OPERAND_STAGE):
    # a DSP product with its operand stage (MVAU) and without (VVAU); LUT products, the wider
    # operand either side; XNOR
    "dsp_u4xi4_stage": (4, 0, 4, 1, 0, "dsp", 10, 1),
    "dsp_i8xi8": (8, 1, 8, 1, 0, "dsp", 18, 0),
    "lut_u4xi4": (4, 0, 4, 1, 0, "lut", 8, 0),
    "lut_u2xi6": (2, 0, 6, 1, 0, "lut", 8, 0),
    "xnor": (1, 0, 1, 0, 1, "lut", 1, 0),
}

PACKED = {
    # (IN_BITS, W_BITS, W_SIGNED, LANES, NLANES): 4x4 in 2 lanes; a partial last group; 3 lanes
    "u4xi4_2": (4, 4, 1, 2, 2),
    "u4xi4_2_of_3": (4, 4, 1, 3, 2),
    "u3xu3_3": (3, 3, 0, 3, 3),
}


def _stages(n):
    levels = (n - 1).bit_length() if n > 1 else 0
    return (levels + 1) // 2


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("case", list(MULTS))
def test_lut_mult(simulator, case, run_tb):
    a, asg, b, bsg, p = MULTS[case]
    run_tb("lut_mult", simulator, {"A_BITS": a, "A_SIGNED": asg, "B_BITS": b, "B_SIGNED": bsg, "P_BITS": p})


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("case", list(TREES))
def test_adder_tree(simulator, case, run_tb):
    n, ib, sg, ob = TREES[case]
    run_tb("adder_tree", simulator, {"N": n, "IN_BITS": ib, "IN_SIGNED": sg, "OUT_BITS": ob,
                                     "STAGES": _stages(n)})


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("case", list(LANES))
def test_mac_lane(simulator, case, run_tb):
    ib, isg, wb, wsg, xnor, impl, pb, stage = LANES[case]
    run_tb("mac_lane", simulator, {"IN_BITS": ib, "IN_SIGNED": isg, "W_BITS": wb, "W_SIGNED": wsg,
                                   "BINARY_XNOR": xnor, "MAC_IMPL": f"\"{impl}\"", "PROD_BITS": pb, "OPERAND_STAGE": stage},
           uses=("lut_mult.sv",))


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("case", list(PACKED))
def test_mac_packed(simulator, case, run_tb):
    ib, wb, wsg, lanes, nl = PACKED[case]
    pks = ib + wb + (lanes - 1).bit_length()
    run_tb("mac_packed", simulator, {"IN_BITS": ib, "W_BITS": wb, "W_SIGNED": wsg, "LANES": lanes,
                                     "NLANES": nl, "PK_S": pks})
