"""The open ECP5 flow on a fresh machine, in seconds: a tiny accelerator inside the real board top
(oscillator -> PLL -> reset -> UART frame bridge) through synth_ecp5, nextpnr-ecp5 with the
ULX3S pin file, and ecppack; the report parser on a known nextpnr report."""

from pathlib import Path

import pytest

from tsmfpga.core.rtl import rtl_source
from tsmfpga.core.templates import TemplateError, render
from tsmfpga.hw.boards import get_board
from tsmfpga.hw.ecp5 import pack, parse_report, place_and_route, pll, render_board_top, render_lpf, synth

TINY = """`default_nettype none
module tiny_accel (
    input wire clk, input wire rst,
    input wire [7:0] s_axis_tdata, input wire s_axis_tvalid, output wire s_axis_tready, input wire s_axis_tuser,
    output wire [11:0] m_axis_tdata, output wire m_axis_tvalid, input wire m_axis_tready, output wire m_axis_tlast,
    output wire status_error);
    reg [11:0] d; reg v;
    assign s_axis_tready = !v || m_axis_tready;
    always @(posedge clk) begin
        if (rst) v <= 1'b0;
        else if (s_axis_tready) begin v <= s_axis_tvalid; d <= {3'b0, s_axis_tuser, s_axis_tdata} + 12'd1; end
    end
    assign m_axis_tdata = d; assign m_axis_tvalid = v; assign m_axis_tlast = 1'b1; assign status_error = 1'b0;
endmodule
`default_nettype wire
"""


def test_tiny_design_to_bitstream(tmp_path):
    board = get_board("ulx3s-85f")
    p = pll(tmp_path / "pll", board.osc_mhz, 100)
    assert p["achieved_mhz"] == pytest.approx(100)
    (tmp_path / "tiny_accel.sv").write_text(TINY)
    (tmp_path / "board_top.sv").write_text(render_board_top(
        "board_top", "tiny_accel", "clk_25mhz", "ftdi_txd", "ftdi_rxd", p["module"],
        clks_per_bit=33, in_w=8, in_beats=4, out_w=12))
    lpf = tmp_path / "board.lpf"
    lpf.write_text(render_lpf(board, ["clk_25mhz", "ftdi_txd", "ftdi_rxd"]))
    assert 'LOCATE COMP "clk_25mhz" SITE "G2";' in lpf.read_text()
    s = synth("board_top", [rtl_source("uart_frame_bridge.sv"), tmp_path / "tiny_accel.sv",
                            tmp_path / "board_top.sv"], tmp_path / "synth", verilog=[Path(p["verilog"])])
    assert s["cells"].get("EHXPLLL") == 1
    r = place_and_route(Path(s["netlist"]), tmp_path / "pnr", "85k", "CABGA381", 6, 100, seed=1, lpf=lpf)
    assert r["source"] == "nextpnr"
    assert r["utilization"]["PLL"]["used"] == 1 and r["utilization"]["IO"]["used"] == 3
    assert r["utilization"]["LUT4"]["available"] == 83640
    # the PLL output is constrained at 100 MHz (derived from the 25 MHz pin constraint)
    fabric = [c for c in r["clocks"].values() if c["constraint_mhz"] and abs(c["constraint_mhz"] - 100) < 0.5]
    assert fabric and all(c["met"] for c in fabric), r["clocks"]
    assert r["critical_paths"] and r["critical_paths"][0]["logic_levels"] >= 1
    b = pack(Path(r["config"]), tmp_path / "tiny.bit")
    assert b["bytes"] > 10_000
    assert (tmp_path / "tiny.bit").read_bytes()[:1] == b"\xff"   # ECP5 preamble starts with 0xFF padding


def test_parse_report_flags_a_failed_clock():
    rep = {"fmax": {"clk": {"achieved": 87.5, "constraint": 100.0}},
           "utilization": {"TRELLIS_COMB": {"used": 10, "available": 83640}},
           "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
               {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "a", "port": "Q"}, "to": {"cell": "a", "port": "Q"}},
               {"type": "routing", "delay": 5.0, "net": "n1", "from": {"cell": "a", "port": "Q"}, "to": {"cell": "l", "port": "A"}},
               {"type": "logic", "delay": 0.4, "from": {"cell": "l", "port": "A"}, "to": {"cell": "l", "port": "F"}},
               {"type": "setup", "delay": 0.1, "from": {"cell": "b", "port": "DI"}, "to": {"cell": "b", "port": "DI"}}]}]}
    r = parse_report(rep)
    assert r["met"] is False and r["clocks"]["clk"] == {"achieved_mhz": 87.5, "constraint_mhz": 100.0, "met": False}
    cp = r["critical_paths"][0]
    assert (cp["from"], cp["to"], cp["logic_levels"], cp["delay_ns"]) == ("a.Q", "b.DI", 1, 6.0)
    assert cp["routing_ns"] == 5.0 and cp["longest_steps"][0]["at"] == "n1"
    assert r["utilization"]["LUT4"] == {"used": 10, "available": 83640}


ECP5_TEMPLATES = [
    ("synth_ecp5.ys.j2", {"read_slang": "read_slang x.sv", "after_read": ["proc"], "extra": ["read_verilog p.v"], "top": "t",
                          "netlist": "t.json"}),
    ("board.lpf.j2", {"board": "ulx3s-85f", "pins": [{"name": "clk", "site": "G2", "io_type": "LVCMOS33",
                                                      "pullmode": "", "freq_mhz": 25}]}),
    ("board_top.sv.j2", {"top": "b", "accel": "a", "clk_pin": "c", "rx_pin": "r", "tx_pin": "t", "pll": "p",
                         "clks_per_bit": 33, "in_w": 8, "in_beats": 4, "out_w": 8}),
    ("timing_wrap.sv.j2", {"top": "w", "module": "m", "params": [("A", 1), ("S", "x")],
                           "ports": [{"name": "a", "dir": "input", "width": 2}]}),
]


@pytest.mark.parametrize("name,context", ECP5_TEMPLATES, ids=[t[0] for t in ECP5_TEMPLATES])
def test_ecp5_templates_are_strict(name, context):
    assert render("tsmfpga.hw.ecp5", name, **context)
    for key in context:
        with pytest.raises(TemplateError, match=rf"'{key}' is undefined"):
            render("tsmfpga.hw.ecp5", name, **{k: v for k, v in context.items() if k != key})
