"""Float64 stand-ins for ops that execute in float32 only (qonnx domain ``tsmfpga.core.f64ops``,
used by :func:`tsmfpga.core.float64.float64_golden`).

``Conv`` / ``AveragePool``: onnxruntime has no float64 CPU kernels; same attributes and ONNX
semantics (2D, explicit ``pads``), computed with torch in float64. Anything else (``auto_pad``,
``ceil_mode``, non-2D) raises: the golden must not silently compute something other than the
exported graph. ``Quant``: qonnx's own op (attributes, shapes, datatypes, ``int_quant``) whose
execution casts its output ``q * scale`` to float32; here it stays float64.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp
from qonnx.custom_op.general.intquant import IntQuant, int_quant
from qonnx.transformation.infer_datatypes import infer_mac_result_dtype

__all__ = ["Conv", "AveragePool", "Quant"]


def _torch():
    import torch  # heavy: imported when a golden actually executes

    return torch


class _Float64Op(CustomOp):
    """Shared: attributes are the ONNX op's; the output datatype is FLOAT (the golden's)."""

    def get_nodeattr_types(self):
        return {"auto_pad": ("s", False, "NOTSET"), "pads": ("ints", False, []), "strides": ("ints", False, []),
                "dilations": ("ints", False, []), "kernel_shape": ("ints", False, []),
                "group": ("i", False, 1), "ceil_mode": ("i", False, 0), "count_include_pad": ("i", False, 0)}

    def make_shape_compatible_op(self, model):
        node = self.onnx_node
        return helper.make_node(type(self).__name__, list(node.input), list(node.output),
                                **{a.name: helper.get_attribute_value(a) for a in node.attribute})

    def infer_node_datatype(self, model):
        # as qonnx infers the standard op: keep an annotation other than FLOAT32 (AveragePool)
        out = self.onnx_node.output[0]
        if model.get_tensor_datatype(out) in (None, DataType["FLOAT32"]):
            model.set_tensor_datatype(out, DataType["FLOAT32"])

    def verify_node(self):
        return []

    def _pads(self) -> tuple[int, int, int, int]:
        node = self.onnx_node
        if self.get_nodeattr("auto_pad") not in ("NOTSET", ""):
            raise ValueError(f"{node.name} ({node.op_type}): auto_pad is not supported by the float64 golden")
        pads = list(self.get_nodeattr("pads")) or [0, 0, 0, 0]
        if len(pads) != 4:
            raise ValueError(f"{node.name} ({node.op_type}): only 2D ops are supported by the float64 golden")
        return tuple(pads)  # top, left, bottom, right


class Conv(_Float64Op):
    """ONNX Conv (2D), float64."""

    def infer_node_datatype(self, model):
        # a MAC, as qonnx infers the standard Conv (integer inputs: an integer accumulator)
        node = self.onnx_node
        idtypes = [model.get_tensor_datatype(i) for i in node.input]
        model.set_tensor_datatype(node.output[0], infer_mac_result_dtype(
            idtypes, model.get_tensor_datatype(node.output[0]), possible_negation=False))

    def execute_node(self, context, graph):
        torch = _torch()
        node = self.onnx_node
        x = torch.from_numpy(np.array(context[node.input[0]], np.float64))
        w = torch.from_numpy(np.array(context[node.input[1]], np.float64))
        b = (torch.from_numpy(np.array(context[node.input[2]], np.float64))
             if len(node.input) > 2 and node.input[2] else None)
        if x.ndim != 4:
            raise ValueError(f"{node.name} (Conv): only 2D convs are supported by the float64 golden")
        top, left, bottom, right = self._pads()
        x = torch.nn.functional.pad(x, (left, right, top, bottom))
        y = torch.nn.functional.conv2d(x, w, b, stride=tuple(self.get_nodeattr("strides") or (1, 1)),
                                       dilation=tuple(self.get_nodeattr("dilations") or (1, 1)),
                                       groups=self.get_nodeattr("group"))
        context[node.output[0]] = y.numpy()


class AveragePool(_Float64Op):
    """ONNX AveragePool (2D, no ceil mode), float64."""

    def execute_node(self, context, graph):
        torch = _torch()
        node = self.onnx_node
        if self.get_nodeattr("ceil_mode"):
            raise ValueError(f"{node.name} (AveragePool): ceil_mode is not supported by the float64 golden")
        kernel = tuple(self.get_nodeattr("kernel_shape"))
        top, left, bottom, right = self._pads()
        x = torch.from_numpy(np.array(context[node.input[0]], np.float64))
        if (top, left) != (bottom, right) or (top or left) and not self.get_nodeattr("count_include_pad"):
            # asymmetric padding, or padding excluded from the count: average of the valid cells
            ones = torch.nn.functional.pad(torch.ones_like(x), (left, right, top, bottom))
            xs = torch.nn.functional.pad(x, (left, right, top, bottom))
            stride = tuple(self.get_nodeattr("strides") or kernel)
            num = torch.nn.functional.avg_pool2d(xs, kernel, stride) * np.prod(kernel)
            den = torch.nn.functional.avg_pool2d(ones, kernel, stride) * np.prod(kernel)
            y = num / den if not self.get_nodeattr("count_include_pad") else num / np.prod(kernel)
        else:
            y = torch.nn.functional.avg_pool2d(x, kernel, tuple(self.get_nodeattr("strides") or kernel),
                                               padding=(top, left), count_include_pad=True)
        context[node.output[0]] = y.numpy()


class Quant(IntQuant):
    """qonnx ``Quant`` (integer quantizer), output kept in float64."""

    def execute_node(self, context, graph):
        node = self.onnx_node
        x, scale, zeropt, bitwidth = (context[i] for i in node.input[:4])
        ret = int_quant(np.asarray(x, np.float64), np.asarray(scale, np.float64), zeropt, bitwidth,
                        self.get_nodeattr("signed"), self.get_nodeattr("narrow"), self.get_nodeattr("rounding_mode"))
        context[node.output[0]] = np.asarray(ret, np.float64)
