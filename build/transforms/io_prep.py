"""Graph input / pooling preparation for the FINN front end.

* :class:`NormalizeTruncRounding` (before ``ConvertQONNXtoFINN``): Brevitas ``TruncAvgPool2d``
  exports ``Trunc(rounding_mode="round")``; finn-plus only converts ``FLOOR``. When the Trunc
  drops no bits (input bit width = output bit width, scale ratio 1) its input is already an
  integer after the scale, so the rounding mode cannot change any value and we set ``FLOOR``.
  A Trunc that really drops bits with round-half-even keeps its mode (and FINN will say so).
* :class:`IntegerInputFromQuant` (after ``ConvertQONNXtoFINN``): the step graph's first node
  quantizes ``frame`` (pixel/255) to 8-bit unsigned codes with scale 1/255, which FINN turns into
  ``MultiThreshold(255 thresholds) -> Mul(1/255)``. Hardware receives the code (the pixel value)
  itself, so the MultiThreshold is removed and the graph input becomes ``UINT8`` codes; the
  scale stays in the graph as a Mul that streamlining absorbs. Checked exactly: the threshold
  node must map ``code * scale`` to ``code`` for every code.
"""

from __future__ import annotations

import json

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.multithreshold import multithreshold
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name


class NormalizeTruncRounding(Transformation):
    def apply(self, model: ModelWrapper):
        changed = False
        for n in model.graph.node:
            if n.op_type != "Trunc" or len(n.input) < 6:
                continue  # Trunc v1 (no output scale): leave to FINN
            mode = get_by_name(n.attribute, "rounding_mode")
            if mode is None or mode.s.upper() == b"FLOOR":
                continue
            vals = [model.get_initializer(n.input[i]) for i in (1, 3, 4, 5)]
            if any(v is None for v in vals):
                continue
            scale, in_bits, out_scale, out_bits = (np.asarray(v, np.float64).flatten() for v in vals)
            if scale.size != 1 or out_scale.size != 1:
                continue
            ratio = float(np.round(np.log2(out_scale[0] / scale[0])))
            if ratio == 0 and float(in_bits[0]) == float(out_bits[0]):
                mode.s = b"FLOOR"
                changed = True
        return model, changed


class IntegerInputFromQuant(Transformation):
    """Make graph input ``input_index`` carry integer codes by removing its quantizing MultiThreshold."""

    def __init__(self, input_index: int = 0):
        super().__init__()
        self.input_index = input_index

    def apply(self, model: ModelWrapper):
        inp = model.graph.input[self.input_index].name
        consumers = model.find_consumers(inp)
        if len(consumers) != 1 or consumers[0].op_type != "MultiThreshold":
            return model, False
        mt = consumers[0]
        muls = model.find_consumers(mt.output[0])
        if len(muls) != 1 or muls[0].op_type != "Mul":
            raise ValueError(f"{mt.name}: input quantizer is not MultiThreshold -> Mul(scale)")
        scale = model.get_initializer(muls[0].input[1])
        if scale is None or np.asarray(scale).size != 1:
            raise ValueError(f"{muls[0].name}: input quantizer scale must be one constant")
        scale = float(np.asarray(scale).flatten()[0])
        thr = model.get_initializer(mt.input[1])
        out_scale = get_by_name(mt.attribute, "out_scale")
        out_bias = get_by_name(mt.attribute, "out_bias")
        if (out_scale is not None and out_scale.f != 1.0) or (out_bias is not None and out_bias.f != 0.0):
            raise ValueError(f"{mt.name}: input quantizer must be unsigned with zero-point 0")
        n_codes = thr.shape[-1] + 1
        bits = int(np.ceil(np.log2(n_codes)))
        if 2**bits != n_codes:
            raise ValueError(f"{mt.name}: {n_codes} input levels is not a power of two")
        codes = np.arange(n_codes, dtype=np.float32)
        x = (codes * np.float32(scale)).astype(np.float32).reshape(1, 1, -1)
        chans = thr.shape[0]
        got = multithreshold(np.broadcast_to(x, (1, chans, n_codes)).copy(), thr)
        if not np.array_equal(got, np.broadcast_to(codes.reshape(1, 1, -1), got.shape)):
            raise ValueError(f"{mt.name}: input thresholds do not map code*scale to code exactly")
        for m in model.find_consumers(mt.output[0]):
            for i, t in enumerate(m.input):
                if t == mt.output[0]:
                    m.input[i] = inp
        model.graph.node.remove(mt)
        dt = DataType[f"UINT{bits}"]
        model.set_tensor_datatype(inp, dt)
        model.set_metadata_prop("tsmfpga.hw_input", json.dumps(
            {"name": inp, "dtype": dt.name, "scale": scale, "zero_point": 0,
             "meaning": "integer code = round(x / scale); for pixel/255 inputs the code is the pixel"}))
        return model, True


class AnnotateNCHWInputs(Transformation):
    """Mark every 4D graph input NCHW (torch export layout) before ``ConvertQONNXtoFINN``.

    qonnx's layout inference only assumes NCHW for the *first* graph input; the step graph's
    state inputs would be guessed NHWC, the guess flows through the shift Concat, and every
    MultiThreshold after it gets ``data_layout="NHWC"`` (wrong once thresholds become per channel).
    """

    def apply(self, model: ModelWrapper):
        import qonnx.core.data_layout as DataLayout

        changed = False
        for inp in model.graph.input:
            shape = model.get_tensor_shape(inp.name)
            if shape is not None and len(shape) == 4 and model.get_tensor_layout(inp.name) != DataLayout.NCHW:
                model.set_tensor_layout(inp.name, DataLayout.NCHW)
                changed = True
        return model, False  # annotation only; never needs a second pass
