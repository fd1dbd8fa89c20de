"""Graph input / pooling preparation for the FINN front end.

* :class:`NormalizeTruncRounding` (before ``ConvertQONNXtoFINN``): Brevitas ``TruncAvgPool2d``
  exports ``Trunc(rounding_mode="round")``; finn-plus only converts ``FLOOR`` (a right shift).
  The Trunc becomes a lossless ``FLOOR`` Trunc (the exact window sum), followed, when it really
  drops or clips bits, by a ``MultiThreshold`` that reproduces its rounding exactly.
* :class:`IntegerInputFromQuant` (before ``ConvertQONNXtoFINN``): a graph that starts with a
  quantizer on a float input (e.g. the step graph's ``frame`` = pixel/255 quantized to UINT8 with
  scale 1/255, or an Int8 signed input quantizer) gets the quantizer's integer code as its input:
  the Quant node becomes ``[Add(-zero_point)] -> Mul(scale)``, which streamlining absorbs, and
  the graph input is typed ``INTn`` / ``UINTn``. Exact by the Quant definition.
* :class:`DeclareIntegerInput` (before ``ConvertQONNXtoFINN``, instead of the above): a graph that
  does float arithmetic on its raw input before the first quantizer (BNN-PYNQ's ``2x - 1`` and
  flatten) gets a user-declared integer input, ``code -> Mul(scale) -> (old input)``, as FINN's
  own BNN-PYNQ flows do (pixels as UINT8 with scale 1/255); streamlining then absorbs the
  preprocessing into the first thresholds. ``parse_input_type`` / ``parse_input_scale`` check
  the declaration (``--input-type`` / ``--input-scale``).
* :class:`AbsorbInputFlatten` (after streamlining): ``input (N, C, H, W) -> Reshape/Flatten ->
  (N, C*H*W)`` (an MLP on images, BNN-PYNQ TFC) becomes a flat graph input: the hardware
  streams the frame in its row-major (C, H, W) order, so no layer is needed for it (the HW
  input layout is then "NC", :func:`tsmfpga.core.clip.to_nhwc` flattens the frame).
* :class:`MoveInputThresholdNHWC` (NHWC conversion): a declared input keeps its first quantizer,
  a ``MultiThreshold`` (NCHW) on the graph input followed by ``Transpose(0,2,3,1)``; the Transpose
  moves in front of it (thresholds per channel commute with a layout change) so that
  ``MakeInputNHWC`` can absorb it into an NHWC graph input.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name

from tsmfpga.core import records
from tsmfpga.core.errors import UserFacingError
from tsmfpga.flow.transforms.trunc_sign import upstream_sign


def _trunc_codes(s: np.ndarray, trunc_scale: float, lo: int, hi: int, mode: str) -> np.ndarray:
    """qonnx ``Trunc`` (v2) on integer inputs ``s`` (zero-point 0): the output integer codes.
    Exact in float64 (``trunc_scale`` is a power of two, ``s`` small integers)."""
    from qonnx.custom_op.general.quant import resolve_rounding_mode

    y = np.clip(s.astype(np.float64) / trunc_scale, lo, hi)
    return resolve_rounding_mode(mode.upper())(y)


class NormalizeTruncRounding(Transformation):
    """Make every ``AveragePool -> Trunc`` one that finn-plus converts exactly.

    finn-plus converts only ``Trunc(FLOOR)`` whose scale ratio equals the dropped bits, and
    implements it as a right shift. Brevitas ``TruncAvgPool2d`` exports ``rounding_mode="round"``
    (round half to even), often drops bits (e.g. 4-bit activations, 8x8 pool, 8-bit output), or
    widens (2x2 pool of 4 bits to 8 bits: output code = 4 * sum). On the integer sum ``s`` of the
    pool window the Trunc is a monotone step function ``f(s)`` (computed exactly here), so:

    * ``f(s) * trunc_scale == s`` for every ``s`` (nothing dropped, nothing clipped): the Trunc
      becomes a lossless ``Trunc(FLOOR)`` (same value for every input);
    * otherwise: lossless ``Trunc(FLOOR)`` (the exact sum) -> ``MultiThreshold`` whose integer
      thresholds reproduce ``f`` (placed half-way between integer sums, so float scaling during
      streamlining cannot move them across an integer) -> ``Mul(output scale)``. FINN turns the
      threshold node into a Thresholding layer; the pool itself stays a plain sum.
    """

    def apply(self, model: ModelWrapper):
        from onnx import TensorProto, helper

        changed = False
        for n in list(model.graph.node):
            if n.op_type != "Trunc" or len(n.input) < 6:
                continue  # Trunc v1 (no output scale): leave to FINN
            mode_attr = get_by_name(n.attribute, "rounding_mode")
            vals = [model.get_initializer(n.input[i]) for i in (1, 2, 3, 4, 5)]
            if any(v is None for v in vals):
                continue
            scale, zp, in_bits, out_scale, out_bits = (np.asarray(v, np.float64).flatten() for v in vals)
            if scale.size != 1 or out_scale.size != 1 or zp.size != 1 or zp[0] != 0:
                continue  # FINN names what it cannot do
            mode = (mode_attr.s.decode() if mode_attr is not None else "FLOOR").upper()
            in_bits, out_bits = int(in_bits[0]), int(out_bits[0])
            trunc_scale = float(2 ** np.round(np.log2(out_scale[0] / scale[0])))
            signed = get_by_name(n.attribute, "signed")
            signed = bool(signed.i) if signed is not None else True
            narrow = get_by_name(n.attribute, "narrow")
            narrow = bool(narrow.i) if narrow is not None else False
            lo = -(2 ** (out_bits - 1)) + int(narrow) if signed else 0
            hi = 2 ** (out_bits - 1) - 1 if signed else 2**out_bits - 1 - int(narrow)
            # every window sum the input bits allow (signedness from the quantizer upstream)
            in_signed = upstream_sign(model, n.input[0])
            if in_signed is None:
                raise UserFacingError(
                    f"node {n.name} (Trunc of a TruncAvgPool2d): the sign of its input cannot be traced "
                    "to a quantizer through Add/Mul/AveragePool/Pad/MaxPool/Relu; put the pool right "
                    "after a quantized activation")
            if in_signed:
                s = np.arange(-(2 ** (in_bits - 1)), 2 ** (in_bits - 1), dtype=np.int64)
            else:
                s = np.arange(0, 2**in_bits, dtype=np.int64)
            codes = _trunc_codes(s, trunc_scale, lo, hi, mode)
            lossless = np.array_equal(codes * trunc_scale, s.astype(np.float64))
            if mode == "FLOOR" and trunc_scale == 2.0 ** (in_bits - out_bits):
                continue  # already what finn-plus converts
            # the Trunc keeps the exact sum: FLOOR, output scale = input scale, same bits
            model.set_initializer(n.input[4], np.asarray(scale[0], np.float32).reshape(
                np.shape(model.get_initializer(n.input[4]))))
            model.set_initializer(n.input[5], np.asarray(in_bits, np.float32).reshape(
                np.shape(model.get_initializer(n.input[5]))))
            if mode_attr is None:
                n.attribute.append(helper.make_attribute("rounding_mode", "FLOOR"))
            else:
                mode_attr.s = b"FLOOR"
            changed = True
            if lossless:
                continue
            # thresholds: the smallest sum reaching code lo + j, minus 1/2, in the float domain
            thr = np.empty((1, hi - lo), np.float64)
            for j in range(1, hi - lo + 1):
                reach = np.flatnonzero(codes >= lo + j)
                s_j = s[reach[0]] if reach.size else s[-1] + 1
                thr[0, j - 1] = (s_j - 0.5) * scale[0]
            g = model.graph
            y = n.output[0]
            summed, coded = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
            n.output[0] = summed
            thr_name, sc_name = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
            model.set_initializer(thr_name, thr.astype(np.float32))
            model.set_initializer(sc_name, np.asarray(out_scale[0], np.float32))
            dt = f"{'INT' if signed else 'UINT'}{out_bits}"
            mt = helper.make_node("MultiThreshold", [summed, thr_name], [coded],
                                  domain="qonnx.custom_op.general", name=f"{n.name}_rounding", out_dtype=dt, out_bias=float(lo),
                                  data_layout="NCHW")
            mul = helper.make_node("Mul", [coded, sc_name], [y], name=f"{n.name}_scale")
            idx = list(g.node).index(n)
            g.node.insert(idx + 1, mt)
            g.node.insert(idx + 2, mul)
            shape = model.get_tensor_shape(y)
            for t in (summed, coded):
                g.value_info.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, shape))
            model.set_tensor_datatype(coded, DataType[dt])
        return model, False  # one pass handles every Trunc


class IntegerInputFromQuant(Transformation):
    """Make graph input ``input_index`` carry the integer code of its input quantizer.

    Runs on the QONNX graph (before ``ConvertQONNXtoFINN``): ``x -> Quant(scale, zp, bits)``
    becomes ``code -> [Add(-zp)] -> Mul(scale)`` with ``code`` typed ``INTn`` / ``UINTn``.
    Exact by the Quant definition ``y = (clip(round(x / s + zp)) - zp) * s``: feeding the code
    ``q`` reproduces ``y`` for every input. Works for unsigned and signed, narrow or not, and any
    integer zero-point (FINN itself refuses non-zero zero-points). Scale, zero-point and the code
    range go to ``tsmfpga.hw_input`` for the report and the driver. Leaves the graph alone when the
    input has no (single) Quant consumer; :func:`step_integer_input` then names the float input.
    """

    def __init__(self, input_index: int = 0):
        super().__init__()
        self.input_index = input_index

    def apply(self, model: ModelWrapper):
        from onnx import TensorProto, helper

        inp = model.graph.input[self.input_index].name
        consumers = model.find_consumers(inp)
        if len(consumers) == 1 and consumers[0].op_type == "BipolarQuant":
            raise InputQuantError(
                f"input quantizer {consumers[0].name}: a bipolar (1-bit) input quantizer is not supported "
                "as the hardware input; quantize the input to 2..16 bits (e.g. Uint8ActPerTensorFloat)")
        if len(consumers) != 1 or consumers[0].op_type != "Quant":
            return model, False
        q = consumers[0]
        name = q.name or q.output[0]
        params = [model.get_initializer(q.input[i]) for i in (1, 2, 3)]
        if any(p is None for p in params):
            raise InputQuantError(
                f"input quantizer {name}: scale, zero-point and bit width must be constants")
        scale, zp, bits = (np.asarray(p, np.float64).reshape(-1) for p in params)
        if scale.size != 1 or zp.size != 1:
            raise InputQuantError(
                f"input quantizer {name}: per-channel scale / zero-point on the graph input is not "
                "supported; use a per-tensor input quantizer (e.g. Uint8ActPerTensorFloat)")
        scale, zp, bits = float(scale[0]), float(zp[0]), float(bits[0])
        if bits != int(bits) or not 1 <= bits <= 16 or zp != round(zp):
            raise InputQuantError(f"input quantizer {name}: bit width {bits} / zero-point {zp} must be "
                                  "integers (1..16 bits)")
        bits, zp = int(bits), int(round(zp))
        signed = bool(get_by_name(q.attribute, "signed").i) if get_by_name(q.attribute, "signed") else True
        narrow = bool(get_by_name(q.attribute, "narrow").i) if get_by_name(q.attribute, "narrow") else False
        if signed:
            lo, hi = -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
        else:
            lo, hi = 0, 2**bits - 1 - int(narrow)
        if bits == 1 and signed:
            raise InputQuantError(f"input quantizer {name}: 1-bit signed input codes are not supported")
        dt = DataType[f"{'INT' if signed else 'UINT'}{bits}"]
        if zp != 0:
            for c in model.find_consumers(q.output[0]):
                pads = get_by_name(c.attribute, "pads")
                if c.op_type == "Conv" and pads is not None and any(pads.ints):
                    raise InputQuantError(
                        f"input quantizer {name} has zero-point {zp} and feeds the padded conv "
                        f"{c.name or c.output[0]}: the padding would have to be the code {zp} in "
                        "hardware, and finn-plus' FMPadding pads 0 only. Use a zero-point-0 input "
                        "quantizer (Uint8ActPerTensorFloat / Int8ActPerTensorFloat) or padding=0 in "
                        "the first conv")
        # code -> [Add(-zp)] -> Mul(scale) -> (old Quant output)
        x = inp
        g = model.graph
        idx = list(g.node).index(q)
        new_nodes = []
        if zp != 0:
            zp_name, mid = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
            model.set_initializer(zp_name, np.asarray(-zp, np.float32))
            new_nodes.append(helper.make_node("Add", [x, zp_name], [mid], name=f"{name}_zero_point"))
            g.value_info.append(
                helper.make_tensor_value_info(mid, TensorProto.FLOAT, model.get_tensor_shape(inp)))
            x = mid
        s_name = model.make_new_valueinfo_name()
        model.set_initializer(s_name, np.asarray(scale, np.float32))
        new_nodes.append(helper.make_node("Mul", [x, s_name], [q.output[0]], name=f"{name}_scale"))
        g.node.remove(q)
        for k, n in enumerate(new_nodes):
            g.node.insert(idx + k, n)
        model.set_tensor_datatype(inp, dt)
        records.set_meta(model, "tsmfpga.hw_input", records.HwInput(
            name=inp, dtype=dt.name, scale=scale, zero_point=zp, code_min=lo, code_max=hi,
            meaning="integer code = clip(round(x / scale + zero_point), code_min, code_max); "
                    "x = (code - zero_point) * scale; for pixel/255 inputs the code is the pixel"))
        return model, True


class InputQuantError(UserFacingError):
    """The graph input's quantizer cannot become an integer hardware input."""


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


class InputDeclarationError(UserFacingError):
    """``--input-type`` / ``--input-scale`` cannot be used as given."""


def parse_input_type(text: str) -> str:
    """``UINTn`` (1..16 bits) or ``INTn`` (2..16 bits), case-insensitive -> the qonnx DataType name."""
    m = re.fullmatch(r"(U?INT)(\d+)", str(text).strip().upper())
    lo = 1 if m and m.group(1) == "UINT" else 2
    if not m or not lo <= int(m.group(2)) <= 16:
        raise InputDeclarationError(
            f"--input-type {text!r}: expected an integer type UINTn (n = 1..16) or INTn (n = 2..16), e.g. "
            "UINT8 for pixels, INT8 for signed samples")
    return f"{m.group(1)}{int(m.group(2))}"


def parse_input_scale(text) -> float:
    """A positive finite scale: a number (``0.5``, ``3.9e-3``) or a fraction ``a/b`` (``1/255``)."""
    try:
        value = float(Fraction(str(text).strip().replace(" ", "")))
    except (ValueError, ZeroDivisionError, OverflowError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InputDeclarationError(
            f"--input-scale {text!r}: expected a positive number or fraction, e.g. 1/255 (pixel codes "
            "0..255 -> x in [0, 1]) or 1 (x = code)")
    return value


class DeclareIntegerInput(Transformation):
    """Declare graph input ``input_index`` as integer codes: ``x = (code - zero_point) * scale``.

    Runs on the QONNX graph (before ``ConvertQONNXtoFINN``) for models whose raw input is not
    quantized before float arithmetic (BNN-PYNQ TFC/CNV: flatten, ``2x - 1``, then the first
    quantizer). The input keeps its name and becomes ``dtype``-typed; its consumers now read
    ``[Add(-zero_point)] -> Mul(scale)`` of it, the values of the golden run on
    ``(code - zero_point) * scale`` (float32 ``code * scale`` may differ from the golden's
    float32-rounded exact product by one ulp; only a quantizer boundary within that ulp of an
    input value could notice, and ``verify_python`` counts any such flip). Streamlining folds the
    scale and the preprocessing into the first quantizer's thresholds. The declaration goes to
    ``tsmfpga.hw_input`` (report, simulation, driver).
    """

    def __init__(self, dtype: str, scale: float, zero_point: int = 0, input_index: int = 0):
        super().__init__()
        self.dtype = DataType[parse_input_type(dtype)]
        self.scale = parse_input_scale(scale)
        self.zero_point = int(zero_point)
        self.input_index = input_index

    def apply(self, model: ModelWrapper):
        from onnx import TensorProto, helper

        g = model.graph
        inp = g.input[self.input_index].name
        if model.get_tensor_datatype(inp).is_integer():
            raise InputDeclarationError(
                f"graph input {inp!r} is already integer-typed ({model.get_tensor_datatype(inp).name}); "
                "leave out --input-type / --input-scale")
        shape = model.get_tensor_shape(inp)
        x = model.make_new_valueinfo_name()
        for n in model.find_consumers(inp):
            for i, t in enumerate(n.input):
                if t == inp:
                    n.input[i] = x
        new_nodes, src = [], inp
        if self.zero_point != 0:
            zp_name, mid = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
            model.set_initializer(zp_name, np.asarray(-self.zero_point, np.float32))
            new_nodes.append(helper.make_node("Add", [src, zp_name], [mid], name="declared_input_zero_point"))
            g.value_info.append(helper.make_tensor_value_info(mid, TensorProto.FLOAT, shape))
            src = mid
        s_name = model.make_new_valueinfo_name()
        model.set_initializer(s_name, np.asarray(self.scale, np.float32))
        new_nodes.append(helper.make_node("Mul", [src, s_name], [x], name="declared_input_scale"))
        g.value_info.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, shape))
        for k, n in enumerate(new_nodes):
            g.node.insert(k, n)
        model.set_tensor_datatype(inp, self.dtype)
        records.set_meta(model, "tsmfpga.hw_input", records.HwInput(
            name=inp, dtype=self.dtype.name, scale=self.scale, zero_point=self.zero_point,
            code_min=int(self.dtype.min()), code_max=int(self.dtype.max()), declared=True,
            meaning="declared with --input-type/--input-scale: x = (code - zero_point) * scale is the "
                    "model's raw input (for UINT8 with scale 1/255 the code is the pixel value)"))
        return model, False  # one declaration; never a second pass


class AbsorbInputFlatten(Transformation):
    """A graph input consumed only by a flattening ``Reshape`` / ``Flatten`` to ``(N, K)`` becomes
    that flat ``(N, K)`` input (same values, same row-major order: exact)."""

    def apply(self, model: ModelWrapper):
        for inp in model.graph.input:
            cons = model.find_consumers(inp.name)
            if len(cons) != 1 or cons[0].op_type not in ("Reshape", "Flatten"):
                continue
            node = cons[0]
            if node.op_type == "Reshape" and model.get_initializer(node.input[1]) is None:
                continue
            ishape, oshape = model.get_tensor_shape(inp.name), model.get_tensor_shape(node.output[0])
            if ishape is None or oshape is None or len(oshape) != 2 or oshape[0] != ishape[0]:
                continue
            dt = model.get_tensor_datatype(inp.name)
            for c in model.find_consumers(node.output[0]):
                for i, t in enumerate(c.input):
                    if t == node.output[0]:
                        c.input[i] = inp.name
            model.graph.node.remove(node)
            model.set_tensor_shape(inp.name, list(oshape))
            model.set_tensor_datatype(inp.name, dt)
            model.set_tensor_layout(inp.name, ["N", "C"])
            return model, True
        return model, False


class MoveInputThresholdNHWC(Transformation):
    """``input -> MultiThreshold(NCHW) -> Transpose(0,2,3,1)`` becomes
    ``input -> Transpose(0,2,3,1) -> MultiThreshold(NHWC)`` (same values: a MultiThreshold is
    elementwise with per-channel thresholds, the channel axis moves with ``data_layout``)."""

    def apply(self, model: ModelWrapper):
        from qonnx.custom_op.registry import getCustomOp

        import qonnx.core.data_layout as DataLayout

        inputs = {i.name for i in model.graph.input}
        for mt in model.graph.node:
            if mt.op_type != "MultiThreshold" or mt.input[0] not in inputs:
                continue
            op = getCustomOp(mt)
            cons = model.find_consumers(mt.output[0])
            if op.get_nodeattr("data_layout") != "NCHW" or len(cons) != 1 or cons[0].op_type != "Transpose":
                continue
            tr = cons[0]
            if list(get_by_name(tr.attribute, "perm").ints) != [0, 2, 3, 1]:
                continue
            if len(model.find_consumers(mt.input[0])) != 1:
                continue
            x, mid, y = mt.input[0], mt.output[0], tr.output[0]
            out_dt = model.get_tensor_datatype(mid)
            nhwc = model.get_tensor_shape(y)
            tr.input[0], tr.output[0] = x, mid
            mt.input[0], mt.output[0] = mid, y
            op.set_nodeattr("data_layout", "NHWC")
            g = model.graph
            g.node.remove(tr)
            g.node.insert(list(g.node).index(mt), tr)
            model.set_tensor_shape(mid, nhwc)
            model.set_tensor_datatype(mid, model.get_tensor_datatype(x))
            model.set_tensor_layout(mid, DataLayout.NHWC)
            model.set_tensor_datatype(y, out_dt)
            return model, True
        return model, False
