"""Golden models of the arithmetic building blocks (hw/rtl/lut_mult.sv, hw/rtl/adder_tree.sv)."""


def to_signed(value: int, bits: int) -> int:
    """Two's complement reading of the low ``bits`` of value."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def operand(raw: int, bits: int, signed: bool) -> int:
    return to_signed(raw, bits) if signed else raw & ((1 << bits) - 1)


def product(a_raw: int, a_bits: int, a_signed: bool, b_raw: int, b_bits: int, b_signed: bool,
            p_bits: int) -> int:
    """lut_mult's p: the exact product, two's complement, wrapped to p_bits (as raw bits)."""
    return (operand(a_raw, a_bits, a_signed) * operand(b_raw, b_bits, b_signed)) & ((1 << p_bits) - 1)


def tree_sum(leaves_raw: list[int], in_bits: int, in_signed: bool, out_bits: int) -> int:
    """adder_tree's root: the sum of the leaves, wrapped to out_bits (as raw bits)."""
    return sum(operand(v, in_bits, in_signed) for v in leaves_raw) & ((1 << out_bits) - 1)


def tree_stages(n: int) -> int:
    """Register stages of adder_tree with n leaves: ceil(clog2(n) / 2)."""
    levels = (n - 1).bit_length() if n > 1 else 0
    return (levels + 1) // 2


def packed_dot(xs_raw: list[int], ws_raw: list[int], in_bits: int, w_bits: int, w_signed: bool,
               field_bits: int) -> int:
    """mac_packed's p: sum of x * u over the lanes, u the weight in offset binary (sign bit
    inverted when signed), x unsigned; wrapped to field_bits (exact when the field is wide enough)."""
    flip = (1 << (w_bits - 1)) if w_signed else 0
    mask_w = (1 << w_bits) - 1
    total = sum((x & ((1 << in_bits) - 1)) * ((w & mask_w) ^ flip) for x, w in zip(xs_raw, ws_raw))
    return total & ((1 << field_bits) - 1)
