"""Sign of a ``Trunc`` (TruncAvgPool2d) input that finn-plus cannot find by itself.

finn-plus' ``AvgPoolAndTruncToQuantAvgPool`` (in ``ConvertQONNXtoFINN``) needs to know whether the
values entering ``AveragePool -> Mul -> Trunc`` are signed. It walks upstream through
Add/Mul/AveragePool/Pad to a quantizer and gives up at anything else -- also at ``MaxPool``, which
preserves the sign as well: a TSM stage without residual blocks (max pool straight into the
global average pool) was refused with "Could not infere the Datatype for the Trunc node".
:class:`AnnotateTruncSign` walks the same path with MaxPool (and Relu) allowed and, where it finds
the quantizer, types the Trunc's input tensor INT32 / UINT32 (only its sign is read; the tensor
is replaced by the ``QuantAvgPool2d`` it becomes).
"""

from __future__ import annotations

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

#: ops whose output has the sign of their (first) input
SIGN_PRESERVING = ("Add", "Mul", "AveragePool", "Pad", "MaxPool", "Relu")


def upstream_sign(model: ModelWrapper, tensor: str) -> bool | None:
    """True / False when the values of ``tensor`` come from a signed / unsigned quantizer through
    sign-preserving ops only; None when that cannot be told."""
    while True:
        dt = model.get_tensor_datatype(tensor)
        if dt is not None and dt != DataType["FLOAT32"]:
            return dt.signed()
        node = model.find_producer(tensor)
        if node is None:
            return None
        if node.op_type == "BipolarQuant":
            return True
        if node.op_type == "Quant":
            return getCustomOp(node, onnx_opset_version=9).get_integer_datatype(model).signed()
        if node.op_type == "MultiThreshold":
            return DataType[getCustomOp(node).get_nodeattr("out_dtype")].signed()
        if node.op_type not in SIGN_PRESERVING:
            return None
        tensor = node.input[0]


class AnnotateTruncSign(Transformation):
    """Type the input of every ``Trunc`` whose sign finn-plus cannot infer (see the module doc)."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for node in model.graph.node:
            if node.op_type != "Trunc":
                continue
            dt = model.get_tensor_datatype(node.input[0])
            if dt is not None and dt != DataType["FLOAT32"]:
                continue
            signed = upstream_sign(model, node.input[0])
            if signed is not None:
                model.set_tensor_datatype(node.input[0], DataType["INT32" if signed else "UINT32"])
        return model, False
