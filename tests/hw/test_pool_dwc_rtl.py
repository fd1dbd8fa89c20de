"""pool (finn-plus Pool: MaxPool / QuantAvgPool) and axis_dwc (lane-granular width converter)
under cocotb on Verilator and Icarus, plus the checks that tie the pool testbench's numpy golden
(tests/hw/tb/golden_pool.py) to finn-plus itself:

* golden == Pool.execute_node (one-node graph through qonnx execute_onnx), max and avg,
  signed and unsigned;
* InferPool on a QuantAvgPool2d gives the Size (= our SHIFT) and AccumBits the golden predicts;
* chains: ConvolutionInputGenerator (depthwise, SIMD = PE) -> Pool executed by finn in Python
  equals a plain numpy pool of the NHWC image; and the SWG's hardware order (its RTL variant's
  cppsim output) fed through the golden's beat-level model of our RTL equals the same numpy pool,
  which is the stream order hw/rtl/pool.sv is built for.
"""

import math
from pathlib import Path

import numpy as np
import pytest

TB_DIR = Path(__file__).parent / "tb"
SIMULATORS = ["verilator", "icarus"]


def _pool_params(c, pe, k, in_bits, signed, out_bits, function, shift=0):
    return {"CHANNELS": c, "PE": pe, "KERNEL": k, "IN_BITS": in_bits, "IN_SIGNED": int(signed),
            "OUT_BITS": out_bits, "FUNCTION": function, "SHIFT": shift}


# FUNCTION 0 = MaxPool, 1 = QuantAvgPool; SHIFT = finn's Size (checked in test_pool_param_sets)
POOL_SETS = {
    "max_c16pe2k4u4": _pool_params(16, 2, 4, 4, False, 4, 0),
    "max_c32pe1k4u4": _pool_params(32, 1, 4, 4, False, 4, 0),
    "max_c8pe4k4s4": _pool_params(8, 4, 4, 4, True, 4, 0),
    # global average of a 4x4 map, UINT4 -> UINT8: AccumBits 8, Size 0 (a plain sum)
    "qavg_c32pe1k16u4o8": _pool_params(32, 1, 16, 4, False, 8, 1, 0),
    # 2x2 quantized average INT4 -> INT4: Size 2 (arithmetic shift of the sum)
    "qavg_c16pe4k4s4o4": _pool_params(16, 4, 4, 4, True, 4, 1, 2),
    # global average INT4 -> INT8: sums reach -128 = the INT8 minimum
    "qavg_c8pe2k16s4o8": _pool_params(8, 2, 16, 4, True, 8, 1, 0),
}


@pytest.fixture
def golden(monkeypatch):
    monkeypatch.syspath_prepend(str(TB_DIR))
    import golden_pool

    return golden_pool


@pytest.fixture
def finn_env(tmp_path, monkeypatch):
    """finn-plus wants FINN_BUILD_DIR for anything that may generate code."""
    monkeypatch.setenv("FINN_BUILD_DIR", str(tmp_path / "finn_build"))
    (tmp_path / "finn_build").mkdir()


def _cfg(golden, p):
    return golden.PoolCfg(p["CHANNELS"], p["PE"], p["KERNEL"], p["IN_BITS"], bool(p["IN_SIGNED"]),
                          p["OUT_BITS"], p["FUNCTION"], p["SHIFT"])


def _kernel_2d(k):
    s = math.isqrt(k)
    assert s * s == k
    return [s, s]


# ------------------------------------------------------------------------------- RTL simulations

@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("params", list(POOL_SETS.values()), ids=list(POOL_SETS))
def test_pool(simulator, params, run_tb):
    run_tb("pool", simulator, params)


DWC_SETS = {
    "4to2_b4": {"LANE_BITS": 4, "IN_LANES": 4, "OUT_LANES": 2},
    "2to4_b5": {"LANE_BITS": 5, "IN_LANES": 2, "OUT_LANES": 4},
    "4to12_b4": {"LANE_BITS": 4, "IN_LANES": 4, "OUT_LANES": 12},
    "3to2_b5": {"LANE_BITS": 5, "IN_LANES": 3, "OUT_LANES": 2},
    "2to3_b4": {"LANE_BITS": 4, "IN_LANES": 2, "OUT_LANES": 3},
    "24to4_b5": {"LANE_BITS": 5, "IN_LANES": 24, "OUT_LANES": 4},
}


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("params", list(DWC_SETS.values()), ids=list(DWC_SETS))
def test_axis_dwc(simulator, params, run_tb):
    run_tb("axis_dwc", simulator, params)


# ------------------------------------------------------------------------------- golden vs finn

def _pool_model(cfg, out_dims):
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from golden_pool import FUNCTION_NAMES

    oh, ow = out_dims
    node = helper.make_node(
        "Pool", ["x"], ["y"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        Channels=cfg.channels, PE=cfg.pe, KernelSize=_kernel_2d(cfg.kernel),
        Function=FUNCTION_NAMES[cfg.function], OutImgDims=[oh, ow],
        InputDataType=cfg.idt, OutputDataType=cfg.odt,
        AccumBits=0 if cfg.function == 0 else cfg.in_bits + (cfg.kernel - 1).bit_length(),
        Size=cfg.shift, BatchSize=1, name="Pool_golden")
    g = helper.make_graph(
        [node], "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, oh, ow, cfg.kernel * cfg.channels])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, oh, ow, cfg.channels])])
    model = ModelWrapper(qonnx_make_model(g))
    model.set_tensor_datatype("x", DataType[cfg.idt])
    model.set_tensor_datatype("y", DataType[cfg.odt])
    return model


@pytest.mark.parametrize("name", list(POOL_SETS))
def test_golden_matches_finn_pool(name, golden, finn_env):
    """golden.pool_windows == finn's Pool.execute_node on random window-order tensors (incl.
    all-min / all-max pixels), and the beat-level RTL model agrees on the hardware-order beats."""
    from qonnx.core.onnx_exec import execute_onnx

    cfg = _cfg(golden, POOL_SETS[name])
    rng = np.random.default_rng(7)
    model = _pool_model(cfg, (3, 5))
    for _ in range(4):
        x = golden.random_windows(rng, cfg, 15, p_extreme=0.2).reshape(1, 3, 5, -1)
        want = execute_onnx(model, {"x": x.astype(np.float32)})["y"]
        got = golden.pool_windows(x, cfg)
        assert np.array_equal(got, want), f"{cfg}: golden != finn Pool.execute_node"
        beats_in = golden.input_beats(x, cfg)
        assert golden.stream_model(beats_in, cfg) == golden.expected_beats(x, cfg)
        assert np.array_equal(golden.hw_to_window(golden.window_to_hw(x, cfg), cfg), x)


@pytest.mark.parametrize("name", list(POOL_SETS))
def test_pool_param_sets(name, golden, finn_env):
    """Our parameter sets use finn's own numbers: QuantAvgPool SHIFT = the shift both
    Pool.execute_node and QuantAvgPool2d.get_shifts (-> Size) compute; MaxPool keeps the type."""
    cfg = _cfg(golden, POOL_SETS[name])
    if cfg.function == golden.MAXPOOL:
        assert cfg.out_bits == cfg.in_bits and cfg.shift == 0
    else:
        assert cfg.shift == golden.quant_avg_shift(cfg.in_bits, cfg.out_bits, cfg.kernel)


@pytest.mark.parametrize(
    "k,c,ibits,obits,signed,size,accum",
    [(4, 32, 4, 8, 0, 0, 8),    # the reference global pool: AccumBits 8, UINT8, Size 0
     (2, 16, 4, 4, 1, 2, 6),    # 2x2 signed quantized average: shift 2
     (4, 8, 4, 8, 1, 0, 8)],
    ids=["global4x4_u4o8", "2x2_s4o4", "global4x4_s4o8"])
def test_infer_pool_from_quantavgpool(k, c, ibits, obits, signed, size, accum, golden, finn_env):
    """finn's InferPool turns QuantAvgPool2d (NHWC) into Im2Col + Pool with Size = our SHIFT;
    executing that graph (and the QuantAvgPool2d itself) equals golden's numpy pooling."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.util.basic import qonnx_make_model

    from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool

    h = 2 * k
    idt = DataType[f"{'INT' if signed else 'UINT'}{ibits}"]
    node = helper.make_node("QuantAvgPool2d", ["x"], ["y"], domain="qonnx.custom_op.general",
                            stride=k, kernel=k, ibits=ibits, obits=obits, signed=signed,
                            data_layout="NHWC")
    g = helper.make_graph([node], "qap",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, h, h, c])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, c])])
    model = ModelWrapper(qonnx_make_model(g))
    model.set_tensor_datatype("x", idt)
    rng = np.random.default_rng(3)
    img = rng.integers(idt.min(), idt.max() + 1, size=(1, h, h, c))
    img[0, :k, :k, :] = idt.min()  # one all-min window
    img[0, k:, k:, :] = idt.max()  # one all-max window
    before = execute_onnx(model, {"x": img.astype(np.float32)})["y"]

    model = model.transform(InferDataTypes())
    hw = model.transform(InferPool())
    pools = [n for n in hw.graph.node if n.op_type == "Pool"]
    assert len(pools) == 1 and {n.op_type for n in hw.graph.node} == {"Im2Col", "Pool"}
    op = getCustomOp(pools[0])
    assert op.get_nodeattr("Function") == "QuantAvgPool"
    assert op.get_nodeattr("Size") == size
    assert op.get_nodeattr("AccumBits") == accum
    assert op.get_nodeattr("OutputDataType") == f"{'INT' if signed else 'UINT'}{obits}"
    after = execute_onnx(hw, {"x": img.astype(np.float32)})["y"]

    cfg = golden.PoolCfg(c, c, k * k, ibits, bool(signed), obits, golden.QUANTAVGPOOL, size)
    assert size == golden.quant_avg_shift(ibits, obits, k * k)
    assert accum == golden.accum_bits(ibits, bool(signed), k * k)
    want = golden.numpy_pool_image(img, k, cfg)
    assert np.array_equal(before, want)
    assert np.array_equal(after, want)


def _swg_node(op_type, domain, h, k, c, pe, idt, **extra):
    from onnx import helper

    return helper.make_node(
        op_type, ["img"], ["win"], domain=domain, backend="fpgadataflow",
        ConvKernelDim=[k, k], IFMChannels=c, IFMDim=[h, h], OFMDim=[h // k, h // k], SIMD=pe,
        Stride=[k, k], Dilation=[1, 1], inputDataType=idt, outputDataType=idt, depthwise=1,
        name="SWG", **extra)


def _chain_model(nodes, h, k, c, idt, odt, last):
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    oh = h // k
    vi = [helper.make_tensor_value_info("win", TensorProto.FLOAT, [1, oh, oh, k * k * c])]
    g = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, h, h, c])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT,
                                       [1, oh, oh, c] if last == "y" else [1, oh, oh, k * k * c])],
        value_info=[] if last == "win" else vi)
    model = ModelWrapper(qonnx_make_model(g))
    model.set_tensor_datatype("img", DataType[idt])
    model.set_tensor_datatype("win", DataType[idt])
    if last == "y":
        model.set_tensor_datatype("y", DataType[odt])
    return model


CHAIN_SETS = {  # (image size, k, C, PE, in bits, signed, out bits, function)
    "max2x2_c16pe2_u4": (8, 2, 16, 2, 4, False, 4, 0),
    "max2x2_c8pe4_s4": (6, 2, 8, 4, 4, True, 4, 0),
    "max2x2_c6pe6_u3": (4, 2, 6, 6, 3, False, 3, 0),
    "gavg4x4_c32pe1_u4o8": (4, 4, 32, 1, 4, False, 8, 1),
    "avg2x2_c16pe4_s4o4": (4, 2, 16, 4, 4, True, 4, 1),
}


@pytest.mark.parametrize("name", list(CHAIN_SETS))
def test_swg_pool_chain_order(name, golden, finn_env):
    """The stream-order proof.

    1. finn in Python: ConvolutionInputGenerator(depthwise=1, SIMD=PE) -> Pool == numpy pooling of
       the NHWC image (Pool's execute_node expects im2col order (K, C)).
    2. The depthwise SWG's hardware order (ConvolutionInputGenerator_rtl's cppsim, which reorders
       im2col to what the RTL streams) is golden.window_to_hw, i.e. (C/PE, K, PE); cut into beats of
       PE lanes and reduced by golden.stream_model (the model of hw/rtl/pool.sv, K consecutive
       beats per output beat) it again gives numpy pooling of the image.
    3. For PE < C, Pool.execute_node applied to that hardware-order tensor is wrong: finn's Python
       model of Pool is only valid on the Python SWG's im2col order.
    """
    from qonnx.core.onnx_exec import execute_onnx

    h, k, c, pe, ibits, signed, obits, fn = CHAIN_SETS[name]
    shift = 0 if fn == 0 else golden.quant_avg_shift(ibits, obits, k * k)
    cfg = golden.PoolCfg(c, pe, k * k, ibits, signed, obits, fn, shift)
    rng = np.random.default_rng(11)
    lo, hi = golden.lane_range(ibits, signed)
    img = rng.integers(lo, hi + 1, size=(1, h, h, c))
    img[0, :k, :k, 0] = hi
    img[0, :k, k:2 * k, :] = lo
    want = golden.numpy_pool_image(img, k, cfg)
    x = img.astype(np.float32)

    pool = _pool_model(cfg, (h // k, h // k)).graph.node[0]
    pool.input[0] = "win"
    # 1. Python chain (finn's generic SWG, executed through Im2Col)
    swg = _swg_node("ConvolutionInputGenerator", "finn.custom_op.fpgadataflow", h, k, c, pe, cfg.idt)
    chain = _chain_model([swg, pool], h, k, c, cfg.idt, cfg.odt, "y")
    assert np.array_equal(execute_onnx(chain, {"img": x})["y"], want)
    win_py = execute_onnx(_chain_model([swg], h, k, c, cfg.idt, cfg.odt, "win"), {"img": x})["win"]
    assert np.array_equal(win_py, golden.im2col_depthwise(img, k)), "Python SWG is not im2col order"

    # 2. hardware order (ConvolutionInputGenerator_rtl cppsim) through the RTL's beat model
    swg_rtl = _swg_node("ConvolutionInputGenerator_rtl", "finn.custom_op.fpgadataflow.rtl",
                        h, k, c, pe, cfg.idt, exec_mode="cppsim")
    win_hw = execute_onnx(_chain_model([swg_rtl], h, k, c, cfg.idt, cfg.odt, "win"), {"img": x})["win"]
    assert np.array_equal(win_hw, golden.window_to_hw(golden.im2col_depthwise(img, k), cfg))
    beats = golden.to_beats(win_hw.astype(np.int64), pe, ibits)
    assert golden.stream_model(beats, cfg) == golden.to_beats(want, pe, obits)

    # 3. finn's Python Pool on the hardware order: right only when PE == C
    pool_only = _pool_model(cfg, (h // k, h // k))
    on_hw = execute_onnx(pool_only, {"x": win_hw})["y"]
    assert np.array_equal(on_hw, want) == (pe == c)


# ------------------------------------------------------------------------------- real SWG RTL chain

CHAIN_RTL_SETS = {  # (image size, k, C, PE, in bits, signed, out bits, function)
    "max2x2_c16pe2_u4": (8, 2, 16, 2, 4, False, 4, 0),
    "max2x2_c8pe4_s4": (6, 2, 8, 4, 4, True, 4, 0),
    "gavg4x4_c32pe1_u4o8": (4, 4, 32, 1, 4, False, 8, 1),
    "avg2x2_c16pe4_s4o4": (4, 2, 16, 4, 4, True, 4, 1),
}

_CHAIN_TOP = """`default_nettype none
// generated by tests/hw/test_pool_dwc_rtl.py: finn-plus' depthwise SWG RTL -> pool
module pool_swg_chain #(
    parameter integer CHANNELS  = {c},
    parameter integer PE        = {pe},
    parameter integer KERNEL    = {kk},
    parameter integer IN_BITS   = {ib},
    parameter integer IN_SIGNED = {sg},
    parameter integer OUT_BITS  = {ob},
    parameter integer FUNCTION  = {fn},
    parameter integer SHIFT     = {sh},
    parameter integer IMG_DIM   = {h},
    parameter integer WIN_DIM   = {k}
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [PE*IN_BITS-1:0]  s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    output wire [PE*OUT_BITS-1:0] m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready
);
    wire [{padw}-1:0] win_data;
    wire win_valid, win_ready;
    {swg} swg (
        .ap_clk(clk), .ap_rst_n(!rst),
        .in0_V_TDATA({in_pad}), .in0_V_TVALID(s_axis_tvalid), .in0_V_TREADY(s_axis_tready),
        .out0_V_TDATA(win_data), .out0_V_TVALID(win_valid), .out0_V_TREADY(win_ready)
    );
    pool #(.CHANNELS(CHANNELS), .PE(PE), .KERNEL(KERNEL), .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED),
           .OUT_BITS(OUT_BITS), .FUNCTION(FUNCTION), .SHIFT(SHIFT)) dut (
        .clk(clk), .rst(rst),
        .s_axis_tdata(win_data[PE*IN_BITS-1:0]), .s_axis_tvalid(win_valid), .s_axis_tready(win_ready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
    );
endmodule
`default_nettype wire
"""


@pytest.mark.parametrize("name", list(CHAIN_RTL_SETS))
def test_pool_behind_finn_swg_rtl(name, golden, tmp_path, monkeypatch, request):
    """finn-plus generates its depthwise ConvolutionInputGenerator RTL (SIMD = PE, stride = window);
    SWG -> pool.sv under Verilator on random NHWC images with random pauses == numpy pooling of
    the images. This checks the stream-order assumption against finn's real RTL, not its model."""
    import zlib

    import finn.util.settings as finn_settings
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.core.rtl import rtl_source
    from tsmfpga.sim.runner import run_cocotb

    h, k, c, pe, ibits, signed, obits, fn = CHAIN_RTL_SETS[name]
    shift = 0 if fn == 0 else golden.quant_avg_shift(ibits, obits, k * k)
    cfg = golden.PoolCfg(c, pe, k * k, ibits, signed, obits, fn, shift)

    monkeypatch.setenv("FINN_BUILD_DIR", str(tmp_path / "finn_build"))
    (tmp_path / "finn_build").mkdir()
    monkeypatch.setattr(finn_settings, "_SETTINGS", None)  # restored after the test
    finn_settings.initialize_dummy_settings()

    swg_node = _swg_node("ConvolutionInputGenerator_rtl", "finn.custom_op.fpgadataflow.rtl",
                         h, k, c, pe, cfg.idt)
    swg_node.name = "swg_dw"
    model = _chain_model([swg_node], h, k, c, cfg.idt, cfg.odt, "win")
    op = getCustomOp(model.graph.node[0])
    gen = tmp_path / "swg"
    gen.mkdir()
    op.set_nodeattr("code_gen_dir_ipgen", str(gen))
    op.generate_hdl(model, "xc7z020clg400-1", 10.0)
    swg_files = [Path(f) for f in op.get_rtl_file_list(abspath=True)]

    w_in, w_out = pe * ibits, pe * ibits
    pad_in = -(-w_in // 8) * 8
    pad_out = -(-w_out // 8) * 8
    in_pad = "s_axis_tdata" if pad_in == w_in else f"{{{pad_in - w_in}'b0, s_axis_tdata}}"
    top = tmp_path / "pool_swg_chain.sv"
    top.write_text(_CHAIN_TOP.format(c=c, pe=pe, kk=k * k, ib=ibits, sg=int(signed), ob=obits, fn=fn,
                                     sh=shift, h=h, k=k, padw=pad_out, swg=op.get_nodeattr("gen_top_module"),
                                     in_pad=in_pad))
    run_cocotb(
        toplevel="pool_swg_chain",
        sources=[*swg_files, rtl_source("pool.sv"), top],
        test_module="tb_pool",
        test_dir=TB_DIR,
        build_dir=tmp_path / "sim",
        simulator="verilator",
        seed=zlib.crc32(request.node.nodeid.encode()) % (1 << 31),
        extra_env={"COCOTB_TEST_FILTER": "extremes|random_traffic_with_backpressure"},
    )
