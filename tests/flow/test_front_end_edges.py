"""Front-end corners of the config space: a stage without residual blocks (MaxPool straight into
the global average pool: the Trunc's sign is traced through the MaxPool) and 8-bit activations
(255 thresholds per channel: standalone binary-search Thresholding instead of MVAU comparators)
compile bit-exact with the QONNX golden; the transforms themselves are checked on graphs."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _export(path, act_bits: int, blocks: tuple, widths=(8,), size=8, frames=2, seed=3):
    import torch

    from tsmfpga.quant.export import export_step_graph
    from tsmfpga.quant.models import ModelConfig, VideoNet

    torch.manual_seed(seed)
    net = VideoNet(ModelConfig(in_channels=1, input_size=size, widths=widths, blocks=blocks, num_classes=3,
                               act_bits=act_bits, weight_bits=4), "tsm", quantized=True)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, frames, 1, size, size))
    net.eval()
    export_step_graph(net, path, {"tsmfpga.frames": frames})


@pytest.mark.parametrize("act_bits,blocks", [(4, (0,)), (8, (1,))])
def test_compile_bit_exact(tmp_path, act_bits, blocks):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig

    _export(tmp_path / "step.onnx", act_bits, blocks)
    report = run_compile(CompileConfig(model_path=tmp_path / "step.onnx", out=tmp_path / "b", verify_clips=3,
                                       stop_step="verify_python"), log=lambda *a: None)
    assert report is None or report["python_exec"]["mismatches"] == 0
    hw = ModelWrapper(str(sorted((tmp_path / "b" / "steps").glob("*verify_python.onnx"))[0]))
    mvaus = [n for n in hw.graph.node if n.op_type == "MVAU"]
    thr = [n for n in hw.graph.node if n.op_type == "Thresholding"]
    if act_bits == 8:   # every hidden conv's 255 thresholds left the MVAU
        hidden = [n for n in mvaus[:-1]]
        assert hidden and all(getCustomOp(n).get_nodeattr("noActivation") == 1 for n in hidden)
        assert len(thr) >= len(hidden)
    else:
        assert all(getCustomOp(n).get_nodeattr("noActivation") == 0 for n in mvaus[:-1])
    status = json.loads((tmp_path / "b" / "status.json").read_text())
    assert "verify_python" in json.dumps(status)


def test_upstream_sign_through_maxpool():
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from tsmfpga.flow.transforms.trunc_sign import AnnotateTruncSign, upstream_sign

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])
    nodes = [helper.make_node("MultiThreshold", ["x", "t"], ["q"], domain="qonnx.custom_op.general",
                              out_dtype="UINT2"),
             helper.make_node("MaxPool", ["q"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Relu", ["p"], ["r"]),
             helper.make_node("Identity", ["r"], ["y"])]
    m = ModelWrapper(qonnx_make_model(helper.make_graph(nodes, "g", [x], [y])))
    m.set_initializer("t", np.zeros((2, 3), np.float32))
    assert upstream_sign(m, "r") is False      # through Relu and MaxPool to an unsigned quantizer
    assert upstream_sign(m, "x") is None       # a float graph input: unknown
    m2, changed = AnnotateTruncSign().apply(m)
    assert not changed
