"""Per-module yosys estimate: unique modules synthesized once, cached (a changed parameter or
memory file misses), parallel == serial, figures add up to the design total."""

import shutil

import pytest

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.synth_modules import normalise, split_rtlil, yosys_estimate_modules

ROM = """
module rom_out #(parameter integer W = 8) (
    input wire clk, input wire [3:0] addr, output reg [W-1:0] q);
    reg [W-1:0] mem [0:15];
    initial $readmemh("rom.hex", mem);
    always @(posedge clk) q <= mem[addr];
endmodule
"""

TOP = """
module tiny_top #(parameter integer AW = 4) (
    input wire clk, input wire rst,
    input wire [7:0] s_tdata, input wire s_tvalid, output wire s_tready,
    input wire [3:0] addr, output wire [7:0] q,
    output wire [7:0] m_tdata, output wire m_tvalid, input wire m_tready);
    wire [7:0] d1, d2; wire v1, v2, r1, r2;
    axis_fifo #(.DATA_WIDTH(8), .ADDR_WIDTH(AW)) f_a (.clk(clk), .rst(rst),
        .s_axis_tdata(s_tdata), .s_axis_tvalid(s_tvalid), .s_axis_tready(s_tready),
        .s_axis_tlast(1'b0), .s_axis_tuser(1'b0),
        .m_axis_tdata(d1), .m_axis_tvalid(v1), .m_axis_tready(r1), .m_axis_tlast(), .m_axis_tuser());
    axis_fifo #(.DATA_WIDTH(8), .ADDR_WIDTH(AW)) f_b (.clk(clk), .rst(rst),
        .s_axis_tdata(d1), .s_axis_tvalid(v1), .s_axis_tready(r1),
        .s_axis_tlast(1'b0), .s_axis_tuser(1'b0),
        .m_axis_tdata(d2), .m_axis_tvalid(v2), .m_axis_tready(r2), .m_axis_tlast(), .m_axis_tuser());
    axis_fifo #(.DATA_WIDTH(8), .ADDR_WIDTH(2)) f_c (.clk(clk), .rst(rst),
        .s_axis_tdata(d2 ^ q), .s_axis_tvalid(v2), .s_axis_tready(r2),
        .s_axis_tlast(1'b0), .s_axis_tuser(1'b0),
        .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready), .m_axis_tlast(), .m_axis_tuser());
    rom_out #(.W(8)) rom (.clk(clk), .addr(addr), .q(q));
endmodule
"""


def _design(d, aw=4, rom_seed=1):
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rtl_source("axis_fifo.sv"), d / "axis_fifo.sv")
    (d / "rom_out.sv").write_text(ROM)
    (d / "tiny_top.sv").write_text(TOP.replace("parameter integer AW = 4", f"parameter integer AW = {aw}"))
    (d / "rom.hex").write_text("".join(f"{(i * 37 + rom_seed * 11) % 256:02x}\n" for i in range(16)))
    return [d / "axis_fifo.sv", d / "rom_out.sv", d / "tiny_top.sv"], [d / "rom.hex"]


def test_split_and_normalise_rtlil():
    text = ("autoidx 9\n"
            "attribute \\src \"a.sv:1\"\nmodule \\m$top.x\n  wire $procmux$17_Y\n  wire $procmux$17_Z\nend\n"
            "module \\m$top.y\n  wire $procmux$4_Y\n  wire $procmux$4_Z\nend\n")
    header, mods = split_rtlil(text)
    assert header == "autoidx 9\n" and set(mods) == {"m$top.x", "m$top.y"}
    assert mods["m$top.x"].startswith("attribute")
    assert normalise("m$top.x", mods["m$top.x"]).replace('attribute \\src "a.sv:1"\n', "") == \
        normalise("m$top.y", mods["m$top.y"])


@pytest.mark.slow   # ~1 min on 2 loaded cores (12 small yosys runs)
def test_cache_hit_miss_and_parallel_equals_serial(tmp_path):
    cache = tmp_path / "cache"
    srcs, data = _design(tmp_path / "d")
    first = yosys_estimate_modules("tiny_top", srcs, tmp_path / "w1", data_files=data, cache_dir=cache, workers=2)
    c = first["cache"]
    # f_a and f_b are one unique module (same parameters); f_c and rom differ
    assert c["instances"] == 4 and c["unique_modules"] == 3
    assert c["hits"] == 0 and c["misses"] == 4   # 3 modules + glue
    assert first["instances"]["f_a"]["key"] == first["instances"]["f_b"]["key"]
    assert first["instances"]["f_a"]["key"] != first["instances"]["f_c"]["key"]
    total = first["total"]
    assert total["FF"] > 0 and total["LUT"] > 0
    for k in ("LUT", "FF", "BRAM36", "DSP"):
        assert total[k] == pytest.approx(first["glue"][k] + sum(v[k] for v in first["instances"].values()))

    again = yosys_estimate_modules("tiny_top", srcs, tmp_path / "w2", data_files=data, cache_dir=cache, workers=2)
    assert again["cache"]["misses"] == 0 and again["cache"]["hits"] == 4
    assert sorted(again["cache"]["from_cache"]) == ["f_a", "f_b", "f_c", "rom"]
    assert again["total"] == total

    # a changed parameter misses for the FIFOs it reaches, nothing else
    srcs2, data2 = _design(tmp_path / "d2", aw=5)
    p = yosys_estimate_modules("tiny_top", srcs2, tmp_path / "w3", data_files=data2, cache_dir=cache, workers=2)
    assert set(p["cache"]["from_cache"]) == {"f_c", "rom"}
    assert p["instances"]["f_a"]["key"] != first["instances"]["f_a"]["key"]

    # a changed memory file misses for the ROM only
    srcs3, data3 = _design(tmp_path / "d3", rom_seed=2)
    m = yosys_estimate_modules("tiny_top", srcs3, tmp_path / "w4", data_files=data3, cache_dir=cache, workers=2)
    assert set(m["cache"]["from_cache"]) == {"f_a", "f_b", "f_c"}

    # serial, no cache: the same figures as the parallel run
    serial = yosys_estimate_modules("tiny_top", srcs, tmp_path / "w5", data_files=data, cache_dir=None, workers=1)
    assert serial["cache"]["hits"] == 0 and serial["workers"] == 1
    assert serial["total"] == total
    assert {i: v["LUT"] for i, v in serial["instances"].items()} == {i: v["LUT"] for i, v in first["instances"].items()}
    assert set(serial["stage_seconds"]) >= {"elaborate", "synthesize"}


@pytest.mark.slow   # ~40 s: the small modules once batched, once alone
def test_batched_modules_equal_their_solo_runs(tmp_path, monkeypatch):
    """Small modules share one synth_xilinx run; on this design every one gives the cells it
    gives alone (BATCH_MODULES = 1), and the report says how many runs there were."""
    from tsmfpga.hw import synth_modules

    srcs, data = _design(tmp_path / "d")
    batched = yosys_estimate_modules("tiny_top", srcs, tmp_path / "w1", data_files=data, workers=2)
    assert batched["stage_seconds"]["batched_modules"] == 3 and batched["stage_seconds"]["yosys_runs"] == 2
    monkeypatch.setattr(synth_modules, "BATCH_MODULES", 1)
    solo = yosys_estimate_modules("tiny_top", srcs, tmp_path / "w2", data_files=data, workers=2)
    assert solo["stage_seconds"]["yosys_runs"] == 4
    assert solo["modules"] == batched["modules"] and solo["total"] == batched["total"]


@pytest.mark.slow   # ~40 s
def test_a_failing_batch_is_redone_module_by_module(tmp_path):
    """yosys' -widemux bug on one member fails the whole batch; its modules are then synthesized
    one by one, and only the culprit is reported as synthesized without -widemux."""
    from tsmfpga.hw.synth import WIDEMUX_FALLBACK

    d = tmp_path / "d"
    d.mkdir()
    for f in ("axis_dwc.sv", "axis_fifo.sv"):
        shutil.copyfile(rtl_source(f), d / f)
    (d / "pair.sv").write_text("""
module pair (input wire clk, input wire rst, input wire [31:0] s_tdata, input wire s_tvalid,
             output wire s_tready, output wire [127:0] m_tdata, output wire m_tvalid, input wire m_tready);
    wire [31:0] d; wire v, r;
    axis_fifo #(.DATA_WIDTH(32), .ADDR_WIDTH(3)) f (.clk(clk), .rst(rst),
        .s_axis_tdata(s_tdata), .s_axis_tvalid(s_tvalid), .s_axis_tready(s_tready), .s_axis_tlast(1'b0),
        .s_axis_tuser(1'b0), .m_axis_tdata(d), .m_axis_tvalid(v), .m_axis_tready(r), .m_axis_tlast(), .m_axis_tuser());
    axis_dwc #(.LANE_BITS(2), .IN_LANES(16), .OUT_LANES(64)) w (.clk(clk), .rst(rst),
        .s_axis_tdata(d), .s_axis_tvalid(v), .s_axis_tready(r),
        .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready));
endmodule
""")
    est = yosys_estimate_modules("pair", [d / "axis_fifo.sv", d / "axis_dwc.sv", d / "pair.sv"], tmp_path / "w",
                                 workers=2)
    assert est["stage_seconds"]["batched_modules"] == 2
    assert [m.partition("$")[0] for m in est[WIDEMUX_FALLBACK]] == ["axis_dwc"]
    assert est["instances"]["w"]["FF"] >= 128 and est["instances"]["f"]["LUT"] > 0
