"""vvau (vector-vector-activation unit, the depthwise conv) under cocotb on Verilator and Icarus.

Golden: tests/hw/tb/golden_vvau.py, itself checked here against finn-plus' VVAU.execute_node.
Weights / thresholds are random per case, written as hex files before the build and handed to
the RTL as string parameters; the testbench reads the same data via $VVAU_CASE.
"""

import zlib
from pathlib import Path

import numpy as np
import pytest

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.ops.vvau import VVAU_SOURCES
from tsmfpga.sim.runner import run_cocotb

TB_DIR = Path(__file__).parent / "tb"
SIMULATORS = ["verilator", "icarus"]

# name -> (VvauParams kwargs, MAC_IMPL, RAM_STYLE)
CASES = {
    "a_u4xi4_k9_thr15": (dict(channels=8, pe=2, kernel=9, in_bits=4, in_signed=False, w_bits=4,
                              w_signed=True, nsteps=15, out_bits=4), "dsp", "block"),
    "b_u4xi4_pe_all": (dict(channels=6, pe=6, kernel=9, in_bits=4, in_signed=False, w_bits=4,
                            w_signed=True, nsteps=15, out_bits=4), "lut", "distributed"),
    "c_i4xi3_negact": (dict(channels=4, pe=1, kernel=9, in_bits=4, in_signed=True, w_bits=3,
                            w_signed=True, nsteps=7, act_val=-4, out_bits=3), "lut", "block"),
    "d_u8xi8_noact_k4": (dict(channels=6, pe=3, kernel=4, in_bits=8, in_signed=False, w_bits=8,
                              w_signed=True, nsteps=0), "dsp", "distributed"),
    "e_tight_acc": (dict(channels=4, pe=2, kernel=9, in_bits=4, in_signed=False, w_bits=4,
                         w_signed=True, nsteps=3, out_bits=2, w_max_abs=1), "lut", "block"),
    "f_k1_unsigned_w": (dict(channels=4, pe=4, kernel=1, in_bits=3, in_signed=False, w_bits=2,
                             w_signed=False, nsteps=0), "lut", "block"),
}


@pytest.fixture
def golden(monkeypatch):
    monkeypatch.syspath_prepend(str(TB_DIR))
    import golden_vvau

    return golden_vvau


def _make_case(golden, name):
    kwargs, mac_impl, ram_style = CASES[name]
    p = golden.VvauParams(**kwargs)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    w = golden.make_weights(p, rng)
    t = golden.make_thresholds(p, rng, w)
    return p, w, t, mac_impl, ram_style


#: (case, simulator) runs in the fast tier; every other pair is slow-tier (~50 s each here)
FAST = {("a_u4xi4_k9_thr15", "verilator"), ("c_i4xi3_negact", "icarus")}
RUNS = [pytest.param(c, s, marks=() if (c, s) in FAST else pytest.mark.slow) for c in CASES for s in SIMULATORS]


@pytest.mark.parametrize("case,simulator", RUNS)
def test_vvau(simulator, case, golden, tmp_path, request):
    p, w, t, mac_impl, ram_style = _make_case(golden, case)
    wf, tf = golden.write_memories(p, w, t, tmp_path / "mem")
    npz = golden.save_case(tmp_path / "case.npz", p, w, t)
    run_cocotb(
        toplevel="vvau",
        sources=[rtl_source(n) for n in VVAU_SOURCES],
        test_module="tb_vvau",
        test_dir=TB_DIR,
        build_dir=tmp_path / "sim",
        simulator=simulator,
        parameters={**p.rtl_parameters(wf.resolve(), tf.resolve() if tf else None, mac_impl),
                    "RAM_STYLE": f"\"{ram_style}\""},
        seed=zlib.crc32(request.node.nodeid.encode()) % (1 << 31),
        extra_env={"VVAU_CASE": str(npz.resolve())},
    )


def _finn_vvau(p, x, w, t, tmp_path):
    """finn-plus' VVAU (one-node model, no window generator before it: the input is read in
    stream order (C/PE, K, PE) per pixel) through qonnx execute_onnx; x as N pixels."""
    from tsmfpga.core import toolenv

    toolenv.prepare_finn_env(tmp_path)
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.basic import qonnx_make_model

    import golden_vvau as golden

    n = x.shape[0]
    idt = DataType[f"{'INT' if p.in_signed else 'UINT'}{p.in_bits}"]
    wdt = DataType[f"{'INT' if p.w_signed else 'UINT'}{p.w_bits}"]
    odt = DataType[f"{'INT' if p.out_signed else 'UINT'}{p.out_width}"]
    inp = helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, 1, n, p.kernel * p.channels])
    outp = helper.make_tensor_value_info("outp", TensorProto.FLOAT, [1, 1, n, p.channels])
    inputs = ["inp", "weights"] + (["thresh"] if p.nsteps else [])
    node = helper.make_node(
        "VVAU", inputs, ["outp"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        PE=p.pe, Dim=[1, n], Channels=p.channels, Kernel=[1, p.kernel], inputDataType=idt.name,
        weightDataType=wdt.name, outputDataType=odt.name, ActVal=p.act_val,
        noActivation=int(p.nsteps == 0))
    model = ModelWrapper(qonnx_make_model(helper.make_graph([node], "vvau", [inp], [outp])))
    model.set_tensor_datatype("inp", idt)
    model.set_initializer("weights", w.reshape(p.channels, 1, 1, p.kernel).astype(np.float32))
    model.set_tensor_datatype("weights", wdt)
    if p.nsteps:
        model.set_initializer("thresh", t.astype(np.float32))
    model.set_tensor_datatype("outp", odt)
    xs = golden.stream_order(p, x).reshape(1, 1, n, -1).astype(np.float32)
    out = execute_onnx(model, {"inp": xs})["outp"].reshape(n, p.channels)
    assert np.all(out == np.round(out))
    return out.astype(np.int64)


@pytest.mark.parametrize("case", list(CASES))
def test_golden_matches_finn(case, golden, tmp_path):
    """golden_vvau.expected == finn-plus' VVAU.execute_node on random and extreme windows (given in
    the SWG's stream order), for the same weights and thresholds."""
    p, w, t, _, _ = _make_case(golden, case)
    x = np.concatenate([golden.extreme_windows(p), golden.random_windows(p, np.random.default_rng(7), 60)])
    want = _finn_vvau(p, x, w, t, tmp_path)
    got = golden.expected(p, x, w, t)
    assert np.array_equal(got, want)
    assert len(np.unique(got)) >= min(3, p.nsteps + 1 if p.nsteps else 3)


@pytest.mark.parametrize("case", list(CASES))
def test_golden_layouts(case, golden):
    """Packing round trips; the extreme windows reach the accumulator range; a memory lane holds
    the weight / threshold the RTL header says."""
    p, w, t, _, _ = _make_case(golden, case)
    x = golden.extreme_windows(p)
    acc = golden.accumulate(p, x, w)
    assert (acc.min(), acc.max()) == p.acc_range
    y = golden.expected(p, x, w, t)
    assert np.array_equal(golden.beats_to_outputs(p, golden.output_beats(p, y)), y)
    words = golden.weight_words(p, w)
    assert len(words) == p.nf * p.kernel
    g, k, q = p.nf - 1, p.kernel - 1, p.pe - 1
    assert golden.unpack(words[g * p.kernel + k], p.pe, p.w_bits, p.w_signed)[q] == w[g * p.pe + q, k]
    beats = golden.input_beats(p, x[:1])
    assert golden.unpack(beats[g * p.kernel + k], p.pe, p.in_bits, p.in_signed)[q] == x[0, g * p.pe + q, k]
    if p.nsteps:
        tw = golden.threshold_words(p, t)
        assert golden.unpack(tw[g], p.pe * p.nsteps, p.t_bits, True)[q * p.nsteps + p.nsteps - 1] == \
            t[g * p.pe + q, p.nsteps - 1]


def _yosys(p, w, t, mac_impl, ram_style, work):
    """yosys synth_xilinx of one vvau with case data (a wrapper passes the string parameters)."""
    from tsmfpga.hw.resources import YOSYS_DEFINES
    from tsmfpga.hw.synth import yosys_estimate

    import golden_vvau as golden

    work.mkdir(parents=True, exist_ok=True)
    wf, tf = golden.write_memories(p, w, t, work)
    params = {**p.rtl_parameters(wf.name, tf.name if tf else None, mac_impl), "RAM_STYLE": f'"{ram_style}"'}
    plist = ", ".join(f".{k}({v})" for k, v in params.items())
    (work / "wrap.sv").write_text(
        f"module wrap (input wire clk, input wire rst, input wire [{p.pe * p.in_bits - 1}:0] s_axis_tdata,\n"
        "  input wire s_axis_tvalid, output wire s_axis_tready,\n"
        f"  output wire [{p.pe * p.out_width - 1}:0] m_axis_tdata, output wire m_axis_tvalid,\n"
        "  input wire m_axis_tready);\n"
        f"  vvau #({plist}) u (.clk(clk), .rst(rst), .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid),\n"
        "    .s_axis_tready(s_axis_tready), .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid),\n"
        "    .m_axis_tready(m_axis_tready));\nendmodule\n")
    data = [f for f in (wf, tf) if f]
    r = yosys_estimate("wrap", [*(rtl_source(n) for n in VVAU_SOURCES), work / "wrap.sv"], work / "y", data_files=data,
                       defines=YOSYS_DEFINES)["total"]
    print("vvau yosys", mac_impl, ram_style, {k: r.get(k) for k in ("LUT", "LUT_memory", "FF", "RAMB18", "RAMB36", "DSP")})
    return r


@pytest.mark.slow
def test_yosys_vvau_mac_impl_and_ram_style(golden, tmp_path):
    """The declared decisions move the resources the owner's estimate says (yosys synth_xilinx):
    MAC_IMPL "dsp" = one DSP48E1 per lane (PE), "lut" = none; a "distributed" weight ROM uses no
    block RAM. Case: 64 channels, PE 4 (a weight ROM of NF*KERNEL = 144 words)."""
    p = golden.VvauParams(channels=64, pe=4, kernel=9, in_bits=4, in_signed=False, w_bits=4, w_signed=True,
                          nsteps=15, out_bits=4)
    rng = np.random.default_rng(3)
    w = golden.make_weights(p, rng)
    t = golden.make_thresholds(p, rng, w)
    dsp = _yosys(p, w, t, "dsp", "block", tmp_path / "dsp")
    lut = _yosys(p, w, t, "lut", "distributed", tmp_path / "lut")
    assert dsp["DSP"] == p.pe and lut["DSP"] == 0
    assert lut["LUT"] > dsp["LUT"]
    assert lut["RAMB18"] + lut["RAMB36"] == 0
