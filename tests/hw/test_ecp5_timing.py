"""Timing closure as a regression: every RTL module of ours alone (representative parameters,
registered I/O, out of context) placed and routed on ECP5 must reach TARGET_MHZ post-route
(nextpnr). The full table is the slow tier (`make timing-modules` writes it as JSON); the fast
tier runs one small module through the same path."""

import pytest

from tsmfpga.hw.ecp5.timing import CASES, TARGET_MHZ, Case, case_fmax, module_ports


def test_wrapper_sees_every_port(tmp_path):
    ports = module_ports(Case("dwc", "axis_dwc", {"LANE_BITS": 4, "IN_LANES": 4, "OUT_LANES": 2}), tmp_path, [])
    by = {p["name"]: (p["dir"], p["width"]) for p in ports}
    assert by["s_axis_tdata"] == ("input", 16) and by["m_axis_tdata"] == ("output", 8)
    assert by["s_axis_tready"] == ("output", 1) and "clk" not in by and "rst" not in by


def test_small_module_alone_fast(tmp_path):
    row = case_fmax(next(c for c in CASES if c.name == "duplicate_streams"), tmp_path)
    assert row["source"] == "nextpnr" and row["critical_path"]["logic_levels"] >= 1
    assert row["fmax_mhz"] >= TARGET_MHZ, row


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_module_closes_timing_alone(case, tmp_path):
    row = case_fmax(case, tmp_path)
    assert row["fmax_mhz"] >= TARGET_MHZ, (
        f"{case.name}: {row['fmax_mhz']} MHz < {TARGET_MHZ} MHz post-route; critical path {row['critical_path']}")
