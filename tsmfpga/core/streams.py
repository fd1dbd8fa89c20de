"""Lane packing and stream encoding: how tensor values become AXI-Stream beats and back.

One frame is its tensor flattened in the HW graph's layout (NHWC), cut into beats of ``lanes``
elements; lane 0 sits at the least significant bits; each element is ``bits`` wide, two's
complement when signed. Bipolar values (-1/+1, FINN's BIPOLAR type) travel as one bit each:
0 for -1, 1 for +1 (FINN's convention). ``tuser`` is 1 on the first beat of a clip's first
frame (clip start: temporal state is cleared) and 0 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsmfpga.core.errors import UserFacingError


class StreamError(UserFacingError):
    """Values that cannot be packed into the stream as described."""


@dataclass(frozen=True)
class Encoding:
    """How one element travels: ``bits`` per lane, signed two's complement or not, bipolar."""

    bits: int
    signed: bool = False
    bipolar: bool = False

    @classmethod
    def of(cls, dtype) -> "Encoding":
        """From a qonnx DataType (or its name)."""
        from qonnx.core.datatype import DataType

        dt = DataType[dtype] if isinstance(dtype, str) else dtype
        if dt == DataType["BIPOLAR"]:
            return cls(1, False, True)
        return cls(dt.bitwidth(), dt.signed(), False)

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Values -> unsigned lane codes (int64)."""
        v = np.asarray(values).astype(np.int64)
        if self.bipolar:
            if not np.isin(v, (-1, 1)).all():
                raise StreamError("bipolar stream: values must be -1 or +1")
            return (v + 1) // 2
        return v & ((1 << self.bits) - 1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Unsigned lane codes -> values (int64)."""
        c = np.asarray(codes).astype(np.int64)
        if self.bipolar:
            return 2 * c - 1
        if self.signed:
            return np.where(c >> (self.bits - 1) & 1, c - (1 << self.bits), c)
        return c


def pack_beats(frames: np.ndarray, lanes: int, bits: int, encoding: Encoding | None = None) -> np.ndarray:
    """(F, elems) values -> (F, elems // lanes) python-int words, lane 0 at the LSBs."""
    frames = np.asarray(frames)
    f, n = frames.shape
    if n % lanes:
        raise StreamError(f"frame of {n} elements does not split into beats of {lanes} lanes")
    enc = encoding or Encoding(bits)
    v = enc.encode(frames).reshape(f, n // lanes, lanes).astype(object)
    words = np.zeros((f, n // lanes), dtype=object)
    for i in range(lanes):
        words = words + (v[:, :, i] << (i * bits))
    return words


def unpack_beats(words, lanes: int, bits: int, signed: bool = False,
                 encoding: Encoding | None = None) -> np.ndarray:
    """Python-int words -> flat values (lane 0 first)."""
    enc = encoding or Encoding(bits, signed)
    out = np.zeros((len(words), lanes), dtype=np.int64)
    mask = (1 << bits) - 1
    for j, w in enumerate(words):
        for i in range(lanes):
            out[j, i] = (int(w) >> (i * bits)) & mask
    return enc.decode(out.reshape(-1))


def encode_frames(frames: np.ndarray, clip_start: np.ndarray, lanes: int, bits: int,
                  encoding: Encoding | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frames (F, elems) and per-frame clip-start flags -> (words, tuser) per beat, flat."""
    frames = np.asarray(frames)
    words = pack_beats(frames, lanes, bits, encoding)
    per_frame = words.shape[1]
    users = np.zeros(words.size, dtype=np.int64)
    users[::per_frame] = np.asarray(clip_start, dtype=np.int64).reshape(-1)
    return words.reshape(-1), users


def clip_starts(n_clips: int, frames_per_clip: int) -> np.ndarray:
    """Flags of ``n_clips`` consecutive clips of ``frames_per_clip`` frames: 1 on each first frame."""
    flags = np.zeros(n_clips * frames_per_clip, dtype=np.int64)
    flags[::frames_per_clip] = 1
    return flags
