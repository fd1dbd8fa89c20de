"""Front-end corners of the config space: a stage without residual blocks (MaxPool straight into
the global average pool: the Trunc's sign is traced through the MaxPool) and 8-bit activations
(255 thresholds per channel: standalone binary-search Thresholding instead of MVAU comparators)
compile bit-exact with the QONNX golden; the transforms themselves are checked on graphs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_zoo import export_random_tsm


@pytest.mark.parametrize("act_bits,blocks", [(4, (0,)), (8, (1,))])
def test_compile_bit_exact(tmp_path, act_bits, blocks):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig

    export_random_tsm(tmp_path / "step.onnx", 8, (8,), 2, num_classes=3, seed=3, act_bits=act_bits, weight_bits=4,
                      blocks=blocks)
    report = run_compile(CompileConfig(model_path=tmp_path / "step.onnx", out=tmp_path / "b", verify_clips=3,
                                       stop_step="verify_python"), log=lambda *a: None)
    assert report is None   # stopped after verify_python, which raises CheckFailed on any mismatch
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
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from tsmfpga.flow.transforms.trunc_sign import AnnotateTruncSign, upstream_sign

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])
    nodes = [helper.make_node("MultiThreshold", ["x", "t"], ["q"], domain="qonnx.custom_op.general",
                              out_dtype="UINT2"),
             helper.make_node("MaxPool", ["q"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Relu", ["p"], ["r"]),
             helper.make_node("Trunc", ["r", "s", "z", "b", "s", "b"], ["y"], domain="qonnx.custom_op.general")]
    m = ModelWrapper(qonnx_make_model(helper.make_graph(nodes, "g", [x], [y])))
    m.set_initializer("t", np.zeros((2, 3), np.float32))
    assert upstream_sign(m, "r") is False      # through Relu and MaxPool to an unsigned quantizer
    assert upstream_sign(m, "x") is None       # a float graph input: unknown
    assert m.get_tensor_datatype("r") == DataType["FLOAT32"]
    m, _ = AnnotateTruncSign().apply(m)
    assert m.get_tensor_datatype("r") == DataType["UINT32"]   # the Trunc's input: unsigned
