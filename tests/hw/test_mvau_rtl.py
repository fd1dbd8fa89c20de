"""mvau (matrix-vector-activation unit) under cocotb on Verilator and Icarus.

Golden: tests/hw/tb/golden_mvau.py, itself checked here against finn-plus' MVAU.execute_node.
Weights / thresholds are random per parameter set, written as hex files before the build and
handed to the RTL as string parameters (WEIGHT_FILE / THRESH_FILE, quotes included in the value:
cocotb_tools passes -G / -P values verbatim); the testbench gets the same data via $MVAU_CASE.
"""

import zlib
from pathlib import Path

import numpy as np
import pytest

from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.ops.mvau import MVAU_SOURCES, PACK_PORT_BITS, dsp_pack_lanes, pack_field_bits
from tsmfpga.sim.runner import run_cocotb

TB_DIR = Path(__file__).parent / "tb"
SIMULATORS = ["verilator", "icarus"]

# name -> (MvauParams kwargs, MAC_IMPL)
CASES = {
    "a_u8xi8_thr15": (dict(mw=9, mh=16, simd=3, pe=4, in_bits=8, in_signed=False, w_bits=8,
                           w_signed=True, nsteps=15, act_val=0, out_bits=4), "lut"),
    "b_u4xi4_mw144": (dict(mw=144, mh=16, simd=12, pe=4, in_bits=4, in_signed=False, w_bits=4,
                           w_signed=True, nsteps=15, act_val=0, out_bits=4), "dsp"),
    "c_u8xi8_noact": (dict(mw=32, mh=10, simd=1, pe=1, in_bits=8, in_signed=False, w_bits=8,
                           w_signed=True, nsteps=0), "lut"),
    "d_xnor": (dict(mw=64, mh=8, simd=16, pe=2, in_bits=1, in_signed=False, w_bits=1,
                    w_signed=False, xnor=True, nsteps=1, act_val=0, out_bits=1), "lut"),
    "e_i4xi2_negact": (dict(mw=24, mh=6, simd=4, pe=2, in_bits=4, in_signed=True, w_bits=2,
                            w_signed=True, nsteps=7, act_val=-4, out_bits=3), "dsp"),
    # dot-product packing (DSP_LANES): 2 lanes of 4-bit x 4-bit per multiplier; 3 lanes of 2-bit
    # with SIMD 8 (the last multiplier has 2 lanes); unsigned weights (no offset correction);
    # SIMD = lanes (one leaf, no adder tree)
    "f_u4xi4_pack2": (dict(mw=144, mh=16, simd=12, pe=4, in_bits=4, in_signed=False, w_bits=4,
                           w_signed=True, nsteps=15, act_val=0, out_bits=4, dsp_lanes=2), "dsp"),
    "g_u2xi2_pack3_pad": (dict(mw=40, mh=6, simd=8, pe=2, in_bits=2, in_signed=False, w_bits=2,
                               w_signed=True, nsteps=3, act_val=-1, out_bits=3, dsp_lanes=3), "dsp"),
    "h_u4xu3_pack2_noact": (dict(mw=36, mh=4, simd=6, pe=1, in_bits=4, in_signed=False, w_bits=3,
                                 w_signed=False, nsteps=0, dsp_lanes=2), "dsp"),
    "i_u4xi4_pack2_simd2": (dict(mw=8, mh=8, simd=2, pe=8, in_bits=4, in_signed=False, w_bits=4,
                                 w_signed=True, nsteps=0, dsp_lanes=2), "dsp"),
}
#: cases simulated with RAM_STYLE "distributed" (the others: "block")
DISTRIBUTED_ROM = {"c_u8xi8_noact": "distributed", "e_i4xi2_negact": "distributed"}
FINN_CASES = ["a_u8xi8_thr15", "c_u8xi8_noact", "d_xnor", "e_i4xi2_negact", "g_u2xi2_pack3_pad"]


@pytest.fixture
def golden(monkeypatch):
    monkeypatch.syspath_prepend(str(TB_DIR))
    import golden_mvau

    return golden_mvau


def _make_case(golden, name):
    kwargs, mac_impl = CASES[name]
    p = golden.MvauParams(**kwargs)
    assert p.dsp_lanes == 1 or mac_impl == "dsp", "DSP_LANES packs DSP MACs only"
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    w = golden.make_weights(p, rng)
    t = golden.make_thresholds(p, rng, w)
    return p, w, t, mac_impl


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("case", list(CASES))
def test_mvau(simulator, case, golden, tmp_path, request):
    p, w, t, mac_impl = _make_case(golden, case)
    wf, tf = golden.write_memories(p, w, t, tmp_path / "mem")
    npz = golden.save_case(tmp_path / "case.npz", p, w, t)
    run_cocotb(
        toplevel="mvau",
        sources=[rtl_source(n) for n in MVAU_SOURCES],
        test_module="tb_mvau",
        test_dir=TB_DIR,
        build_dir=tmp_path / "sim",
        simulator=simulator,
        # the weight ROM's RAM_STYLE changes synthesis attributes only: both must simulate alike
        parameters={**p.rtl_parameters(wf.resolve(), tf.resolve() if tf else None, mac_impl),
                    "RAM_STYLE": f"\"{DISTRIBUTED_ROM.get(case, 'block')}\""},
        seed=zlib.crc32(request.node.nodeid.encode()) % (1 << 31),
        extra_env={"MVAU_CASE": str(npz.resolve())},
    )


def _finn_mvau(p, x, w, t, tmp_path):
    """Run finn-plus' MVAU (one-node model) through qonnx execute_onnx."""
    from tsmfpga.core import toolenv

    toolenv.prepare_finn_env(tmp_path)
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.basic import qonnx_make_model

    n = x.shape[0]
    if p.xnor:
        idt = wdt = DataType["BINARY"]
    else:
        idt = DataType[f"{'INT' if p.in_signed else 'UINT'}{p.in_bits}"]
        wdt = DataType[f"{'INT' if p.w_signed else 'UINT'}{p.w_bits}"]
    odt = DataType[f"{'INT' if p.out_signed else 'UINT'}{p.out_width}"]
    inp = helper.make_tensor_value_info("inp", TensorProto.FLOAT, [n, p.mw])
    outp = helper.make_tensor_value_info("outp", TensorProto.FLOAT, [n, p.mh])
    inputs = ["inp", "weights"] + (["thresh"] if p.nsteps else [])
    node = helper.make_node(
        "MVAU", inputs, ["outp"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        MW=p.mw, MH=p.mh, SIMD=p.simd, PE=p.pe, inputDataType=idt.name, weightDataType=wdt.name,
        outputDataType=odt.name, ActVal=p.act_val, binaryXnorMode=int(p.xnor),
        noActivation=int(p.nsteps == 0), numInputVectors=[n],
    )
    model = ModelWrapper(qonnx_make_model(helper.make_graph([node], "mvau", [inp], [outp])))
    model.set_tensor_datatype("inp", idt)
    model.set_tensor_datatype("weights", wdt)
    model.set_initializer("weights", w.astype(np.float32))
    if p.nsteps:
        model.set_initializer("thresh", t.astype(np.float32))
    model.set_tensor_datatype("outp", odt)
    out = execute_onnx(model, {"inp": x.astype(np.float32)})["outp"]
    assert np.all(out == np.round(out))
    return out.astype(np.int64)


@pytest.mark.parametrize("case", FINN_CASES)
def test_golden_matches_finn(case, golden, tmp_path):
    """golden_mvau.expected == finn-plus' MVAU.execute_node (matmul / xnor-popcount +
    MultiThreshold + ActVal) on random and extreme vectors, for the same W and T."""
    p, w, t, _ = _make_case(golden, case)
    rng = np.random.default_rng(7)
    x = np.concatenate([golden.extreme_vectors(p), golden.random_vectors(p, rng, 60)])
    want = _finn_mvau(p, x, w, t, tmp_path)
    got = golden.expected(p, x, w, t)
    assert np.array_equal(got, want)
    # the data is not degenerate: several output levels occur on every case
    assert len(np.unique(got)) >= min(3, p.nsteps + 1 if p.nsteps else 3)


@pytest.mark.parametrize("case", list(CASES))
def test_golden_layouts(case, golden):
    """Memory / stream packing round trips and the extreme vectors reach the accumulator range."""
    p, w, t, _ = _make_case(golden, case)
    x = golden.extreme_vectors(p)
    acc = golden.accumulate(p, x, w)
    assert (acc.min(), acc.max()) == p.acc_range
    y = golden.expected(p, x, w, t)
    assert np.array_equal(golden.beats_to_outputs(p, golden.output_beats(p, y)), y)
    words = golden.weight_words(p, w)
    assert len(words) == p.nf * p.sf
    # lane (pe, s) of word nf*SF+sf holds W[sf*SIMD+s, nf*PE+pe]
    nf, sf, pe, s = p.nf - 1, p.sf - 1, p.pe - 1, p.simd - 1
    lane = golden.unpack(words[nf * p.sf + sf], p.pe * p.simd, p.w_bits, p.w_signed)
    assert lane[pe * p.simd + s] == w[sf * p.simd + s, nf * p.pe + pe]
    if p.nsteps:
        tw = golden.threshold_words(p, t)
        lanes = golden.unpack(tw[nf], p.pe * p.nsteps, p.t_bits, True)
        assert lanes[pe * p.nsteps + p.nsteps - 1] == t[nf * p.pe + pe, p.nsteps - 1]
        assert np.all(np.diff(t, axis=1) >= 0)


@pytest.mark.parametrize("case", [c for c, (kw, _) in CASES.items() if kw.get("dsp_lanes", 1) > 1])
def test_packed_cases_use_the_owners_lanes(case, golden):
    """The packed cases simulate the lane counts the backend picks for their types and SIMD
    (tsmfpga.hw.ops.mvau.dsp_pack_lanes), and the packed operands fit 18-bit signed ports."""
    p, _, _, _ = _make_case(golden, case)
    assert dsp_pack_lanes(p.in_bits, p.in_signed, p.w_bits, p.simd) == p.dsp_lanes
    s = pack_field_bits(p.in_bits, p.w_bits, p.dsp_lanes)
    assert (p.dsp_lanes - 1) * s + max(p.in_bits, p.w_bits) + 1 <= PACK_PORT_BITS
    assert dsp_pack_lanes(p.in_bits, True, p.w_bits, p.simd) == 1  # signed inputs: no packing
