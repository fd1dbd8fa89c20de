"""A tiny Brevitas model exported with export_qonnx: QONNX execution equals torch."""

import numpy as np


def test_qonnx_execution_matches_torch(tiny_qonnx):
    import torch
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    model, path, inputs = tiny_qonnx
    wrapper = ModelWrapper(str(path)).transform(InferShapes())
    ops = {n.op_type for n in wrapper.graph.node}
    assert "Quant" in ops, f"export has no Quant nodes: {ops}"
    iname, oname = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    worst = 0.0
    for x in inputs:
        ref = model(torch.from_numpy(x)).detach().numpy()
        got = execute_onnx(wrapper, {iname: x})[oname]
        worst = max(worst, float(np.abs(ref - got).max()))
        assert np.argmax(ref) == np.argmax(got)
    print(f"max abs diff torch vs qonnx over {len(inputs)} inputs: {worst:.3g}")
    assert worst < 1e-4
