"""The one clip runner: a graph executed frame by frame over a clip, state threaded through.

Two kinds of graph carry state from frame to frame:

* a **step graph** (the QAT export, the golden): input 0 is the frame, inputs 1.. are the
  previous state, output 0 the per-frame output and outputs 1.. the next state (same order).
  State starts at zeros at clip start.
* a **HW graph**: stateful ops (our ``TemporalShift``) keep their frame buffer in
  :data:`STATE`, keyed by the node's ``state_id``; clip start clears it.

Python execution (:class:`~tsmfpga.core.executor.Executor`, qonnx ``execute_onnx``'s semantics
prepared once per graph) may hold one op wrapper per node or make a fresh one per call, so a
frame buffer cannot live on the op instance: it lives here. Do not interleave two clips through
graphs that share ``state_id`` values (copies of one graph do).

Input codes: hardware inputs are integer codes; the golden takes ``(code - zero_point) * scale``
(:func:`dequantize`). :func:`load_codes` is the one reader of user-given code files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.executor import Executor, executor
from tsmfpga.core.float64 import is_float64

#: frame buffers of the Python execution of stateful ops: state key -> previous frame's values
STATE: dict[str, np.ndarray] = {}

#: op types whose Python execution keeps state in :data:`STATE`
STATEFUL_OPS = ("TemporalShift",)


def state_key(node) -> str:
    """Key of a stateful node's buffer: its ``state_id`` attribute, else its name."""
    for a in node.attribute:
        if a.name == "state_id" and a.s:
            return a.s.decode()
    return node.name


#: the stream (camera) whose state Python execution of stateful ops uses; 0 is the single
#: stream of a one-stream design (see :func:`set_stream`, :func:`run_streams`)
ACTIVE_STREAM = {"id": 0}


def set_stream(stream: int) -> None:
    """Select the stream whose frame buffers the next Python executions read and write."""
    ACTIVE_STREAM["id"] = int(stream)


def stream_state_key(node) -> str:
    """Key of a stateful node's buffer for the active stream (stream 0: :func:`state_key`)."""
    s = ACTIVE_STREAM["id"]
    return state_key(node) if s == 0 else f"{state_key(node)}/stream{s}"


def reset_state(model: ModelWrapper | None = None, stream: int | None = None) -> None:
    """Clip start: forget the previous frame (all buffers, or those of ``model``'s nodes; of
    every stream, or of ``stream`` only)."""
    if model is None and stream is None:
        STATE.clear()
        return
    nodes = [n for n in model.graph.node if n.op_type in STATEFUL_OPS] if model is not None else None
    for key in list(STATE):
        base, _, tail = key.partition("/stream")
        if nodes is not None and base not in {state_key(n) for n in nodes}:
            continue
        if stream is None or (int(tail) if tail else 0) == stream:
            del STATE[key]


def is_step_graph(model: ModelWrapper) -> bool:
    """True when the graph carries its state as extra inputs/outputs (the QAT step graph)."""
    return len(model.graph.input) > 1


def _float_dtype(model: ModelWrapper):
    """numpy dtype of the graph's inputs: float64 for a graph made by :func:`~tsmfpga.core.float64.to_float64`."""
    return np.float64 if is_float64(model) else np.float32


def run_clip(model: ModelWrapper | Executor, frames: Iterable[np.ndarray], full_context: bool = False) -> list:
    """Execute ``model`` frame by frame over one clip; returns output 0 per frame (with
    ``full_context``: every tensor of the frame, a dict name -> array). Running many clips through
    one graph: pass ``executor(model)`` once instead of the graph (prepared once, not per clip).

    ``frames``: arrays shaped like graph input 0 (batch of 1). A step graph gets its state
    inputs at zeros for the first frame and then its own state outputs; a HW graph's stateful
    ops are cleared first and keep their buffers between frames."""
    exe = executor(model)
    model = exe.model
    name, out = model.graph.input[0].name, model.graph.output[0].name
    s_in = [i.name for i in model.graph.input[1:]]
    s_out = [o.name for o in model.graph.output[1:]]
    if len(s_in) != len(s_out):
        raise UserFacingError(f"step graph has {len(s_in)} state inputs but {len(s_out)} state outputs; "
                              "export state_in_i / state_out_i in pairs")
    dtype = _float_dtype(model)
    states = {n: np.zeros(model.get_tensor_shape(n), dtype) for n in s_in}
    reset_state(model)
    result = []
    for f in frames:
        ctx = exe({name: np.asarray(f, dtype), **states}, full_context=full_context)
        states = {a: ctx[b] for a, b in zip(s_in, s_out)}
        result.append(ctx if full_context else np.asarray(ctx[out]))
    reset_state(model)
    return result


def run_streams(model: ModelWrapper | Executor, schedule: Iterable[tuple[int, np.ndarray, bool]]) -> list:
    """Execute a HW graph over interleaved frames of several streams: ``schedule`` yields
    (stream, frame, clip_start); each stream's stateful ops keep their own buffers (cleared at
    that stream's clip start), as in a design compiled with ``--streams``. Returns output 0 per
    frame. Equals :func:`run_clip` run separately on every stream's clips."""
    exe = executor(model)
    model = exe.model
    name, out = model.graph.input[0].name, model.graph.output[0].name
    reset_state(model)
    result = []
    try:
        for stream, frame, start in schedule:
            if start:
                reset_state(model, stream)
            set_stream(stream)
            result.append(np.asarray(exe({name: np.asarray(frame, _float_dtype(model))})[out]))
    finally:
        set_stream(0)
        reset_state(model)
    return result


def run_clips(model: ModelWrapper | Executor, clips, prepare=None) -> np.ndarray:
    """:func:`run_clip` over ``clips`` (N, T, ...); ``prepare(frame)`` maps each frame to the
    graph's input (default: add the batch axis). Returns (N, T, outputs) flattened per frame."""
    prepare = prepare or (lambda f: np.asarray(f)[None])
    model = executor(model)
    return np.stack([np.stack([np.asarray(o).reshape(-1) for o in run_clip(model, [prepare(f) for f in clip])])
                     for clip in clips])


def dequantize(codes: np.ndarray, scale: float, zero_point: float) -> np.ndarray:
    """Integer input codes -> the float input the golden graph expects."""
    return (np.asarray(codes, np.float64) - zero_point) * scale


def to_nhwc(frame: np.ndarray, layout: str | None) -> np.ndarray:
    """One frame in the golden's layout (C, H, W) -> the HW graph input (1, H, W, C) when the
    HW graph is NHWC; a flat HW input (layout "NC") gets the frame flattened row-major, (1, C*H*W)
    (the compiler absorbed the model's flatten); other ranks unchanged (batch axis added)."""
    x = np.asarray(frame, np.float32)[None]
    if layout == "NC":
        return x.reshape(1, -1)
    return x.transpose(0, 2, 3, 1) if layout == "NHWC" and x.ndim == 4 else x


def load_codes(path: Path, item_shape: tuple[int, ...], what: str = "--inputs") -> np.ndarray:
    """Integer codes from a .npy file shaped (N, *item_shape); clear errors naming the file."""
    path = Path(path)
    try:
        codes = np.load(path)
    except (OSError, ValueError) as exc:
        raise UserFacingError(f"{what} {path}: not a readable .npy file ({exc})") from None
    if codes.ndim != len(item_shape) + 1 or tuple(codes.shape[1:]) != tuple(item_shape):
        raise UserFacingError(f"{what} {path}: shape {codes.shape}, expected (N, "
                              f"{', '.join(map(str, item_shape))}) integer codes")
    if not np.array_equal(codes, np.round(codes)):
        raise UserFacingError(f"{what} {path}: values must be integer codes (got non-integers)")
    return codes.astype(np.int64)
