"""Layer taps: every inter-layer stream of the stitched top compared, beat by beat, with the HW
graph's intermediate tensor, so a mismatch names the layer where it started.

The testbench (``+taps=FILE``) logs every beat entering each FIFO of the top: every graph edge
has one, after its width converter, so a beat carries the consumer's lanes of the producer's
tensor. The expected stream is the tensor of the HW graph's Python execution (the clip runner,
all tensors of every frame), flattened in the order the RTL streams it (NHWC; a depthwise
sliding window streams channel folds outermost, see :func:`stream_order`).
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from tsmfpga.core.clip import run_clip
from tsmfpga.core.streams import Encoding, unpack_beats


def stream_order(model: ModelWrapper, tensor: str, value: np.ndarray) -> np.ndarray:
    """One frame of ``tensor`` flattened in the order its RTL producer streams it.

    finn-rtllib's depthwise sliding window streams, per output pixel, (C/SIMD, K*K, SIMD) while
    finn's Python execution lays the window out as (K*K, C); everything else streams the NHWC
    tensor in memory order."""
    prod = model.find_producer(tensor)
    if prod is not None and prod.op_type == "ConvolutionInputGenerator":
        op = getCustomOp(prod)
        if op.get_nodeattr("depthwise"):
            c, simd = op.get_nodeattr("IFMChannels"), op.get_nodeattr("SIMD")
            k2 = int(np.prod(op.get_nodeattr("ConvKernelDim")))
            v = np.asarray(value).reshape(-1, k2, c // simd, simd)
            return v.transpose(0, 2, 1, 3).reshape(-1)
    return np.asarray(value).reshape(-1)


def compare_taps(core: ModelWrapper, manifest: dict, frames: list[np.ndarray], taps: dict[int, list[int]],
                 max_traces: int = 20) -> dict:
    """Compare the tapped streams of one clip (``frames``: HW graph inputs, first frame = clip
    start) with the HW graph's tensors. Returns the ``taps`` report section; its
    ``first_divergence`` names the earliest layer (in graph order) whose output differs, with the
    frame and beat, or is None."""
    contexts = run_clip(core, frames, full_context=True)
    order = {t: i for i, n in enumerate(core.graph.node) for t in n.output}
    order[core.graph.input[0].name] = -1
    tensors = list(manifest["fifos"])
    rows, divergences = [], []
    for k, tensor in enumerate(tensors):
        fifo = manifest["fifos"][tensor]
        dt = core.get_tensor_datatype(tensor)
        enc = Encoding.of(dt)
        lanes = fifo["width"] // enc.bits
        got = unpack_beats(taps.get(k, []), lanes, enc.bits, encoding=enc)
        exp = np.concatenate([stream_order(core, tensor, ctx[tensor]) for ctx in contexts]).astype(np.int64)
        per_frame = exp.size // len(frames)
        # a stream may run ahead into the next frame once the clip is in (e.g. FMPadding emits the
        # next frame's top padding before any input): values beyond the clip are not compared
        n = min(got.size, exp.size)
        bad = np.flatnonzero(got[:n] != exp[:n])
        first = int(bad[0]) if bad.size else (n if got.size < exp.size else None)
        prod = core.find_producer(tensor)
        cons = core.find_consumer(tensor)
        row = {"tensor": tensor, "producer": prod.name if prod is not None else "input",
               "consumer": cons.name if cons is not None else "output", "values": int(exp.size),
               "got_values": int(min(got.size, exp.size)), "beyond_clip_values": int(max(0, got.size - exp.size)),
               "mismatches": int(bad.size) + max(0, exp.size - got.size)}
        rows.append(row)
        if first is not None:
            divergences.append((first // per_frame, order.get(tensor, 0), {
                **{k2: row[k2] for k2 in ("tensor", "producer", "consumer")},
                "frame": first // per_frame, "beat": (first % per_frame) // lanes,
                "element": first % per_frame,
                "rtl": int(got[first]) if first < got.size else None,
                "expected": int(exp[first]) if first < exp.size else None}))
    divergences.sort(key=lambda d: (d[0], d[1]))
    return {
        "clip_frames": len(frames),
        "streams": len(tensors),
        "values": int(sum(r["values"] for r in rows)),
        "mismatching_streams": sum(1 for r in rows if r["mismatches"]),
        "first_divergence": divergences[0][2] if divergences else None,
        "divergences": [d[2] for d in divergences[:max_traces]],
        "per_stream": rows,
        "compared": "every beat entering each FIFO of the top vs the HW graph's tensor (Python execution)",
        "source": "rtl_sim",
    }
