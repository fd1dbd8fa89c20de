"""Golden models of the residual-block stream ops, independent of any testbench or simulator.

Semantics follow finn-plus' DuplicateStreams (every output equals the input) and
AddStreams / ElementwiseAdd (lane-wise integer add, output one bit wider than the inputs).
Beats are packed integers with lane i at bits [i*bits, (i+1)*bits).
"""

from __future__ import annotations


def lane_range(bits: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value of one lane."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def pack(values: list[int], bits: int) -> int:
    """Pack lane values (two's complement if negative) into one beat, lane 0 lowest."""
    mask = (1 << bits) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (v & mask) << (i * bits)
    return word


def unpack(word: int, lanes: int, bits: int, signed: bool) -> list[int]:
    """Split a beat into lane values, interpreting each as two's complement if signed."""
    mask = (1 << bits) - 1
    out = []
    for i in range(lanes):
        v = (word >> (i * bits)) & mask
        if signed and v >> (bits - 1):
            v -= 1 << bits
        out.append(v)
    return out


def duplicate_streams(beats: list[int], n_outputs: int = 2) -> list[list[int]]:
    """Every output stream equals the input stream."""
    return [list(beats) for _ in range(n_outputs)]


def add_streams(beats0: list[int], beats1: list[int], pe: int, in_bits: int, in_signed: bool,
                out_bits: int | None = None) -> list[int]:
    """Lane-wise sum of two packed streams, packed with out_bits (default in_bits + 1) per lane."""
    if out_bits is None:
        out_bits = in_bits + 1
    assert len(beats0) == len(beats1), "AddStreams needs equally long inputs"
    out = []
    for w0, w1 in zip(beats0, beats1):
        a = unpack(w0, pe, in_bits, in_signed)
        b = unpack(w1, pe, in_bits, in_signed)
        sums = [x + y for x, y in zip(a, b)]
        lo, hi = lane_range(out_bits, in_signed)
        assert all(lo <= s <= hi for s in sums), f"sum {sums} does not fit {out_bits} bits"
        out.append(pack(sums, out_bits))
    return out
