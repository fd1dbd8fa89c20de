"""Every folding decision is a declared node attribute that the RTL backend honours, and synthesis
(yosys synth_xilinx) moves the resource the way the owner's estimate says.

(a) fast: the RtlInstance the owner builds changes with the decision (MVAU PE/SIMD, resType,
    ram_style; TemporalShift ram_style, PE); an invalid value names the node and the field.
(b) yosys on one small instance (wrapper generated from the RtlInstance itself, so exactly what
    the stitcher would instantiate is synthesized); all slow except the TemporalShift ram_style one.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model

from tsmfpga.hw.backend import BackendError
from tsmfpga.hw.boards import get_board
from tsmfpga.hw.ops import estimate_layer, make_temporal_shift_node, owner_for
from tsmfpga.hw.resources import YOSYS_DEFINES


@pytest.fixture(scope="module", autouse=True)
def _finn_env(tmp_path_factory):
    from tsmfpga.core import toolenv

    toolenv.prepare_finn_env(tmp_path_factory.mktemp("finn"))


@pytest.fixture(scope="module")
def board():
    return get_board("pynq-z2")


def mvau_model(mw=64, mh=16, simd=4, pe=2, res_type="dsp", ram_style="block", seed=0):
    """One MVAU (UINT4 x INT4, no activation) with random weights."""
    idt, wdt, odt = DataType["UINT4"], DataType["INT4"], DataType["INT16"]
    node = helper.make_node(
        "MVAU", ["inp", "weights"], ["outp"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        name="MVAU_0", MW=mw, MH=mh, SIMD=simd, PE=pe, inputDataType=idt.name, weightDataType=wdt.name,
        outputDataType=odt.name, noActivation=1, numInputVectors=[1], resType=res_type, ram_style=ram_style)
    g = helper.make_graph([node], "mvau", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, mw])],
                          [helper.make_tensor_value_info("outp", TensorProto.FLOAT, [1, mh])])
    model = ModelWrapper(qonnx_make_model(g))
    model.set_tensor_datatype("inp", idt)
    model.set_tensor_datatype("weights", wdt)
    model.set_tensor_datatype("outp", odt)
    w = np.random.default_rng(seed).integers(-8, 8, (mw, mh))
    model.set_initializer("weights", w.astype(np.float32))
    return model


def ts_model(c=16, k=4, pe=2, h=16, w=16, bits=4, ram_style="block"):
    """One TemporalShift (UINT<bits>, H x W x C, K shifted channels)."""
    node = make_temporal_shift_node("x", "y", c, k, (h, w), input_dtype=f"UINT{bits}", name="TemporalShift_0")
    node.attribute.extend([helper.make_attribute("ram_style", ram_style)])
    getCustomOp(node).set_nodeattr("PE", pe)
    vi = [helper.make_tensor_value_info(t, TensorProto.FLOAT, [1, h, w, c]) for t in "xy"]
    model = ModelWrapper(qonnx_make_model(helper.make_graph([node], "ts", [vi[0]], [vi[1]])))
    for t in "xy":
        model.set_tensor_datatype(t, DataType[f"UINT{bits}"])
    return model


def rtl(model):
    node = model.graph.node[0]
    return owner_for(node).rtl(model, node, {})


def estimate(model, board):
    return estimate_layer(model, model.graph.node[0], board)


# ----------------------------------------------------------------------------- (a) generated RTL
def test_mvau_pe_simd_reach_the_rtl():
    a, b = rtl(mvau_model(simd=4, pe=2)), rtl(mvau_model(simd=8, pe=4))
    assert (a.params["PE"], a.params["SIMD"]) == (2, 4) and (b.params["PE"], b.params["SIMD"]) == (4, 8)
    assert a.inputs[0].lanes == 4 and b.inputs[0].lanes == 8 and b.outputs[0].lanes == 4
    wa, wb = a.files["MVAU_0_weights.hex"].split(), b.files["MVAU_0_weights.hex"].split()
    assert len(wa) == (16 // 2) * (64 // 4) and len(wb) == (16 // 4) * (64 // 8)   # NF*SF words


def test_mvau_res_type_and_ram_style_reach_the_rtl():
    assert rtl(mvau_model(res_type="dsp")).params["MAC_IMPL"] == "dsp"
    assert rtl(mvau_model(res_type="lut")).params["MAC_IMPL"] == "lut"
    assert rtl(mvau_model(ram_style="block")).params["RAM_STYLE"] == "block"
    assert rtl(mvau_model(ram_style="distributed")).params["RAM_STYLE"] == "distributed"
    # undecided (never folded): what the RTL defaults are, as the estimate assumes for resType
    auto = rtl(mvau_model(res_type="auto", ram_style="auto")).params
    assert (auto["MAC_IMPL"], auto["RAM_STYLE"]) == ("dsp", "block")


def test_temporal_shift_decisions_reach_the_rtl():
    a, b = rtl(ts_model(pe=1, ram_style="block")), rtl(ts_model(pe=4, ram_style="distributed"))
    assert (a.params["PE"], a.params["RAM_STYLE"]) == (1, "block")
    assert (b.params["PE"], b.params["RAM_STYLE"]) == (4, "distributed")
    assert a.inputs[0].lanes == 1 and b.inputs[0].lanes == 4
    assert a.clip_frame_beats == 4 * b.clip_frame_beats


@pytest.mark.parametrize("field,make", [
    ("resType", lambda: mvau_model()), ("ram_style", lambda: mvau_model()), ("ram_style", lambda: ts_model())])
def test_invalid_decision_names_node_and_field(field, make):
    model = make()
    node = model.graph.node[0]
    for a in node.attribute:
        if a.name == field:
            a.s = b"ultra_fast"
    with pytest.raises(BackendError, match=rf"node {node.name} .*{field} = 'ultra_fast'"):
        owner_for(node).rtl(model, node, {})


def test_estimate_follows_the_decisions(board):
    blk, dist = estimate(mvau_model(ram_style="block"), board), estimate(mvau_model(ram_style="distributed"), board)
    assert blk["ram_style"] == "block" and blk["resources"]["BRAM36"] > 0
    assert dist["resources"]["BRAM36"] == 0 and dist["resources"]["LUTRAM"] > blk["resources"]["LUTRAM"]
    dsp, lut = estimate(mvau_model(res_type="dsp"), board), estimate(mvau_model(res_type="lut"), board)
    # UINT4 x INT4: two SIMD lanes per multiplier (dot-product packing) -> PE * SIMD / 2
    assert dsp["dsp_lanes"] == 2 and dsp["resources"]["DSP"] == 2 * 4 // 2 and lut["resources"]["DSP"] == 0
    assert lut["resources"]["LUT"] > dsp["resources"]["LUT"]
    tb, td = estimate(ts_model(ram_style="block"), board), estimate(ts_model(ram_style="distributed"), board)
    assert tb["resources"]["BRAM36"] > 0 and td["resources"]["BRAM36"] == 0 and td["resources"]["LUTRAM"] > 0


# ----------------------------------------------------------------------------- (b) yosys
def synth(inst, work):
    """yosys synth_xilinx of ``inst`` alone, through a wrapper that passes its params."""
    from tsmfpga.hw.synth import yosys_estimate

    work.mkdir(parents=True, exist_ok=True)
    ports = []
    for s in inst.inputs:
        ports += [(s.tdata, "input", s.port_width), (s.tvalid, "input", 1), (s.tready, "output", 1)]
        ports += [(p, "input", 1) for p in (s.tlast, s.tuser) if p]
    for s in inst.outputs:
        ports += [(s.tdata, "output", s.port_width), (s.tvalid, "output", 1), (s.tready, "input", 1)]
        ports += [(p, "output", 1) for p in (s.tlast, s.tuser) if p]
    params = ", ".join(f".{k}({chr(34) + v + chr(34) if isinstance(v, str) else v})" for k, v in inst.params.items())
    decl = ", ".join(f"{d} wire [{n - 1}:0] {p}" for p, d, n in ports)
    conn = ", ".join(f".{p}({p})" for p, _, _ in ports)
    (work / "wrap.sv").write_text(f"module wrap (input wire clk, input wire rst, {decl});\n"
                                  f"  {inst.module} #({params}) u (.{inst.clk}(clk), .{inst.rst}(rst), {conn});\n"
                                  "endmodule\n")
    data, hdl = [], []
    for name, text in inst.files.items():
        (work / name).write_text(text)
        (hdl if name.endswith((".v", ".sv")) else data).append(work / name)  # generated wrappers: sources
    r = yosys_estimate("wrap", [*inst.sources, *hdl, work / "wrap.sv"], work / "y", data_files=data,
                       defines=YOSYS_DEFINES)["total"]
    print(inst.module, inst.params.get("PE"), inst.params.get("RAM_STYLE"), inst.params.get("MAC_IMPL"),
          {k: r.get(k) for k in ("LUT", "LUT_memory", "FF", "RAMB18", "RAMB36", "DSP")})
    return r


def test_yosys_temporal_shift_ram_style(tmp_path, board):
    """Cheap (~20 s): the frame buffer goes to BRAM or LUTRAM as the decision and estimate say."""
    blk = synth(rtl(ts_model(ram_style="block")), tmp_path / "blk")
    dist = synth(rtl(ts_model(ram_style="distributed")), tmp_path / "dist")
    est = estimate(ts_model(ram_style="distributed"), board)
    assert blk["RAMB18"] + blk["RAMB36"] > 0 and blk["LUT_memory"] == 0
    assert dist["RAMB18"] + dist["RAMB36"] == 0 and dist["LUT"] > blk["LUT"]
    assert dist["LUT_memory"] == est["resources"]["LUTRAM"] > 0


@pytest.mark.slow
def test_yosys_temporal_shift_pe(tmp_path, board):
    """More PE: wider read/output registers, as the FF estimate says (the LUTRAM total is the
    same bits either way; yosys' logic LUTs barely move, our LUT formula adds 2*PE*b)."""
    e1, e4 = (estimate(ts_model(pe=p, ram_style="distributed"), board) for p in (1, 4))
    r1 = synth(rtl(ts_model(pe=1, ram_style="distributed")), tmp_path / "pe1")
    r4 = synth(rtl(ts_model(pe=4, ram_style="distributed")), tmp_path / "pe4")
    assert e4["resources"]["FF"] > e1["resources"]["FF"] and r4["FF"] > r1["FF"]
    assert r4["LUT_memory"] == e4["resources"]["LUTRAM"] and r1["LUT_memory"] == e1["resources"]["LUTRAM"]


@pytest.mark.slow
def test_yosys_mvau_ram_style(tmp_path):
    blk = synth(rtl(mvau_model(ram_style="block")), tmp_path / "blk")
    dist = synth(rtl(mvau_model(ram_style="distributed")), tmp_path / "dist")
    assert blk["RAMB18"] + blk["RAMB36"] > 0
    assert dist["RAMB18"] + dist["RAMB36"] == 0 and dist["LUT"] > blk["LUT"]


@pytest.mark.slow
def test_yosys_mvau_res_type(tmp_path, board):
    dsp = synth(rtl(mvau_model(res_type="dsp")), tmp_path / "dsp")
    lut = synth(rtl(mvau_model(res_type="lut")), tmp_path / "lut")
    assert dsp["DSP"] == estimate(mvau_model(res_type="dsp"), board)["resources"]["DSP"] > 0
    assert lut["DSP"] == 0 and lut["LUT"] > dsp["LUT"]


@pytest.mark.slow
def test_yosys_mvau_pe_simd(tmp_path, board):
    small = synth(rtl(mvau_model(simd=2, pe=1)), tmp_path / "small")
    big = synth(rtl(mvau_model(simd=4, pe=4)), tmp_path / "big")
    es, eb = estimate(mvau_model(simd=2, pe=1), board), estimate(mvau_model(simd=4, pe=4), board)
    # UINT4 x INT4 packs 2 SIMD lanes per multiplier: PE * ceil(SIMD / 2) DSP48E1 in yosys
    assert (small["DSP"], big["DSP"]) == (es["resources"]["DSP"], eb["resources"]["DSP"]) == (1, 8)
    assert eb["resources"]["LUT"] > es["resources"]["LUT"] and big["LUT"] > small["LUT"]


# ----------------------------------------------------------------------------- Thresholding memory
def thr_model(channels=16, steps=255, in_bits=16, pe=1, seed=0):
    """One standalone Thresholding (INT<in_bits> -> UINT8 with 255 steps: 8 binary-search stages)."""
    out_bits = int(np.ceil(np.log2(steps + 1)))
    node = helper.make_node("Thresholding", ["inp", "thr"], ["outp"], domain="finn.custom_op.fpgadataflow",
                            backend="fpgadataflow", name="Thresholding_0", NumChannels=channels, PE=pe,
                            numSteps=steps, inputDataType=f"INT{in_bits}", weightDataType=f"INT{in_bits}",
                            outputDataType=f"UINT{out_bits}", numInputVectors=[1, 4, 4], ActVal=0)
    g = helper.make_graph([node], "thr", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, 4, 4, channels])],
                          [helper.make_tensor_value_info("outp", TensorProto.FLOAT, [1, 4, 4, channels])])
    model = ModelWrapper(qonnx_make_model(g))
    model.set_tensor_datatype("inp", DataType[f"INT{in_bits}"])
    model.set_tensor_datatype("outp", DataType[f"UINT{out_bits}"])
    t = np.sort(np.random.default_rng(seed).integers(-(1 << (in_bits - 1)), 1 << (in_bits - 1), (channels, steps)), axis=1)
    model.set_initializer("thr", t.astype(np.float32))
    model.set_tensor_datatype("thr", DataType[f"INT{in_bits}"])
    return model


def test_threshold_memory_decision(board, tmp_path):
    """255 thresholds per channel: the default puts the deep binary-search stages in BRAM (the
    8-bit TSM did not fit in LUT RAM); "distributed" moves them all to LUT RAM; the decision is
    the node's depth_trigger_bram and reaches the finn-rtllib wrapper."""
    from tsmfpga.hw.ops import rtl_context
    from tsmfpga.hw.ops.finn_rtl import ALL_DISTRIBUTED, block_trigger, depth_trigger_of

    model = thr_model()
    node = model.graph.node[0]
    owner = owner_for(node)
    assert depth_trigger_of(node) == 0            # undecided until the folder decides
    owner.decide(model, node, board)
    trig = depth_trigger_of(node)
    assert trig == block_trigger(node) and 16 <= trig <= 2048
    blk = estimate(model, board)
    owner.set_ram_style(node, "distributed")
    assert depth_trigger_of(node) == ALL_DISTRIBUTED
    dist = estimate(model, board)
    assert blk["ram_style"] == "block" and dist["ram_style"] == "distributed"
    assert blk["resources"]["BRAM36"] > 0 and dist["resources"]["BRAM36"] == 0
    assert dist["resources"]["LUTRAM"] > 2 * blk["resources"]["LUTRAM"]
    for style, want in (("block", trig), ("distributed", ALL_DISTRIBUTED)):
        owner.set_ram_style(node, style)
        inst = owner.rtl(model, node, rtl_context(model, "xc7z020clg400-1", 100.0))
        wrapper = "\n".join(v for k, v in inst.files.items() if k.endswith((".v", ".sv")))
        assert f"DEPTH_TRIGGER_BRAM = {want}," in wrapper


@pytest.mark.slow
def test_yosys_threshold_memory(tmp_path, board):
    """yosys follows the threshold-memory decision: block RAMs for the deep stages, none when
    everything is distributed."""
    from tsmfpga.hw.ops import rtl_context

    out = {}
    for style in ("block", "distributed"):
        model = thr_model()
        node = model.graph.node[0]
        owner_for(node).set_ram_style(node, style)
        out[style] = synth(owner_for(node).rtl(model, node, rtl_context(model, "xc7z020clg400-1", 100.0)),
                           tmp_path / style)
    assert out["block"]["RAMB18"] + out["block"]["RAMB36"] > 0
    assert out["distributed"]["RAMB18"] + out["distributed"]["RAMB36"] == 0
    assert out["distributed"]["LUT"] > out["block"]["LUT"]   # ROMs as LUT logic in yosys
