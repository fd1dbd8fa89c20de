"""The host driver over the ECP5 boards' UART (SerialTransport): the PYNQ driver's API on a model
of uart_frame_bridge's byte framing with a toy accelerator behind it (header byte with the
clip-start bit, little-endian beats, results padded to the driver's beat layout)."""

import numpy as np
import pytest

from tsmfpga.deploy.driver import Accelerator
from tsmfpga.deploy.serial_transport import SerialTransport

H, W, K, OUT_BITS = 2, 3, 4, 19
CFG = {
    "frames_per_clip": 3, "clock_mhz": 100.0, "class_names": ["a", "b", "c", "d"], "alarm": None,
    "input": {"shape_hwc": [H, W, 1], "layout": "NHWC", "scale": 1 / 255, "zero_point": 0, "code_min": 0,
              "code_max": 255, "lanes": 1, "elem_bits": 8, "width": 8, "frame_beats": H * W, "bytes": 1},
    "output": {"values": K, "lanes": 1, "elem_bits": OUT_BITS, "width": OUT_BITS, "signed": True,
               "frame_beats": K, "bytes": 4, "scale": [1.0] * K, "bias": [0.0] * K},
}


def toy(codes: np.ndarray, clip_start: bool) -> list[int]:
    """What the toy accelerator outputs for one frame (signed, fits 19 bits)."""
    s = int(codes.sum())
    return [s - 1000 * k + (5000 if clip_start else 0) - 3000 for k in range(K)]


class FakeBridge:
    """Byte-level model of uart_frame_bridge + the toy accelerator."""

    def __init__(self):
        self.rx = bytearray()
        self.headers = []

    def write(self, data: bytes):
        n = 1 + H * W
        assert len(data) == n, f"one frame per write: {len(data)} bytes, expected {n}"
        header, codes = data[0], np.frombuffer(data[1:], np.uint8)
        assert header in (0, 1)
        self.headers.append(header)
        for v in toy(codes, bool(header)):
            self.rx += (v & ((1 << OUT_BITS) - 1)).to_bytes(3, "little")

    def read(self, n: int) -> bytes:
        out, self.rx = bytes(self.rx[:n]), self.rx[n:]
        return out


def test_driver_api_over_the_uart_framing():
    bridge = FakeBridge()
    acc = Accelerator.from_backend(SerialTransport(None, CFG, serial=bridge), CFG)   # INFO checked
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, size=(3, H, W), dtype=np.uint8)
    res = acc.classify_clip(clip)
    assert bridge.headers == [1, 0, 0]                 # clip start on the clip's first frame only
    want = np.array([toy(f.reshape(-1).astype(np.int64), i == 0) for i, f in enumerate(clip)])
    got = acc.infer_raw(acc.quantize(clip), clip_start=True)
    assert np.array_equal(got, want)                   # signed 19-bit values through 3-byte beats
    assert res is not None and acc.stats()["frames_in"] == 6 and acc.stats()["frames_out"] == 6


def test_short_read_is_a_clear_error():
    class Silent(FakeBridge):
        def read(self, n):
            return b""

    t = SerialTransport(None, CFG, serial=Silent())
    with pytest.raises(TimeoutError, match="result bytes"):
        t.transfer(np.zeros((1, H * W, 1), np.uint8))
