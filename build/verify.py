"""Python-level verification: the HW graph executed in Python equals the QONNX golden.

TSM step graphs are checked on whole clips, frame by frame, with the golden's state threaded
through and the HW graph's TemporalShift buffers cleared at clip start; plain CNNs on single
inputs. Integer outputs are compared: when the graph ends in the float post-processing
``Mul(scale) [+ Add(bias)]``, the HW accumulator is compared with the golden's implied
accumulator ``(golden - bias) / scale``; a mismatch is a value whose rounded implied
accumulator differs, and each is traced (frame, output index, both values).

The golden is executed in float64 (:func:`tsmfpga.core.float64.float64_golden`): in float32 its
own rounding noise decides values within a few ulps of a rounding tie (50 of 1,280 outputs of
the trained camera model), and a check that can be wrong either way proves nothing.
"""

from __future__ import annotations

import json

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core.clip import dequantize, is_step_graph, load_codes, run_clip, to_nhwc
from tsmfpga.core.executor import executor
from tsmfpga.core.float64 import float64_golden
from tsmfpga.core.graph import hw_core, output_affine
from tsmfpga.core.records import HwInput, get_meta


def _input_codes(cfg, hw: ModelWrapper, golden: ModelWrapper, is_clip: bool, frames: int) -> np.ndarray:
    """Integer input codes in the golden's layout: (clips, T, *frame) or (images, *image)."""
    meta = get_meta(hw, "tsmfpga.hw_input") or HwInput()
    dtype = hw.get_tensor_datatype(hw.graph.input[0].name)
    shape = tuple(golden.get_tensor_shape(golden.graph.input[0].name)[1:])
    if cfg.verify_inputs is not None:
        return load_codes(cfg.verify_inputs, (frames, *shape) if is_clip else shape)
    rng = np.random.default_rng(cfg.seed)
    lo = int(meta.code_min if meta.code_min is not None else dtype.min())
    hi = int(meta.code_max if meta.code_max is not None else dtype.max())
    n = cfg.verify_clips if is_clip else cfg.verify_images
    size = (n, frames, *shape) if is_clip else (n, *shape)
    return rng.integers(lo, hi + 1, size=size, dtype=np.int64)


def verify(hw: ModelWrapper, golden: ModelWrapper, cfg, max_traces: int = 20) -> dict:
    """Run both graphs on the same integer inputs; returns the ``python_exec`` report section."""
    is_clip = is_step_graph(golden)
    frames = cfg.verify_frames or json.loads(golden.get_metadata_prop("tsmfpga.frames") or "8")
    meta = get_meta(hw, "tsmfpga.hw_input") or HwInput()
    codes = _input_codes(cfg, hw, golden, is_clip, frames)
    core = executor(hw_core(hw))
    pp = output_affine(hw)
    golden = executor(float64_golden(golden))

    mismatches, values, worst, traces = 0, 0, 0.0, []
    clips = codes if is_clip else codes[:, None]
    for c, clip in enumerate(clips):
        hw_outs = run_clip(core, [to_nhwc(f, meta.layout) for f in clip])
        gold_outs = run_clip(golden, [dequantize(f, meta.scale, meta.zero_point)[None] for f in clip])
        for t in range(len(clip)):
            gold = gold_outs[t].reshape(-1).astype(np.float64)
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
        "source": "python_exec (qonnx) vs QONNX golden executed in float64",
    }
