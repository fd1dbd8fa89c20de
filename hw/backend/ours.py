"""Backends for the ops whose RTL is ours (``hw/rtl``): MVAU, Pool, TemporalShift,
DuplicateStreams, ElementwiseAdd."""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp

from tsmfpga.hw.backend.base import BackendError, RtlInstance, Stream, register
from tsmfpga.core.rtl import rtl_source


def _bits_signed(lo: int, hi: int) -> int:
    """Fewest two's-complement bits holding every integer in [lo, hi]."""
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def _hex_words(words, width: int) -> str:
    digits = max(1, -(-width // 4))
    mask = (1 << width) - 1
    return "".join(f"{int(w) & mask:0{digits}x}\n" for w in words)


def _pack(values, bits: int) -> int:
    """Pack integers LSB-first, ``bits`` each (two's complement)."""
    word, mask = 0, (1 << bits) - 1
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * bits)
    return word


def _stream(model, node, ind: int, is_input: bool, prefix: str, **kw) -> Stream:
    inst = getCustomOp(node)
    tensor = node.input[ind] if is_input else node.output[ind]
    folded = inst.get_folded_input_shape(ind) if is_input else inst.get_folded_output_shape(ind)
    bits = model.get_tensor_datatype(tensor).bitwidth()
    lanes = int(folded[-1])
    return Stream(f"{prefix}_tdata", f"{prefix}_tvalid", f"{prefix}_tready", lanes, bits,
                  lanes * bits, **kw)


def _raw_attr(node, name: str, default):
    """An attribute the op class does not declare (set by our folding), or ``default``."""
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def _dtype(model, tensor) -> DataType:
    return model.get_tensor_datatype(tensor)


@register("TemporalShift")
def temporal_shift(model, node, ctx) -> RtlInstance:
    inst = getCustomOp(node)
    h, w = inst.get_nodeattr("ImgDim")
    c, k, pe = (inst.get_nodeattr(a) for a in ("NumChannels", "ShiftChannels", "PE"))
    bits = _dtype(model, node.input[0]).bitwidth()
    return RtlInstance(
        name=node.name, module="temporal_shift",
        params={"CHANNELS": c, "SHIFT_CHANNELS": k, "PE": pe, "PIXELS": h * w, "DATA_BITS": bits},
        inputs=[_stream(model, node, 0, True, "s_axis", tlast="s_axis_tlast", tuser="s_axis_tuser")],
        outputs=[_stream(model, node, 0, False, "m_axis", tlast="m_axis_tlast", tuser="m_axis_tuser")],
        sources=[rtl_source("temporal_shift.sv")], clip_frame_beats=h * w * c // pe, latency_cycles=1)


@register("DuplicateStreams")
def duplicate_streams(model, node, ctx) -> RtlInstance:
    inst = getCustomOp(node)
    if inst.get_nodeattr("NumOutputStreams") != 2:
        raise BackendError(f"node {node.name}: DuplicateStreams RTL has 2 outputs, "
                           f"NumOutputStreams={inst.get_nodeattr('NumOutputStreams')}")
    s_in = _stream(model, node, 0, True, "s_axis", tlast="s_axis_tlast", tuser="s_axis_tuser")
    outs = [_stream(model, node, i, False, f"m{i}_axis", tlast=f"m{i}_axis_tlast",
                    tuser=f"m{i}_axis_tuser") for i in range(2)]
    return RtlInstance(name=node.name, module="duplicate_streams",
                       params={"DATA_WIDTH": s_in.width, "USER_WIDTH": 1},
                       inputs=[s_in], outputs=outs, sources=[rtl_source("duplicate_streams.sv")])


@register("ElementwiseAdd")
def elementwise_add(model, node, ctx) -> RtlInstance:
    inst = getCustomOp(node)
    lhs, rhs = (_dtype(model, t) for t in node.input[:2])
    out = _dtype(model, node.output[0])
    styles = inst.get_nodeattr("lhs_style"), inst.get_nodeattr("rhs_style")
    if styles != ("input", "input"):
        raise BackendError(f"node {node.name}: ElementwiseAdd RTL adds two streams; "
                           f"lhs_style/rhs_style are {styles} (constant operands are not supported)")
    if lhs != rhs or lhs.is_fixed_point() or not lhs.is_integer():
        raise BackendError(f"node {node.name}: ElementwiseAdd RTL needs both inputs of one integer "
                           f"type, got {lhs.name} + {rhs.name}; share one quantizer before the add")
    lo, hi = 2 * lhs.min(), 2 * lhs.max()
    if not (out.allowed(lo) and out.allowed(hi)):
        raise BackendError(f"node {node.name}: output type {out.name} cannot hold {lhs.name} + {rhs.name}")
    ins = [_stream(model, node, i, True, f"s{i}_axis", tlast=f"s{i}_axis_tlast", tuser=f"s{i}_axis_tuser")
           for i in range(2)]
    if ins[0].lanes != ins[1].lanes:
        raise BackendError(f"node {node.name}: both inputs need the same PE")
    return RtlInstance(
        name=node.name, module="add_streams",
        params={"PE": ins[0].lanes, "IN_BITS": lhs.bitwidth(), "IN_SIGNED": int(lhs.signed()),
                "OUT_BITS": out.bitwidth(), "USER_WIDTH": 1},
        inputs=ins,
        outputs=[_stream(model, node, 0, False, "m_axis", tlast="m_axis_tlast", tuser="m_axis_tuser")],
        sources=[rtl_source("add_streams.sv")], latency_cycles=1)


def mvau_accumulator_range(weights: np.ndarray, idt: DataType, xnor: bool) -> tuple[int, int]:
    """True range of the MVAU accumulator over all inputs the input type allows and the actual
    weights (per output channel, the worst channel counts). XNOR mode: popcount 0..MW."""
    mw = weights.shape[0]
    if xnor:
        return 0, mw
    w = weights.astype(np.int64)
    a, b = w * int(idt.min()), w * int(idt.max())
    lo = np.minimum(a, b).sum(axis=0)
    hi = np.maximum(a, b).sum(axis=0)
    return int(lo.min()), int(hi.max())


@register("MVAU")
def mvau(model, node, ctx) -> RtlInstance:
    inst = getCustomOp(node)
    mw, mh = inst.get_nodeattr("MW"), inst.get_nodeattr("MH")
    simd, pe = inst.get_nodeattr("SIMD"), inst.get_nodeattr("PE")
    xnor = bool(inst.get_nodeattr("binaryXnorMode"))
    idt, wdt = _dtype(model, node.input[0]), _dtype(model, node.input[1])
    odt = _dtype(model, node.output[0])
    weights = model.get_initializer(node.input[1])
    if weights is None:
        raise BackendError(f"node {node.name}: MVAU weights must be a constant initializer")
    weights = np.asarray(weights)
    if weights.shape != (mw, mh):
        raise BackendError(f"node {node.name}: weights shape {weights.shape}, expected (MW, MH) = {(mw, mh)}")
    if not np.array_equal(weights, np.round(weights)):
        raise BackendError(f"node {node.name}: non-integer weights; streamline scales out first")
    if wdt == DataType["BIPOLAR"] and not xnor:
        wbits, wsigned = 2, True   # +-1 as 2-bit two's complement
    elif xnor:
        wbits, wsigned = 1, False
    else:
        wbits, wsigned = wdt.bitwidth(), wdt.signed()
    if idt == DataType["BIPOLAR"] and not xnor:
        raise BackendError(f"node {node.name}: bipolar inputs with non-bipolar weights are not supported")
    if mw % simd or mh % pe:
        raise BackendError(f"node {node.name}: SIMD={simd} must divide MW={mw} and PE={pe} MH={mh}")
    nf, sf = mh // pe, mw // simd
    lo, hi = mvau_accumulator_range(weights, idt, xnor)
    no_act = bool(inst.get_nodeattr("noActivation"))
    if no_act:
        nsteps, thr_words, tbits = 0, None, 1
        acc_bits = _bits_signed(lo, hi)
        out_bits = odt.bitwidth()
        if not (odt.allowed(lo) and odt.allowed(hi)):
            raise BackendError(f"node {node.name}: output type {odt.name} narrower than the "
                               f"accumulator range [{lo}, {hi}]")
    else:
        thr = np.asarray(model.get_initializer(node.input[2]))
        if thr.shape[0] == 1 and mh > 1:
            thr = np.repeat(thr, mh, axis=0)
        if not np.array_equal(thr, np.round(thr)):
            raise BackendError(f"node {node.name}: non-integer thresholds (run RoundAndClipThresholds)")
        thr = np.clip(thr.astype(np.int64), lo, hi + 1)   # outside the range: never / always
        nsteps = thr.shape[1]
        acc_bits = _bits_signed(min(lo, int(thr.min())), max(hi, int(thr.max())))
        tbits = acc_bits
        out_bits = odt.bitwidth()
        thr_words = [_pack([thr[n * pe + p, t] for p in range(pe) for t in range(nsteps)], tbits)
                     for n in range(nf)]
    w_words = [_pack([weights[s * simd + j, n * pe + p] for p in range(pe) for j in range(simd)], wbits)
               for n in range(nf) for s in range(sf)]
    impl = _raw_attr(node, "tsmfpga_mac_impl", "dsp")   # the folding's choice per layer
    if impl not in ("dsp", "lut"):
        raise BackendError(f"node {node.name}: tsmfpga_mac_impl {impl!r} must be 'dsp' or 'lut'")
    wfile, tfile = f"{node.name}_weights.hex", f"{node.name}_thresholds.hex"
    files = {wfile: _hex_words(w_words, pe * simd * wbits)}
    if thr_words is not None:
        files[tfile] = _hex_words(thr_words, pe * nsteps * tbits)
    else:
        tfile = ""
    return RtlInstance(
        name=node.name, module="mvau",
        params={"MW": mw, "MH": mh, "SIMD": simd, "PE": pe, "IN_BITS": 1 if xnor else idt.bitwidth(),
                "IN_SIGNED": int(idt.signed() and not xnor), "W_BITS": wbits, "W_SIGNED": int(wsigned),
                "BINARY_XNOR": int(xnor), "ACC_BITS": acc_bits, "NSTEPS": nsteps, "T_BITS": tbits,
                "ACT_VAL": int(inst.get_nodeattr("ActVal")), "OUT_BITS": out_bits,
                "WEIGHT_FILE": wfile, "THRESH_FILE": tfile, "MAC_IMPL": impl},
        inputs=[_stream(model, node, 0, True, "s_axis")],
        outputs=[_stream(model, node, 0, False, "m_axis")],
        sources=[rtl_source("mvau.sv")], files=files)


@register("Pool")
def pool(model, node, ctx) -> RtlInstance:
    inst = getCustomOp(node)
    fn = inst.get_nodeattr("Function")
    functions = {"MaxPool": 0, "QuantAvgPool": 1}
    if fn not in functions:
        raise BackendError(f"node {node.name}: Pool Function {fn!r} has no RTL (supported: MaxPool, QuantAvgPool)")
    idt, odt = _dtype(model, node.input[0]), _dtype(model, node.output[0])
    k = int(np.prod(inst.get_nodeattr("KernelSize")))
    if fn == "MaxPool" and idt.bitwidth() != odt.bitwidth():
        raise BackendError(f"node {node.name}: MaxPool output type {odt.name} differs from input {idt.name}")
    pe = inst.get_nodeattr("PE")
    prod = model.find_producer(node.input[0])
    if prod is None or prod.op_type != "ConvolutionInputGenerator" or \
            getCustomOp(prod).get_nodeattr("SIMD") != pe or not getCustomOp(prod).get_nodeattr("depthwise"):
        raise BackendError(f"node {node.name}: Pool RTL consumes the stream order of a depthwise sliding "
                           f"window generator with SIMD = PE = {pe} right before it")
    return RtlInstance(
        name=node.name, module="pool",
        params={"CHANNELS": inst.get_nodeattr("Channels"), "PE": pe, "KERNEL": k,
                "IN_BITS": idt.bitwidth(), "IN_SIGNED": int(idt.signed()), "OUT_BITS": odt.bitwidth(),
                "FUNCTION": functions[fn], "SHIFT": int(inst.get_nodeattr("Size")) if fn == "QuantAvgPool" else 0},
        inputs=[Stream("s_axis_tdata", "s_axis_tvalid", "s_axis_tready", pe, idt.bitwidth(), pe * idt.bitwidth())],
        outputs=[_stream(model, node, 0, False, "m_axis")],
        sources=[rtl_source("pool.sv")], latency_cycles=1)
