"""finn-plus transformations run on a Brevitas export with no Vivado variable set,
and each pass leaves the graph's function unchanged (run before and after, compare)."""

import numpy as np


def _run(model, x):
    from qonnx.core.onnx_exec import execute_onnx

    return execute_onnx(model, {model.graph.input[0].name: x})[model.graph.output[0].name]


def test_finn_front_end_without_vivado(tiny_qonnx, monkeypatch, tmp_path):
    for var in ("XILINX_VIVADO", "VIVADO_PATH", "FINN_ROOT", "FINN_BUILD_DIR", "FINN_SETTINGS"):
        monkeypatch.delenv(var, raising=False)
    from tsmfpga.core import toolenv

    monkeypatch.chdir(tmp_path)
    build_dir = toolenv.prepare_finn_env()
    assert build_dir.is_dir() and build_dir.is_relative_to(tmp_path)

    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.streamline import Streamline
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    _, path, inputs = tiny_qonnx
    model = ModelWrapper(str(path))
    golden = [_run(model, x) for x in inputs]

    steps = [
        ("tidy", [InferShapes(), FoldConstants(), GiveUniqueNodeNames(), GiveReadableTensorNames(),
                  InferDataTypes()]),
        ("qonnx_to_finn", [ConvertQONNXtoFINN()]),
        ("streamline", [Streamline(), InferDataTypes()]),
    ]
    for name, transforms in steps:
        for t in transforms:
            model = model.transform(t)
        got = [_run(model, x) for x in inputs]
        diff = max(float(np.abs(g - r).max()) for g, r in zip(got, golden))
        print(f"after {name}: max abs diff {diff:.3g}")
        assert diff < 1e-4, f"{name} changed the model's outputs (max abs diff {diff})"

    ops = {n.op_type for n in model.graph.node}
    assert "Quant" not in ops, f"Quant nodes left after ConvertQONNXtoFINN: {ops}"
    assert "MultiThreshold" in ops, f"streamlined graph has no MultiThreshold: {ops}"
