"""A declared integer input (`compile --input-type/--input-scale`) for models that do float
arithmetic before their first quantizer (brevitas_examples' BNN-PYNQ TFC: flatten, ``2x - 1``):
the passes keep the graph's function (run before and after, compare), the declaration is checked
with clear errors, and the front end then maps the published network to HW layers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_zoo import export_bnn_pynq, run_cli


def _run(model, x):
    from qonnx.core.onnx_exec import execute_onnx

    return execute_onnx(model, {model.graph.input[0].name: x})[model.graph.output[0].name]


@pytest.fixture(scope="module")
def tfc(tmp_path_factory):
    return export_bnn_pynq("tfc_2w2a", tmp_path_factory.mktemp("tfc") / "tfc_2w2a.onnx")


@pytest.fixture(scope="module")
def tidy_tfc(tfc):
    from tsmfpga.core.graph import load_model
    from tsmfpga.flow.steps import run_step

    return run_step("tidy", load_model(tfc), None)


def _codes(n=6, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(n, 1, 1, 28, 28)).astype(np.float32)
    codes[0] = 0
    codes[1] = 255  # the extremes of the code range
    return codes


def test_declare_integer_input_keeps_the_function(tidy_tfc):
    import copy

    from qonnx.core.datatype import DataType

    from tsmfpga.core.records import get_meta
    from tsmfpga.flow.transforms.io_prep import DeclareIntegerInput

    before = copy.deepcopy(tidy_tfc)
    inp = before.graph.input[0].name
    assert not before.get_tensor_datatype(inp).is_integer()
    after = copy.deepcopy(tidy_tfc).transform(DeclareIntegerInput("UINT8", "1/255"))
    assert after.graph.input[0].name == inp and after.get_tensor_datatype(inp) == DataType["UINT8"]
    assert after.graph.node[0].op_type == "Mul"  # code -> Mul(1/255) -> the old consumers
    for c in _codes():
        gold = _run(before, (c.astype(np.float64) / 255).astype(np.float32))
        got = _run(after, c)
        assert np.array_equal(gold, got), np.abs(gold - got).max()
    meta = get_meta(after, "tsmfpga.hw_input")
    assert (meta.dtype, meta.scale, meta.zero_point, meta.code_min, meta.code_max, meta.declared) == (
        "UINT8", 1 / 255, 0, 0, 255, True)


def test_declare_integer_input_with_zero_point_keeps_the_function(tidy_tfc):
    import copy

    from tsmfpga.flow.transforms.io_prep import DeclareIntegerInput

    after = copy.deepcopy(tidy_tfc).transform(DeclareIntegerInput("INT8", 1 / 128, zero_point=-128))
    for c in _codes(3, seed=2):
        signed = c - 128  # INT8 codes; x = (code + 128) / 128 in [0, 2)
        gold = _run(tidy_tfc, ((signed.astype(np.float64) + 128) / 128).astype(np.float32))
        assert np.array_equal(gold, _run(after, signed))


def test_absorb_input_flatten_keeps_the_function(tfc):
    """After streamlining, the TFC graph starts with input (1,1,28,28) -> Reshape (1,784): the pass
    makes the input flat; the same frame flattened row-major gives the same outputs."""
    import copy

    from tsmfpga.core.clip import to_nhwc
    from tsmfpga.core.graph import load_model
    from tsmfpga.flow.config import CompileConfig
    from tsmfpga.flow.steps import run_step
    from tsmfpga.flow.transforms.io_prep import AbsorbInputFlatten

    cfg = CompileConfig(model_path=tfc, out="unused", input_type="UINT8", input_scale="1/255")
    model = load_model(tfc)
    for name in ("tidy", "integer_input", "qonnx_to_finn", "temporal_shift", "streamline"):
        model = run_step(name, model, cfg)
    inp = model.graph.input[0].name
    assert model.find_consumers(inp)[0].op_type == "Reshape"
    after, _ = AbsorbInputFlatten().apply(copy.deepcopy(model))
    assert after.get_tensor_shape(inp) == [1, 784] and after.get_tensor_datatype(inp).name == "UINT8"
    assert all(n.op_type != "Reshape" for n in after.find_consumers(inp))
    for c in _codes(4, seed=3):
        assert np.array_equal(_run(model, c), _run(after, to_nhwc(c[0], "NC")))
    # a second application finds nothing to do
    assert AbsorbInputFlatten().apply(copy.deepcopy(after))[1] is False


@pytest.mark.parametrize("text,value", [("UINT8", "UINT8"), ("uint8", "UINT8"), (" int4 ", "INT4"),
                                        ("UINT1", "UINT1"), ("INT16", "INT16")])
def test_parse_input_type(text, value):
    from tsmfpga.flow.transforms.io_prep import parse_input_type

    assert parse_input_type(text) == value


@pytest.mark.parametrize("text", ["FLOAT32", "UINT0", "INT1", "UINT17", "BIPOLAR", "8", "", "UINT8x"])
def test_bad_input_type_is_named(text):
    from tsmfpga.flow.transforms.io_prep import InputDeclarationError, parse_input_type

    with pytest.raises(InputDeclarationError, match=r"--input-type .*UINTn"):
        parse_input_type(text)


@pytest.mark.parametrize("text,value", [("1/255", 1 / 255), ("0.5", 0.5), ("1", 1.0), (2, 2.0),
                                        ("3.9e-3", 3.9e-3), (" 1 / 128 ", 1 / 128)])
def test_parse_input_scale(text, value):
    from tsmfpga.flow.transforms.io_prep import parse_input_scale

    assert parse_input_scale(text) == value


@pytest.mark.parametrize("text", ["0", "-1/255", "1/0", "abc", "inf", "nan", "1/255/2", "", "1e400", "1e-400"])
def test_bad_input_scale_is_named(text):
    from tsmfpga.flow.transforms.io_prep import InputDeclarationError, parse_input_scale

    with pytest.raises(InputDeclarationError, match=r"--input-scale .*positive number or fraction"):
        parse_input_scale(text)


def test_config_checks_the_declaration(tmp_path):
    from tsmfpga.flow.config import CompileConfig
    from tsmfpga.flow.transforms.io_prep import InputDeclarationError

    cfg = CompileConfig(model_path="m.onnx", out=tmp_path, input_type="uint8", input_scale="1/255")
    assert (cfg.input_type, cfg.input_scale) == ("UINT8", 1 / 255)
    assert CompileConfig(model_path="m.onnx", out=tmp_path, input_type="INT8").input_scale == 1.0
    with pytest.raises(InputDeclarationError, match="--input-scale 1/255 needs --input-type"):
        CompileConfig(model_path="m.onnx", out=tmp_path, input_scale="1/255")


def test_cli_bad_declaration_exits_2_with_the_message(tfc, tmp_path):
    proc = run_cli("compile", str(tfc), "--out", str(tmp_path / "b"), "--input-type", "FLOAT8",
                   "--input-scale", "1/255")
    assert proc.returncode == 2 and "--input-type 'FLOAT8'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "b").exists()
    proc = run_cli("compile", str(tfc), "--out", str(tmp_path / "c"), "--input-type", "UINT8",
                   "--input-scale", "-1")
    assert proc.returncode == 2 and "--input-scale '-1'" in proc.stderr, proc.stderr


def test_declared_input_on_an_integer_input_is_refused(tmp_path):
    """A model whose input quantizer already makes the input integer needs no declaration."""
    from tsmfpga.flow.transforms.io_prep import DeclareIntegerInput, InputDeclarationError
    from tsmfpga.core.graph import load_model
    from tsmfpga.flow.steps import run_step
    from test_plain_cnn import export

    model = run_step("integer_input", run_step("tidy", load_model(export("int8_signed_input", tmp_path / "m.onnx")),
                                               None), None)
    with pytest.raises(InputDeclarationError, match="already integer-typed"):
        model.transform(DeclareIntegerInput("UINT8", 1.0))


def test_published_tfc_without_declaration_is_refused_with_the_hint(tfc, tmp_path):
    proc = run_cli("compile", str(tfc), "--out", str(tmp_path / "b"), "--stop-step", "integer_input")
    assert proc.returncode == 2 and "is a float tensor" in proc.stderr
    assert "--input-type UINT8 --input-scale 1/255" in proc.stderr, proc.stderr


def test_published_tfc_front_end_maps_with_declared_input(tfc, tmp_path):
    """TFC-W2A2 as published: every node a HW layer (the 2x - 1 and the UINT8 -> INT2 input
    quantizer become one Thresholding layer, the flatten is absorbed into a flat input)."""
    out = tmp_path / "b"
    proc = run_cli("compile", str(tfc), "--out", str(out), "--input-type", "UINT8", "--input-scale", "1/255",
                   "--stop-step", "check_mapped")
    assert proc.returncode == 0, proc.stderr[-3000:]
    from qonnx.core.modelwrapper import ModelWrapper

    m = ModelWrapper(str(out / "steps" / "08_check_mapped.onnx"))
    ops = [n.op_type for n in m.graph.node]
    assert ops[:5] == ["Thresholding", "MVAU", "MVAU", "MVAU", "MVAU"], ops
    inp = m.graph.input[0].name
    assert m.get_tensor_shape(inp) == [1, 784] and m.get_tensor_datatype(inp).name == "UINT8"
    meta = json.loads(m.get_metadata_prop("tsmfpga.hw_input"))
    assert meta["declared"] is True and meta["layout"] == "NC" and meta["scale"] == 1 / 255


def test_move_input_threshold_nhwc_keeps_the_function():
    """input (UINT8, NCHW) -> MultiThreshold(NCHW, per channel) -> Transpose(0,2,3,1) becomes
    input -> Transpose -> MultiThreshold(NHWC): same outputs on every code."""
    import copy

    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from tsmfpga.flow.transforms.io_prep import MoveInputThresholdNHWC

    rng = np.random.default_rng(4)
    thr = np.sort(rng.uniform(0, 255, size=(3, 5)), axis=1).astype(np.float32)
    nodes = [helper.make_node("MultiThreshold", ["x", "thr"], ["q"], domain="qonnx.custom_op.general",
                              out_dtype="INT4", out_bias=-2.0, data_layout="NCHW"),
             helper.make_node("Transpose", ["q"], ["y"], perm=[0, 2, 3, 1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 3])],
                              value_info=[helper.make_tensor_value_info("q", TensorProto.FLOAT, [1, 3, 4, 5])])
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_initializer("thr", thr)
    model.set_tensor_datatype("x", DataType["UINT8"])
    after, changed = MoveInputThresholdNHWC().apply(copy.deepcopy(model))
    assert changed and [n.op_type for n in after.graph.node] == ["Transpose", "MultiThreshold"]
    assert after.get_tensor_shape(after.graph.node[0].output[0]) == [1, 4, 5, 3]
    for _ in range(4):
        x = rng.integers(0, 256, size=(1, 3, 4, 5)).astype(np.float32)
        assert np.array_equal(_run(model, x), _run(after, x))
    assert MoveInputThresholdNHWC().apply(after)[1] is False
