"""Host driver of the tsmfpga video-classification accelerator (``tsmfpga_accel``).

Standalone: this file imports only numpy (and pynq, on the board). ``tsmfpga deploy`` copies it
next to ``accel.json`` and the bitstream; on the board::

    from driver import Accelerator
    acc = Accelerator("tsmfpga.bit", "accel.json")
    result = acc.classify_clip(frames)          # frames: (T, H, W[, C]) uint8 pixels or floats in [0, 1]
    print(result.class_name, result.scores.max(), result.alarm, result.latency_cycles)
    for r in acc.stream(camera_frames, clip_length=8):
        ...
    # a design compiled with --streams N serves N cameras, each with its own clip state:
    r = acc.submit(camera, frame)               # r.camera, r.index, r.clip_scores, r.alarm, r.latency_cycles

The same API runs against any *transport* (``Accelerator.from_backend(transport, config)``), e.g.
the RTL-simulated twin ``tsmfpga.deploy.twin.SimulatedAccelerator``.

Transport protocol (everything the driver needs from the hardware):

``write_reg(addr: int, value: int) -> None``
    32-bit write to the accelerator's AXI-Lite register block (byte offset ``addr``).
``read_reg(addr: int) -> int``
    32-bit read of a register.
``transfer(data: np.ndarray) -> np.ndarray``
    Stream whole frames through the accelerator. ``data`` is uint8 shaped
    ``(F, IN_FRAME_BEATS, IN_BYTES)``: F frames, each beat's bytes little-endian (what the DMA
    MM2S channel reads from memory). Returns uint8 ``(F, OUT_FRAME_BEATS, OUT_BYTES)``: what the
    S2MM channel wrote, one output frame per input frame (tlast ends each output frame).
    A clip start requested with CTRL.CLIP_START before the call applies to the first frame sent.
``close() -> None`` (optional)
    Release buffers / processes.

Stream format: the input beat carries ``lanes`` elements of ``elem_bits`` bits, lane 0 at the
least significant bits, in the low bits of ``IN_BYTES`` bytes; a frame is the (H, W, C) tensor
flattened in the hardware graph's layout (NHWC: channels fastest). Output beats: ``lanes`` signed
(or unsigned) ``elem_bits`` lanes packed LSB-first in ``OUT_BYTES`` bytes (a power of two), zero
padded. Logits = raw output * scale + bias (per class); the clip score is the softmax of the mean
of the per-frame logits (clip consensus).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Accelerator", "ClipResult", "FrameResult", "PynqTransport", "REGISTERS", "pack_frames",
           "unpack_frames", "softmax"]

#: AXI-Lite register map of tsmfpga_accel (byte offsets); accel.json may override it
REGISTERS = {
    "CTRL": 0x00,         # bit0 CLIP_START (next frame starts a clip; self-clears), bit1 CLEAR_STATS
    "STATUS": 0x04,       # bit0 ERROR, bit1 CLIP_START_PENDING, bit2 BUSY
    "FRAMES_IN": 0x08,    # frames whose first input beat was accepted
    "FRAMES_OUT": 0x0C,   # frames whose last output beat was sent
    "LAT_LAST": 0x10,     # cycles from a frame's first input beat to its last output beat (last frame)
    "LAT_MIN": 0x14,
    "LAT_MAX": 0x18,
    "II_LAST": 0x1C,      # cycles between the first input beats of the last two frames
    "CYCLES": 0x20,
    "INFO": 0x24,         # IN_FRAME_BEATS | OUT_FRAME_BEATS << 16
    "STREAM": 0x28,       # camera (stream id) of the next input frames (multi-stream designs)
    "OUT_STREAM": 0x2C,   # camera of the last output frame
}
CTRL_CLIP_START = 1 << 0
CTRL_CLEAR_STATS = 1 << 1
STATUS_ERROR = 1 << 0
STATUS_CLIP_START_PENDING = 1 << 1
STATUS_BUSY = 1 << 2
_MASK32 = 0xFFFFFFFF


# ----------------------------------------------------------------------------------------------
# bit packing (vectorised numpy)
# ----------------------------------------------------------------------------------------------

def pack_frames(codes, lanes: int, elem_bits: int, beat_bytes: int) -> np.ndarray:
    """Integer elements ``(F, N)`` -> uint8 beats ``(F, N // lanes, beat_bytes)``.

    Each element is taken modulo ``2**elem_bits`` (two's complement for negative values), lane 0
    at the least significant bits; the beat is little-endian and zero padded to ``beat_bytes``.
    """
    a = np.asarray(codes)
    if a.ndim != 2:
        raise ValueError(f"pack_frames: expected (frames, elements), got shape {a.shape}")
    f, n = a.shape
    if not 1 <= elem_bits <= 64:
        raise ValueError(f"pack_frames: elem_bits {elem_bits} not in 1..64")
    if n % lanes:
        raise ValueError(f"pack_frames: {n} elements per frame do not split into beats of {lanes} lanes")
    if lanes * elem_bits > 8 * beat_bytes:
        raise ValueError(f"pack_frames: {lanes} x {elem_bits} bits do not fit in {beat_bytes} bytes")
    v = a.astype(np.int64).astype(np.uint64)  # two's complement bit pattern
    if elem_bits < 64:
        v &= np.uint64((1 << elem_bits) - 1)
    bits = np.unpackbits(v.astype("<u8").view(np.uint8).reshape(f, n, 8), axis=-1, bitorder="little")
    bits = bits[..., :elem_bits].reshape(f, n // lanes, lanes * elem_bits)
    pad = 8 * beat_bytes - lanes * elem_bits
    if pad:
        bits = np.concatenate([bits, np.zeros((f, n // lanes, pad), np.uint8)], axis=-1)
    return np.packbits(bits, axis=-1, bitorder="little")


def unpack_frames(data, lanes: int, elem_bits: int, signed: bool) -> np.ndarray:
    """uint8 beats ``(F, beats, beat_bytes)`` -> int64 elements ``(F, beats * lanes)``."""
    d = np.asarray(data, dtype=np.uint8)
    if d.ndim != 3:
        raise ValueError(f"unpack_frames: expected (frames, beats, bytes), got shape {d.shape}")
    f, beats, nbytes = d.shape
    if not 1 <= elem_bits <= 63:
        raise ValueError(f"unpack_frames: elem_bits {elem_bits} not in 1..63")
    if lanes * elem_bits > 8 * nbytes:
        raise ValueError(f"unpack_frames: {lanes} x {elem_bits} bits do not fit in {nbytes} bytes")
    bits = np.unpackbits(d, axis=-1, bitorder="little")[..., : lanes * elem_bits]
    bits = bits.reshape(f, beats * lanes, elem_bits).astype(np.int64)
    v = bits @ (np.int64(1) << np.arange(elem_bits, dtype=np.int64))
    if signed:
        v = v - ((v >> (elem_bits - 1)) << elem_bits)
    return v


def softmax(x, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------

@dataclass
class ClipResult:
    """One clip classified by :meth:`Accelerator.classify_clip`."""

    #: per-frame logits (T, K) = raw * scale + bias
    logits: np.ndarray
    #: per-frame integer accelerator outputs (T, K)
    raw: np.ndarray
    #: clip scores (K,): softmax of the mean per-frame logits
    scores: np.ndarray
    #: predicted class index and name
    label: int
    class_name: str
    #: alarm decision (score of the alarm class >= threshold), None when no alarm is configured
    alarm: bool | None
    alarm_score: float | None
    #: LAT_LAST after the clip: cycles from the last frame's first input beat to its last output beat
    latency_cycles: int | None
    #: LAT_MIN / LAT_MAX (since the last clear_stats())
    latency_min_cycles: int | None
    latency_max_cycles: int | None
    #: II_LAST: cycles between the first input beats of the clip's last two frames
    interval_cycles: int | None
    #: latency_cycles in microseconds at the configured clock
    latency_us: float | None = None
    frames: int = 0


@dataclass
class FrameResult:
    """One frame of :meth:`Accelerator.stream`."""

    #: frame number in the stream, clip number, frame number within its clip
    index: int
    clip_index: int
    frame_in_clip: int
    #: this frame's logits (K,) and integer outputs (K,)
    logits: np.ndarray
    raw: np.ndarray
    #: running clip scores (K,): softmax of the mean logits of the clip's frames so far
    clip_scores: np.ndarray
    label: int
    class_name: str
    alarm: bool | None
    alarm_score: float | None
    #: LAT_LAST / II_LAST after this frame
    latency_cycles: int | None
    interval_cycles: int | None
    clip_start: bool = False
    extra: dict = field(default_factory=dict)
    #: camera (stream) of the frame (:meth:`Accelerator.submit`; 0 for :meth:`Accelerator.stream`)
    camera: int = 0


# ----------------------------------------------------------------------------------------------
# PYNQ transport (the board)
# ----------------------------------------------------------------------------------------------

class PynqTransport:
    """Transport over PYNQ: Overlay + AXI DMA (simple mode) + the accelerator's AXI-Lite block.

    The input of a transfer goes out as one MM2S transfer (split into frame groups when it
    exceeds the DMA's maximum transfer length); the output comes back one S2MM transfer per
    frame (the accelerator's tlast ends each output frame).
    """

    def __init__(self, bitfile: str, config: dict, download: bool = True, timeout_s: float = 10.0):
        from pynq import MMIO, Overlay

        self.cfg = config
        self.overlay = Overlay(str(bitfile), download=download)
        ips = self.overlay.ip_dict
        want = config.get("ip", {})
        accel = self._find(ips, want.get("accel"), lambda k, v: "tsmfpga" in k.lower()
                           or "tsmfpga" in str(v.get("type", "")).lower())
        dma = self._find(ips, want.get("dma"), lambda k, v: "axi_dma" in str(v.get("type", "")).lower())
        self.accel_name, self.dma_name = accel, dma
        self.mmio = MMIO(int(ips[accel]["phys_addr"]), int(ips[accel].get("addr_range", 0x1000)))
        obj = self.overlay
        for part in dma.split("/"):
            obj = getattr(obj, part)
        self.dma = obj
        self.timeout_s = timeout_s
        self._bufs: dict = {}

    @staticmethod
    def _find(ips: dict, name, match) -> str:
        if name and name in ips:
            return name
        hits = sorted(k for k, v in ips.items() if match(k, v))
        if len(hits) == 1 or (hits and not name):
            return hits[0]
        raise RuntimeError(f"IP {name!r} not in the overlay (found: {', '.join(sorted(ips))}); "
                           "set accel.json ip.accel / ip.dma to the block design's instance names")

    def write_reg(self, addr: int, value: int) -> None:
        self.mmio.write(int(addr), int(value) & _MASK32)

    def read_reg(self, addr: int) -> int:
        return int(self.mmio.read(int(addr))) & _MASK32

    def _buf(self, key, nbytes: int):
        from pynq import allocate

        k = (key, nbytes)
        if k not in self._bufs:
            self._bufs[k] = allocate(shape=(nbytes,), dtype=np.uint8)
        return self._bufs[k]

    @staticmethod
    def _to_device(buf):
        (getattr(buf, "sync_to_device", None) or buf.flush)()

    @staticmethod
    def _from_device(buf):
        (getattr(buf, "sync_from_device", None) or buf.invalidate)()

    def transfer(self, data: np.ndarray) -> np.ndarray:
        o = self.cfg["output"]
        f = data.shape[0]
        in_frame = int(np.prod(data.shape[1:]))
        out_frame = int(o["frame_beats"]) * int(o["bytes"])
        max_bytes = int(getattr(self.dma.sendchannel, "_max_size", 0) or (1 << 23) - 1)
        group = max(1, min(f, max_bytes // in_frame))
        if in_frame > max_bytes:
            raise RuntimeError(f"one input frame ({in_frame} bytes) exceeds the DMA's maximum transfer "
                               f"({max_bytes} bytes): widen the DMA's buffer length register")
        out = np.empty((f, int(o["frame_beats"]), int(o["bytes"])), np.uint8)
        flat = np.ascontiguousarray(data, dtype=np.uint8).reshape(f, in_frame)
        for g0 in range(0, f, group):
            n = min(group, f - g0)
            ibuf = self._buf("in", n * in_frame)
            ibuf[:] = flat[g0:g0 + n].reshape(-1)
            self._to_device(ibuf)
            # the first receive is armed before the send so no output beat waits on the host
            obufs = [self._buf(("out", i), out_frame) for i in range(n)]
            self.dma.recvchannel.transfer(obufs[0])
            self.dma.sendchannel.transfer(ibuf)
            for i in range(n):
                if i:
                    self.dma.recvchannel.transfer(obufs[i])
                self.dma.recvchannel.wait()
                self._from_device(obufs[i])
                out[g0 + i] = np.asarray(obufs[i]).reshape(out.shape[1:])
            self.dma.sendchannel.wait()
        return out

    def close(self) -> None:
        for b in self._bufs.values():
            try:
                b.freebuffer()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass
        self._bufs.clear()


# ----------------------------------------------------------------------------------------------
# the accelerator
# ----------------------------------------------------------------------------------------------

def _load_config(config) -> dict:
    if isinstance(config, dict):
        return config
    path = Path(config)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"accelerator config {path} not found (accel.json of `tsmfpga deploy`)") from None


class Accelerator:
    """The accelerator as the application sees it: frames in, class scores / alarms out.

    On the board: ``Accelerator("tsmfpga.bit", "accel.json")`` (loads the bitstream with PYNQ).
    Elsewhere: ``Accelerator.from_backend(transport, config)`` (see the module docstring).
    """

    def __init__(self, bitfile: str = "tsmfpga.bit", config="accel.json", download: bool = True,
                 check_info: bool = True):
        cfg = _load_config(config)
        base = Path(config).parent if not isinstance(config, dict) else Path(".")
        bit = Path(bitfile)
        if not bit.is_absolute() and not bit.is_file() and (base / bit).is_file():
            bit = base / bit
        self._setup(PynqTransport(str(bit), cfg, download=download), cfg, check_info)

    @classmethod
    def from_backend(cls, backend, config, check_info: bool = True) -> Accelerator:
        """An accelerator on any transport implementing write_reg / read_reg / transfer."""
        self = cls.__new__(cls)
        self._setup(backend, _load_config(config), check_info)
        return self

    # -- setup ----------------------------------------------------------------------------------
    def _setup(self, backend, cfg: dict, check_info: bool = True) -> None:
        self.backend = backend
        self.config = cfg
        self.regs = {**REGISTERS, **{k: int(v) for k, v in cfg.get("registers", {}).items()}}
        i, o = cfg["input"], cfg["output"]
        self.shape_hwc = tuple(int(x) for x in i["shape_hwc"])
        self.layout = i.get("layout", "NHWC")
        self.in_lanes, self.in_bits, self.in_bytes = int(i["lanes"]), int(i["elem_bits"]), int(i["bytes"])
        self.in_frame_beats = int(i["frame_beats"])
        self.code_min = int(i.get("code_min", 0))
        self.code_max = int(i.get("code_max", (1 << self.in_bits) - 1))
        self.in_scale, self.in_zero_point = float(i["scale"]), float(i["zero_point"])
        self.out_lanes, self.out_bits, self.out_bytes = int(o["lanes"]), int(o["elem_bits"]), int(o["bytes"])
        self.out_frame_beats = int(o["frame_beats"])
        self.out_signed = bool(o["signed"])
        self.num_values = int(o["values"])
        self.out_scale = np.asarray(o.get("scale", [1.0]), np.float64)
        self.out_bias = np.asarray(o.get("bias", [0.0]), np.float64)
        names = cfg.get("class_names") or []
        self.class_names = list(names) if len(names) == self.num_values else [f"class_{k}" for k in range(self.num_values)]
        self.frames_per_clip = int(cfg.get("frames_per_clip") or 0) or None
        self.clock_mhz = float(cfg.get("clock_mhz") or 0) or None
        alarm = cfg.get("alarm")
        self.alarm_class = int(alarm["class_index"]) if alarm else None
        self.alarm_threshold = float(alarm["threshold"]) if alarm else None
        n = int(np.prod(self.shape_hwc))
        if n % self.in_lanes or n // self.in_lanes != self.in_frame_beats:
            raise ValueError(f"config: input shape {self.shape_hwc} / {self.in_lanes} lanes != "
                             f"{self.in_frame_beats} beats per frame")
        if self.out_frame_beats * self.out_lanes < self.num_values:
            raise ValueError("config: output frame_beats x lanes < values")
        self._clip_sum = None
        self._clip_n = 0
        #: cameras (streams) the design serves (``tsmfpga compile --streams``) and their clip state
        self.streams = int(cfg.get("streams") or 1)
        self.camera_clip_length = self.frames_per_clip
        self._cams: dict = {}
        if check_info:
            info = self.read("INFO")
            want = self.in_frame_beats | (self.out_frame_beats << 16)
            if info != want:
                raise RuntimeError(
                    f"accelerator INFO register reads {info:#010x} (in {info & 0xFFFF} / out {info >> 16} "
                    f"beats per frame), accel.json expects {want:#010x} (in {self.in_frame_beats} / out "
                    f"{self.out_frame_beats}): the bitstream and accel.json come from different builds")

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- registers ------------------------------------------------------------------------------
    def read(self, reg: str) -> int:
        return int(self.backend.read_reg(self.regs[reg])) & _MASK32

    def write(self, reg: str, value: int) -> None:
        self.backend.write_reg(self.regs[reg], int(value) & _MASK32)

    def stats(self) -> dict:
        """Every register, decoded (latencies None before the first frame)."""
        r = {k: self.read(k) for k in self.regs}
        status, info = r["STATUS"], r["INFO"]
        done = r["FRAMES_OUT"] > 0
        us = (lambda c: c / self.clock_mhz if c is not None and self.clock_mhz else None)
        lat = {k.lower(): (r[k] if done else None) for k in ("LAT_LAST", "LAT_MIN", "LAT_MAX")}
        return {
            "status": {"error": bool(status & STATUS_ERROR),
                       "clip_start_pending": bool(status & STATUS_CLIP_START_PENDING),
                       "busy": bool(status & STATUS_BUSY), "raw": status},
            "frames_in": r["FRAMES_IN"],
            "frames_out": r["FRAMES_OUT"],
            "latency_cycles": lat,
            "latency_us": {k: us(v) for k, v in lat.items()},
            "interval_cycles": r["II_LAST"] if r["FRAMES_IN"] > 1 else None,
            "fps": (self.clock_mhz * 1e6 / r["II_LAST"] if self.clock_mhz and r["II_LAST"] and r["FRAMES_IN"] > 1
                    else None),
            "cycles": r["CYCLES"],
            "info": {"in_frame_beats": info & 0xFFFF, "out_frame_beats": info >> 16},
            "clock_mhz": self.clock_mhz,
            "registers": r,
        }

    def clear_stats(self) -> None:
        """Zero the frame counters, latency min/max and the cycle counter."""
        self.write("CTRL", CTRL_CLEAR_STATS)

    def reset_clip(self) -> None:
        """The next frame starts a new clip (temporal state cleared; running clip score reset)."""
        self.write("CTRL", CTRL_CLIP_START)
        self._clip_sum, self._clip_n = None, 0

    # -- data -----------------------------------------------------------------------------------
    def _expected(self) -> str:
        h, w, c = self.shape_hwc
        return f"(T, {h}, {w}, {c})" + (f" or (T, {h}, {w})" if c == 1 else "")

    def quantize(self, frames) -> np.ndarray:
        """Frames -> integer input codes (T, H, W, C) int64.

        Integer frames (e.g. uint8 pixels) are codes already (checked against the code range);
        float frames are real values (pixel / 255 for 8-bit cameras) and become
        ``clip(round(x / scale) + zero_point, code_min, code_max)``.
        """
        a = np.asarray(frames)
        h, w, c = self.shape_hwc
        if a.ndim == 3 and c == 1 and a.shape[1:] == (h, w):
            a = a[..., None]
        if a.ndim != 4 or a.shape[1:] != (h, w, c) or a.shape[0] < 1:
            hint = ""
            if a.ndim == 4 and a.shape[1:] == (c, h, w):
                hint = "; channel-first clips (T, C, H, W) need frames.transpose(0, 2, 3, 1)"
            raise ValueError(f"frames of shape {a.shape}: expected {self._expected()} "
                             f"(T >= 1 frames of {h}x{w} pixels, {c} channel(s)){hint}")
        if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise ValueError(f"frames of dtype {a.dtype}: expected integer codes (e.g. uint8 pixels) or floats")
        if np.issubdtype(a.dtype, np.integer):
            codes = a.astype(np.int64)
            lo, hi = int(codes.min()), int(codes.max())
            if lo < self.code_min or hi > self.code_max:
                raise ValueError(f"integer frames hold values {lo}..{hi}, outside the input code range "
                                 f"{self.code_min}..{self.code_max}; pass floats to quantize real values")
            return codes
        x = a.astype(np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError("float frames contain NaN or inf")
        q = np.rint(x / self.in_scale) + self.in_zero_point
        return np.clip(q, self.code_min, self.code_max).astype(np.int64)

    def _to_stream(self, codes: np.ndarray) -> np.ndarray:
        """(T, H, W, C) codes -> uint8 DMA beats (T, IN_FRAME_BEATS, IN_BYTES)."""
        x = codes
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return pack_frames(x.reshape(len(x), -1), self.in_lanes, self.in_bits, self.in_bytes)

    def infer_raw(self, codes: np.ndarray, clip_start: bool, camera: int | None = None) -> np.ndarray:
        """Integer codes (T, H, W, C) through the accelerator -> raw outputs (T, K) int64
        (``camera``: the stream the frames belong to, written to STREAM on multi-stream designs)."""
        if camera is not None and self.streams > 1:
            self.write("STREAM", camera)
        if clip_start:
            self.write("CTRL", CTRL_CLIP_START)
        data = self._to_stream(codes)
        out = np.asarray(self.backend.transfer(data), dtype=np.uint8)
        want = (len(codes), self.out_frame_beats, self.out_bytes)
        if out.shape != want:
            raise RuntimeError(f"transfer returned {out.shape}, expected {want}")
        raw = unpack_frames(out, self.out_lanes, self.out_bits, self.out_signed)
        return raw[:, : self.num_values]

    def logits(self, raw) -> np.ndarray:
        return np.asarray(raw, np.float64) * self.out_scale + self.out_bias

    def _decide(self, scores: np.ndarray):
        if self.alarm_class is None:
            return None, None
        s = float(scores[self.alarm_class])
        return bool(s >= self.alarm_threshold), s

    def _lat(self):
        done = self.read("FRAMES_OUT") > 0
        get = (lambda k: self.read(k) if done else None)
        return get("LAT_LAST"), get("LAT_MIN"), get("LAT_MAX"), (self.read("II_LAST") if self.read("FRAMES_IN") > 1 else None)

    def classify_clip(self, frames) -> ClipResult:
        """Classify one clip (T, H, W[, C]): a new clip starts at its first frame (temporal state
        cleared); all frames stream back to back in one transfer."""
        codes = self.quantize(frames)
        raw = self.infer_raw(codes, clip_start=True)
        self._clip_sum, self._clip_n = None, 0
        logits = self.logits(raw)
        scores = softmax(logits.mean(axis=0))
        label = int(np.argmax(scores))
        alarm, alarm_score = self._decide(scores)
        last, lmin, lmax, ii = self._lat()
        return ClipResult(logits=logits, raw=raw, scores=scores, label=label, class_name=self.class_names[label],
                          alarm=alarm, alarm_score=alarm_score, latency_cycles=last, latency_min_cycles=lmin,
                          latency_max_cycles=lmax, interval_cycles=ii if len(codes) > 1 else None,
                          latency_us=(last / self.clock_mhz if last is not None and self.clock_mhz else None),
                          frames=len(codes))

    def stream(self, frames, clip_length: int | None = None):
        """Classify frames one at a time as they arrive (e.g. from a camera); yields a
        :class:`FrameResult` per frame with the running clip score. A clip starts at the first
        frame and, with ``clip_length``, every ``clip_length`` frames (CLIP_START each time)."""
        if clip_length is not None and int(clip_length) < 1:
            raise ValueError(f"clip_length must be >= 1 (or None for one endless clip), got {clip_length}")
        clip_index, k = -1, 0
        for idx, frame in enumerate(frames):
            f = np.asarray(frame)
            start = idx == 0 or (clip_length is not None and k >= int(clip_length))
            if start:
                clip_index, k = clip_index + 1, 0
                self._clip_sum, self._clip_n = None, 0
            elif self._clip_n == 0:  # reset_clip() was called between frames
                start = True
                clip_index, k = clip_index + 1, 0
            codes = self.quantize(f[None] if f.ndim in (2, 3) and f.shape[:2] == self.shape_hwc[:2] else f)
            if len(codes) != 1:
                raise ValueError(f"stream() takes one frame at a time: got {len(codes)} frames of shape {f.shape}")
            raw = self.infer_raw(codes, clip_start=start)[0]
            lg = self.logits(raw)
            self._clip_sum = lg.copy() if self._clip_sum is None else self._clip_sum + lg
            self._clip_n += 1
            scores = softmax(self._clip_sum / self._clip_n)
            label = int(np.argmax(scores))
            alarm, alarm_score = self._decide(scores)
            last, _, _, ii = self._lat()
            yield FrameResult(index=idx, clip_index=clip_index, frame_in_clip=k, logits=lg, raw=raw,
                              clip_scores=scores, label=label, class_name=self.class_names[label], alarm=alarm,
                              alarm_score=alarm_score, latency_cycles=last, interval_cycles=ii, clip_start=start)
            k += 1

    # -- many cameras (a design compiled with --streams N) ----------------------------------------
    def start_clip(self, camera: int) -> None:
        """``camera``'s next frame starts a new clip (its temporal state and running score cleared)."""
        self._camera(camera)["restart"] = True

    def _camera(self, camera) -> dict:
        if isinstance(camera, bool) or not isinstance(camera, (int, np.integer)) or not 0 <= camera < self.streams:
            raise ValueError(f"camera {camera!r}: this accelerator serves cameras 0..{self.streams - 1} "
                             "(compile with --streams N for more)")
        return self._cams.setdefault(int(camera), {"index": 0, "clip": -1, "k": 0, "sum": None, "restart": True})

    def submit(self, camera: int, frame, clip_start: bool = False) -> FrameResult:
        """One frame (H, W[, C]) of ``camera`` through the accelerator; returns its
        :class:`FrameResult` (camera, frame index of that camera, logits, the camera's running clip
        scores and alarm decision, latency). Each camera has its own clip: it starts at the camera's
        first frame, after :meth:`start_clip` / ``clip_start``, and every ``camera_clip_length``
        frames (default: accel.json ``frames_per_clip``; None: endless). Cameras never share state:
        the hardware keeps one temporal state per camera, the driver one running score."""
        cam = self._camera(camera)
        f = np.asarray(frame)
        codes = self.quantize(f[None] if f.ndim in (2, 3) and f.shape[:2] == self.shape_hwc[:2] else f)
        if len(codes) != 1:
            raise ValueError(f"submit() takes one frame at a time: got {len(codes)} frames of shape {f.shape}")
        length = self.camera_clip_length
        start = clip_start or cam["restart"] or (length is not None and cam["k"] >= int(length))
        if start:
            cam.update(clip=cam["clip"] + 1, k=0, sum=None, restart=False)
        raw = self.infer_raw(codes, clip_start=start, camera=int(camera))[0]
        if self.streams > 1 and self.read("OUT_STREAM") != camera:
            raise RuntimeError(f"output frame carries camera {self.read('OUT_STREAM')}, expected {camera}")
        lg = self.logits(raw)
        cam["sum"] = lg.copy() if cam["sum"] is None else cam["sum"] + lg
        scores = softmax(cam["sum"] / (cam["k"] + 1))
        label = int(np.argmax(scores))
        alarm, alarm_score = self._decide(scores)
        last, _, _, ii = self._lat()
        res = FrameResult(index=cam["index"], clip_index=cam["clip"], frame_in_clip=cam["k"], logits=lg, raw=raw,
                          clip_scores=scores, label=label, class_name=self.class_names[label], alarm=alarm,
                          alarm_score=alarm_score, latency_cycles=last, interval_cycles=ii, clip_start=start,
                          camera=int(camera))
        cam["index"] += 1
        cam["k"] += 1
        return res
