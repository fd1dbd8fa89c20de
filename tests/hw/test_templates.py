"""Generated code comes from Jinja2 templates with strict fill: every template renders with its
full context, and leaving out any key it uses is an error naming the key (never a silent blank).
The stitched top and the testbench agree on the FIFO instance names (hw.stitch.fifo_instance)."""

from __future__ import annotations

import re

import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from tsmfpga.core.templates import TemplateError, render
from tsmfpga.hw.backend import RtlInstance, Stream
from tsmfpga.hw.stitch import describe_top, fifo_instance, render_top, write_rtl
from tsmfpga.sim.harness import render_tb


def _tiny_design():
    """in -> A (2 lanes) -> [DWC 2->1] -> B (clip flags, padded input port, ties) -> out, with
    tensor names that are not Verilog identifiers."""
    vi = [helper.make_tensor_value_info(t, TensorProto.FLOAT, [1, 8]) for t in ("in:0", "out/0")]
    nodes = [helper.make_node("Identity", ["in:0"], ["a/out"], name="A"),
             helper.make_node("Identity", ["a/out"], ["out/0"], name="B")]
    model = ModelWrapper(qonnx_make_model(helper.make_graph(nodes, "g", [vi[0]], [vi[1]])))
    model.graph.value_info.append(helper.make_tensor_value_info("a/out", TensorProto.FLOAT, [1, 8]))
    for t in ("in:0", "a/out", "out/0"):
        model.set_tensor_datatype(t, DataType["UINT4"])
    a = RtlInstance("A", "mod_a", {"N": 8, "FILE": "a.hex"},
                    [Stream("s_tdata", "s_tvalid", "s_tready", 2, 4, 8)],
                    [Stream("m_tdata", "m_tvalid", "m_tready", 2, 4, 8)])
    b = RtlInstance("B", "mod_b", {}, [Stream("in_V_TDATA", "in_V_TVALID", "in_V_TREADY", 1, 4, 8,
                                              tlast="in_tlast", tuser="in_tuser")],
                    [Stream("out_V_TDATA", "out_V_TVALID", "out_V_TREADY", 1, 4, 8, tuser="out_tuser")],
                    clk="ap_clk", rst="ap_rst_n", rst_active_low=True, ties={"cfg_en": "1'b0"},
                    clip_frame_beats=8)
    return model, {"A": a, "B": b}


def test_top_and_testbench_share_fifo_names(tmp_path):
    model, instances = _tiny_design()
    top, info = render_top(model, instances, {"a/out": 3})
    assert list(info["fifos"]) == ["in:0", "a/out"] and list(info["dwcs"]) == ["a/out"]
    fifos = re.findall(r"^    axis_fifo #\(.*?\) (\w+) \(", top, re.S | re.M)
    assert fifos == [fifo_instance("in:0"), fifo_instance("a/out")] == ["t_in_0_fifo", "t_a_out_fifo"]
    assert "axis_dwc #(" in top and "clip_flags #(" in top and ".FILE(\"a.hex\")" in top
    assert "{{4{1'b0}}, t_a_out_c_tdata}" in top  # B's 8-bit port carries 4-bit elements
    assert "assign status_error = B_clip_overflow;" in top
    manifest = write_rtl(model, instances, tmp_path / "rtl", {"a/out": 3})
    assert (tmp_path / "rtl" / "tsmfpga_top.sv").read_text() == top
    tb = render_tb(manifest, monitor_fifos=True)
    assert sorted(set(re.findall(r"dut\.(\w+)\.", tb))) == sorted(fifos)
    assert 'F in:0 %0d' in tb and 'F a/out %0d' in tb
    plain = render_tb(manifest)
    assert "occ0" not in plain and "F in:0" not in plain
    # the layer taps (gated at run time by +taps=) watch every FIFO's input handshake and data
    assert sorted(set(re.findall(r"dut\.(\w+)\.", plain))) == sorted(fifos)
    assert set(re.findall(r"dut\.\w+\.(\w+)", plain)) == {"s_axis_tvalid", "s_axis_tready", "s_axis_tdata"}
    assert not re.search(r"\{\{ |\{%|\{#", tb + top)  # nothing left unrendered


def _contexts():
    model, instances = _tiny_design()
    top, _ = describe_top(model, instances, {})
    tb = {"tb": "tsmfpga_tb", "top": "tsmfpga_top", "in_w": 8, "out_w": 4, "in_frame": 4,
          "out_frame": 8, "monitor_fifos": True, "fifos": [{"tensor": "t", "instance": "t_fifo"}],
          "stream_bits": 0}
    build = {"board_name": "pynq-z2", "part": "xc7z020clg400-1",
             "board_preset": "tul.com.tw:pynq-z2:part0:1.0", "clock_mhz": "100", "jobs": 4,
             "bit_name": "tsmfpga", "artifact_dir": "..", "ps_ctrl_port": "M_AXI_GP0",
             "ps_data_port": "S_AXI_HP0", "hdl_files": ["a.sv"], "data_files": ["a.hex"],
             "in_w": 8, "out_w": 8, "in_frame_beats": 4, "out_frame_beats": 4, "in_bytes": 1,
             "out_bytes": 1, "dma_in_bytes": 1, "stream_bits": 0, "dma_length_width": 26, "dma_mm2s_mm_bits": 32,
             "dma_s2mm_mm_bits": 32, "ps_template": "ps_zynq7.tcl.j2", "xdc_name": "tsmfpga.xdc",
             "synth_hook": "synth_pre.tcl"}
    xdc = {"board_name": "pynq-z2", "part": "xc7z020clg400-1", "clock_mhz": "100",
           "period_ns": "10", "ps_clock_pin": "FCLK_CLK0"}
    return [
        ("tsmfpga.hw", "tsmfpga_top.sv.j2", top),
        ("tsmfpga.sim", "tb_stream.sv.j2", tb),
        ("tsmfpga.hw.vivado", "build.tcl.j2", build),
        ("tsmfpga.hw.vivado", "ps_zynq7.tcl.j2", {"clock_mhz": "100"}),
        ("tsmfpga.hw.vivado", "ps_zynq_us.tcl.j2", {"clock_mhz": "100"}),
        ("tsmfpga.hw.vivado", "synth_pre.tcl.j2", {"data_names": ["a.hex"]}),
        ("tsmfpga.hw.vivado", "tsmfpga.xdc.j2", xdc),
    ]


@pytest.mark.parametrize("package,name,context", _contexts(), ids=lambda v: v if isinstance(v, str) else "")
def test_missing_key_raises(package, name, context):
    assert render(package, name, **context)  # the full context renders
    for key in context:
        partial = {k: v for k, v in context.items() if k != key}
        with pytest.raises(TemplateError, match=rf"'{key}' is undefined"):
            render(package, name, **partial)


def test_missing_nested_key_raises():
    """Strictness reaches into the structured description too (e.g. a FIFO entry without its
    port map prefix)."""
    model, instances = _tiny_design()
    top, _ = describe_top(model, instances, {})
    fifo = next(b for b in top["body"] if b["kind"] == "fifo")
    del fifo["m"]
    with pytest.raises(TemplateError, match="'m'"):
        render("tsmfpga.hw", "tsmfpga_top.sv.j2", **top)


# stand-ins for the tiny design's two ops (ports as _tiny_design declares them), each with a
# reset register, so that the stitched top synthesizes
_MODS = """`default_nettype none
module mod_a #(parameter integer N = 8, parameter FILE = "") (
    input wire clk, input wire rst, input wire [7:0] s_tdata, input wire s_tvalid, output wire s_tready,
    output wire [7:0] m_tdata, output wire m_tvalid, input wire m_tready);
    reg v; reg [7:0] d;
    assign s_tready = !v || m_tready; assign m_tvalid = v; assign m_tdata = d;
    always @(posedge clk) if (rst) v <= 1'b0; else if (s_tready) begin v <= s_tvalid; d <= s_tdata + 8'(N); end
endmodule
module mod_b (
    input wire ap_clk, input wire ap_rst_n, input wire [7:0] in_V_TDATA, input wire in_V_TVALID,
    output wire in_V_TREADY, input wire in_tlast, input wire in_tuser, output wire [7:0] out_V_TDATA,
    output wire out_V_TVALID, input wire out_V_TREADY, output wire out_tuser, input wire cfg_en);
    reg v, u; reg [7:0] d;
    assign in_V_TREADY = !v || out_V_TREADY; assign out_V_TVALID = v; assign out_V_TDATA = d; assign out_tuser = u;
    always @(posedge ap_clk)
        if (!ap_rst_n) v <= 1'b0;
        else if (in_V_TREADY) begin v <= in_V_TVALID; d <= in_V_TDATA ^ {7'd0, in_tlast ^ cfg_en}; u <= in_tuser; end
endmodule
// the stitched top one level down, as in a board top (read_slang flattens: names get a prefix)
module wrap (input wire clk, input wire rst, input wire [7:0] d, input wire v, output wire [3:0] q, output wire o);
    wire r, l, e;
    tsmfpga_top u_accel (.clk(clk), .rst(rst), .s_axis_tdata(d), .s_axis_tvalid(v), .s_axis_tready(r),
                         .s_axis_tuser(v), .m_axis_tdata(q), .m_axis_tvalid(o), .m_axis_tready(1'b1),
                         .m_axis_tlast(l), .status_error(e));
endmodule
`default_nettype wire
"""


def test_reset_tree_gives_every_block_its_own_register():
    """rst reaches only the tree's root; every block (op, FIFO, DWC, clip flags, the output
    counter, the input hold-off) has a leaf of its own, registered from the root."""
    model, instances = _tiny_design()
    top, _ = render_top(model, instances, {})
    body = re.sub(r"//.*", "", top.split(");", 1)[1])
    assert len(re.findall(r"(?<![.\w])rst\b", body)) == 1   # the root's D only
    root = re.search(r"reg (rst_tree_\w+) = 1'b1;.*\n.*<= rst;", top).group(1)
    leaves = re.findall(rf"reg (rst_tree_\w+) = 1'b1;\n    always @\(posedge clk\) \1 <= {root};", top)
    used = re.findall(r"\.(?:rst|ap_rst_n)\(!?(rst_tree_\w+)\)", top)
    # A, B, B's clip flags, two FIFOs, one DWC each have their own leaf; the output counter too
    assert len(used) == len(set(used)) == 6 and set(used) < set(leaves)
    assert ".ap_rst_n(!" in top  # active-low ports get the inverted leaf
    assert len(leaves) == len(set(leaves)) == 8
    assert re.search(r"assign s_axis_tready = s_in_tready && !rst_tree_\w+;", top)


def test_reset_tree_survives_synthesis(tmp_path):
    """yosys would merge the leaves (same D, same clock) back into one register; the synthesis
    scripts keep them apart (hw.synth.KEEP_RESET_TREE): in the synth_ecp5 netlist every leaf is
    a net of its own."""
    import json

    from tsmfpga.hw.ecp5 import synth
    model, instances = _tiny_design()
    manifest = write_rtl(model, instances, tmp_path / "rtl", {})
    (tmp_path / "rtl" / "mods.sv").write_text(_MODS)
    srcs = [tmp_path / "rtl" / "mods.sv"] + [tmp_path / "rtl" / f for f in manifest["files"]]
    s = synth("wrap", srcs, tmp_path / "synth", defines=("SYNTHESIS",))
    nets = json.loads((tmp_path / "synth" / "wrap.json").read_text())["modules"]["wrap"]["netnames"]
    context, _ = describe_top(model, instances, {})
    names = [f"u_accel.{n}" for n in (context["reset_root"], *context["resets"])]
    bits = {n: tuple(nets[n]["bits"]) for n in names}
    assert len(bits) == 9 and len(set(bits.values())) == 9, bits
    assert s["cells"]["TRELLIS_FF"] >= 9 + 4
