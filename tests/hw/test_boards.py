"""Board table: native resources per family, the one conversion to estimate units, ECP5 rows."""

import dataclasses

import pytest

from tsmfpga.core.errors import UserFacingError
from tsmfpga.hw.boards import ESTIMATE_KEYS, FAMILIES, Board, board_names, get_board


def test_xilinx_capacity_is_native():
    b = get_board("pynq-z2")
    assert b.vendor == "xilinx" and b.finn_part == b.part == "xc7z020clg400-1"
    assert b.capacity() == {"LUT": 53200, "LUTRAM": 17400, "FF": 106400, "BRAM36": 140, "DSP": 220}
    assert (b.lut, b.lutram, b.bram36, b.dsp) == (53200, 17400, 140, 220)


def test_ulx3s_85f_native_and_estimate_units():
    b = get_board("ulx3s-85f")
    assert b.part == "LFE5U-85F-6BG381C" and b.family == "ecp5" and b.vendor == "lattice"
    # native = what nextpnr-ecp5 reports as available on the 85k device
    assert b.native() == {"LUT4": 83640, "FF": 83640, "DRAM_BITS": 10455 * 64, "DP16KD": 208, "MULT18X18D": 156}
    cap = b.capacity()
    assert cap["BRAM36"] == 104          # 208 x 18 kbit = 104 x 36 kbit
    assert cap["DSP"] == 156             # one MVAU product per MULT18X18D
    assert cap["LUT"] == int(83640 / 1.6) and cap["LUTRAM"] == 10455 and cap["FF"] == 83640
    assert b.finn_part.startswith("xc7")  # finn-plus models need a Xilinx part
    assert b.osc_mhz == 25 and b.pins["clk_25mhz"]["site"] == "G2"
    assert b.pins["ftdi_rxd"]["site"] == "L4" and b.pins["ftdi_txd"]["site"] == "M1"
    assert b.pnr == {"device": "85k", "package": "CABGA381", "speed": 6}


def test_every_row_converts():
    for name in board_names():
        b = get_board(name)
        assert set(b.capacity()) == set(ESTIMATE_KEYS)
        assert all(v > 0 for v in b.capacity().values()), name
        assert set(b.native()) == set(FAMILIES[b.family].units)


def test_bad_rows_are_refused():
    b = get_board("ulx3s-85f")
    with pytest.raises(UserFacingError, match="resources must be exactly"):
        dataclasses.replace(b, resources={"LUT": 1})
    with pytest.raises(UserFacingError, match="unknown family"):
        Board(name="x", part="p", family="stratix", resources={}, clock_mhz=100)
