"""swg_window (our sliding-window generator, hw/rtl/swg_window.sv) under cocotb:

* lockstep (Verilator): finn-rtllib's own generated ConvolutionInputGenerator_rtl (default style)
  and ours in one top on the same random inputs and backpressure; every cycle they must agree on
  both handshakes and the output data, and the output stream must equal a numpy im2col golden;
* alone on Icarus (4-state) against the same golden;
* the parameters are the ones the backend writes (``swg_window_params``), for dense and depthwise
  windows, channel folds of 1 and more (the three innermost-loop states), stride 2 with skipped
  rows/columns and non-square images.
"""

import json
import zlib
from pathlib import Path

import pytest
from onnx import helper

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.ops.finn_rtl import swg_window_params
from tsmfpga.hw.ops.owner import specialized
from tsmfpga.sim.runner import SimulationError, run_cocotb

TB_DIR = Path(__file__).parent / "tb"

# (H, W, C, K, stride, SIMD, bits, depthwise)
CASES = {
    "dense_k3_fold2": (6, 6, 4, 3, 1, 2, 4, False),         # innermost loop: SIMD
    "dense_k3_fold1": (5, 5, 4, 3, 1, 4, 2, False),         # innermost loop: KW
    "dense_k3_s2_skip": (7, 8, 2, 3, 2, 1, 3, False),       # stride 2, skipped row, non-square
    "dw_k3_fold2": (6, 5, 4, 3, 1, 2, 4, True),             # depthwise, rearranged loops
    "dw_k2_s2_pool": (8, 8, 4, 2, 2, 1, 4, True),           # the pooling window
    "dw_k2_s2_fold1": (6, 6, 3, 2, 2, 3, 4, True),          # depthwise, SIMD = C (KW innermost)
    "dw_global_k4": (4, 4, 4, 4, 1, 1, 4, True),            # global window: one output pixel
}


def _node(h, w, c, k, s, simd, bits, dw):
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    return helper.make_node(
        "ConvolutionInputGenerator", ["img"], ["win"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", ConvKernelDim=[k, k], IFMChannels=c, IFMDim=[h, w], OFMDim=[oh, ow],
        SIMD=simd, Stride=[s, s], Dilation=[1, 1], inputDataType=f"UINT{bits}",
        outputDataType=f"UINT{bits}", depthwise=int(dw), ram_style="distributed", name="ref_window")


def _lockstep_top(tmp: Path, params: dict, finn_module: str) -> Path:
    width = params["BIT_WIDTH"] * params["SIMD"]
    padded = (width + 7) // 8 * 8
    plist = ",\n        ".join(f".{k}({json.dumps(v) if isinstance(v, str) else v})" for k, v in params.items())
    top = tmp / "swg_lockstep.sv"
    top.write_text(f"""`default_nettype none
module swg_lockstep (
    input  wire clk, input wire rst,
    input  wire [{width - 1}:0] s_axis_tdata, input wire s_axis_tvalid, output wire s_axis_tready,
    output wire [{width - 1}:0] m_axis_tdata, output wire m_axis_tvalid, input wire m_axis_tready,
    output wire finn_s_axis_tready, output wire finn_m_axis_tvalid, output wire [{width - 1}:0] finn_m_axis_tdata
);
    swg_window #(
        {plist}
    ) ours (.clk(clk), .rst(rst), .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid),
            .s_axis_tready(s_axis_tready), .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid),
            .m_axis_tready(m_axis_tready));
    wire [{padded - 1}:0] finn_in = {padded}'(s_axis_tdata);
    wire [{padded - 1}:0] finn_out;
    assign finn_m_axis_tdata = finn_out[{width - 1}:0];
    {finn_module} finn (.ap_clk(clk), .ap_rst_n(!rst), .in0_V_TDATA(finn_in), .in0_V_TVALID(s_axis_tvalid),
        .in0_V_TREADY(finn_s_axis_tready), .out0_V_TDATA(finn_out), .out0_V_TVALID(finn_m_axis_tvalid),
        .out0_V_TREADY(m_axis_tready));
endmodule
`default_nettype wire
""")
    return top


def _geometry(case) -> str:
    h, w, c, k, s, simd, bits, dw = case
    return json.dumps({"h": h, "w": w, "channels": c, "k": k, "stride": s, "simd": simd, "bits": bits,
                       "depthwise": dw})


@pytest.fixture(autouse=True)
def finn_env(tmp_path, monkeypatch):
    """finn-plus reads its settings (finn-rtllib path) from FINN_BUILD_DIR's environment."""
    import finn.util.settings as finn_settings

    (tmp_path / "finn_build").mkdir()
    monkeypatch.setenv("FINN_BUILD_DIR", str(tmp_path / "finn_build"))
    monkeypatch.setattr(finn_settings, "_SETTINGS", None)  # restored after the test


def _seed(request) -> int:
    return zlib.crc32(request.node.nodeid.encode()) % (1 << 31)


@pytest.mark.parametrize("case", list(CASES))
def test_swg_window_lockstep_with_finn_rtllib(case, tmp_path, request):
    node = _node(*CASES[case])
    params = swg_window_params(node)
    spec = specialized(node, "rtl")
    assert spec.select_impl_style() == "default"
    gen = tmp_path / "finn"
    gen.mkdir()
    spec.set_nodeattr("code_gen_dir_ipgen", str(gen))
    spec.generate_hdl(None, "xc7z020clg400-1", 10.0)
    finn_files = [Path(f) for f in spec.get_rtl_file_list(abspath=True)]
    top = _lockstep_top(tmp_path, params, spec.get_nodeattr("gen_top_module"))
    run_cocotb(toplevel="swg_lockstep", sources=[*finn_files, rtl_source("swg_window.sv"), top],
               test_module="tb_swg_window", test_dir=TB_DIR, build_dir=tmp_path / "sim",
               simulator="verilator", seed=_seed(request),
               extra_env={"SWG_GEOMETRY": _geometry(CASES[case])})


@pytest.mark.parametrize("case", ["dense_k3_fold2", "dw_k3_fold2", "dense_k3_s2_skip"])
def test_swg_window_icarus(case, tmp_path, request):
    params = swg_window_params(_node(*CASES[case]))
    params.pop("RAM_STYLE")   # a string: the cocotb runner passes it unquoted to iverilog -P
    run_cocotb(toplevel="swg_window", sources=[rtl_source("swg_window.sv")], test_module="tb_swg_window",
               test_dir=TB_DIR, build_dir=tmp_path / "sim", simulator="icarus", parameters=params,
               seed=_seed(request), extra_env={"SWG_GEOMETRY": _geometry(CASES[case])})


def test_swg_window_lockstep_catches_a_broken_window(tmp_path, request):
    """The check can fail: a read-address step one element off at a kernel-row step must not pass."""
    case = CASES["dense_k3_fold2"]
    node = _node(*case)
    params = swg_window_params(node)
    params["HEAD_INCR_KH"] += 1
    params.pop("RAM_STYLE")
    with pytest.raises(SimulationError, match="fail"):
        run_cocotb(toplevel="swg_window", sources=[rtl_source("swg_window.sv")], test_module="tb_swg_window",
                   test_dir=TB_DIR, build_dir=tmp_path / "sim", simulator="verilator", parameters=params,
                   seed=_seed(request), extra_env={"SWG_GEOMETRY": _geometry(case)})
