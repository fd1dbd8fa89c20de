"""Python-level verification: the HW graph executed in Python equals the QONNX golden.

TSM step graphs are checked on whole clips, frame by frame, with the golden's state threaded
through and the HW graph's TemporalShift buffers cleared at clip start; plain CNNs on single
inputs. Integer outputs are compared: when the graph ends in the float post-processing
``Mul(scale) [+ Add(bias)]``, the HW accumulator is compared with the golden's implied
accumulator ``(golden - bias) / scale``; a mismatch is a value whose rounded implied
accumulator differs (a rounding-tie flip in the float32 golden, or a real bug), and each is
traced (frame, output index, both values).
"""

from __future__ import annotations

import json

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from tsmfpga.core.errors import UserFacingError


def _golden_state_names(golden: ModelWrapper) -> tuple[list[str], list[str]]:
    ins = [i.name for i in golden.graph.input[1:]]
    outs = [o.name for o in golden.graph.output[1:]]
    return ins, outs


def _input_codes(cfg, hw: ModelWrapper, golden: ModelWrapper, is_clip: bool, frames: int) -> np.ndarray:
    """Integer input codes in the golden's layout: (clips, T, *frame) or (images, *image)."""
    meta = json.loads(hw.get_metadata_prop("tsmfpga.hw_input") or "{}")
    dtype = hw.get_tensor_datatype(hw.graph.input[0].name)
    shape = golden.get_tensor_shape(golden.graph.input[0].name)[1:]
    if cfg.verify_inputs is not None:
        try:
            codes = np.load(cfg.verify_inputs)
        except (OSError, ValueError) as exc:
            raise UserFacingError(f"--inputs {cfg.verify_inputs}: not a readable .npy file ({exc})") from exc
        want = (-1, frames, *shape) if is_clip else (-1, *shape)
        if codes.shape[1:] != tuple(want[1:]):
            raise UserFacingError(f"--inputs {cfg.verify_inputs}: shape {codes.shape}, expected (N, "
                                  f"{', '.join(map(str, want[1:]))}) integer codes")
        return codes.astype(np.int64)
    rng = np.random.default_rng(cfg.seed)
    lo, hi = int(meta.get("code_min", dtype.min())), int(meta.get("code_max", dtype.max()))
    n = cfg.verify_clips if is_clip else cfg.verify_images
    size = (n, frames, *shape) if is_clip else (n, *shape)
    return rng.integers(lo, hi + 1, size=size, dtype=np.int64)


def _postproc(hw: ModelWrapper):
    """(scale, bias) of a trailing Mul [+ Add], or None when the output is the HW output itself."""
    from tsmfpga.flow.transforms.tsm_frontend import postproc_nodes

    post = postproc_nodes(hw)
    scale = bias = None
    for n in post:
        const = hw.get_initializer(n.input[1])
        if n.op_type == "Mul" and const is not None and scale is None and bias is None:
            scale = np.asarray(const, np.float64).reshape(-1)
        elif n.op_type == "Add" and const is not None and bias is None:
            bias = np.asarray(const, np.float64).reshape(-1)
    if scale is None:
        return None
    return scale, (bias if bias is not None else np.zeros(1))


def verify(hw: ModelWrapper, golden: ModelWrapper, cfg, max_traces: int = 20) -> dict:
    """Run both graphs on the same integer inputs; returns the ``python_exec`` report section."""
    from tsmfpga.flow.transforms.tsm_frontend import run_hw_clip, split_postproc
    from tsmfpga.hw.ops import reset_state

    is_clip = len(golden.graph.input) > 1
    frames = cfg.verify_frames or json.loads(golden.get_metadata_prop("tsmfpga.frames") or "8")
    meta = json.loads(hw.get_metadata_prop("tsmfpga.hw_input") or "{}")
    scale_in, zp_in = float(meta.get("scale", 1.0)), float(meta.get("zero_point", 0))
    codes = _input_codes(cfg, hw, golden, is_clip, frames)
    hw_core, _ = split_postproc(hw)
    pp = _postproc(hw)
    g_in = golden.graph.input[0].name
    g_out = golden.graph.output[0].name
    s_in, s_out = _golden_state_names(golden)
    hw_in = hw_core.graph.input[0].name
    nhwc = meta.get("layout") == "NHWC"

    def to_hw(frame_codes):
        x = frame_codes.astype(np.float32)[None]
        return x.transpose(0, 2, 3, 1) if nhwc and x.ndim == 4 else x

    mismatches, values, worst, traces = 0, 0, 0.0, []
    clips = codes if is_clip else codes[:, None]
    for c, clip in enumerate(clips):
        states = {n: np.zeros(golden.get_tensor_shape(n), np.float32) for n in s_in}
        reset_state(hw_core)
        hw_outs = run_hw_clip(hw_core, [to_hw(f) for f in clip])
        for t, frame in enumerate(clip):
            x = ((frame.astype(np.float64) - zp_in) * scale_in).astype(np.float32)[None]
            out = execute_onnx(golden, {g_in: x, **states})
            states = {a: out[b] for a, b in zip(s_in, s_out)}
            gold = out[g_out].reshape(-1).astype(np.float64)
            got = hw_outs[t].reshape(-1).astype(np.float64)
            if pp is not None:
                implied = (gold - pp[1]) / pp[0]
                worst = max(worst, float(np.abs(implied - got).max()))
                bad = np.flatnonzero(np.round(implied) != got)
            else:
                worst = max(worst, float(np.abs(gold - got).max()))
                bad = np.flatnonzero(np.abs(gold - got) > 1e-5 * max(1.0, float(np.abs(gold).max())))
            values += got.size
            mismatches += bad.size
            for i in bad[: max(0, max_traces - len(traces))]:
                traces.append({"clip": c, "frame": t, "index": int(i), "hw": float(got[i]),
                               "golden": float(implied[i] if pp is not None else gold[i]),
                               "near_tie": bool(pp is not None and abs(abs(implied[i] % 1) - 0.5) < 1e-3)})
    return {
        "bit_exact": mismatches == 0,
        "mismatches": int(mismatches),
        "values": int(values),
        "frames": int(clips.shape[0] * clips.shape[1]),
        "clips": int(clips.shape[0]) if is_clip else None,
        "mode": "clips, frame by frame with state" if is_clip else "single inputs",
        "compared": "integer accumulator of the last HW layer vs the golden's implied accumulator"
                    if pp is not None else "outputs",
        "max_abs_diff": worst,
        "inputs": str(cfg.verify_inputs) if cfg.verify_inputs else f"random integer codes (seed {cfg.seed})",
        "traces": traces,
        "source": "python_exec (qonnx) vs QONNX golden",
    }
