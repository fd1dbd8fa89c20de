"""UART transport of the host driver for ECP5 boards (no processing system, no DMA).

``Accelerator.from_backend(SerialTransport("/dev/ttyUSB0", cfg), cfg)`` gives the PYNQ driver's
API (:class:`tsmfpga.deploy.driver.Accelerator`: ``classify_clip``, ``stream``, ``quantize``,
``logits``, ...) over the board's USB-serial, speaking the framing of
``hw/rtl/uart_frame_bridge.sv``: per frame one header byte (bit 0 = clip start) and the input beats
little-endian, ``ceil(in_width / 8)`` bytes each; back ``ceil(out_width / 8)`` bytes per output
beat, which the transport pads to the driver's beat layout (``output.bytes`` of accel.json).

Registers: the bridge carries frames only, so the transport keeps on the host the registers the
driver uses: ``CTRL`` (CLIP_START marks the next frame's header; CLEAR_STATS), ``STATUS``
(clip start pending), ``INFO`` (from accel.json), ``FRAMES_IN`` / ``FRAMES_OUT`` (counted here),
``STREAM``; latency, interval and cycle registers read 0 (no cycle counters over the UART: this
board's latency figures come from rtl_sim).

pyserial is imported only when no ``port`` object is given (``serial=`` takes any object with
``write(bytes)`` and ``read(n) -> bytes``, e.g. a simulation model).
"""

from __future__ import annotations

import numpy as np

from tsmfpga.deploy.driver import CTRL_CLEAR_STATS, CTRL_CLIP_START, REGISTERS, STATUS_CLIP_START_PENDING

#: baud rate of the bridge in the ECP5 board top (tsmfpga.deploy.ecp5.DEFAULT_BAUD)
DEFAULT_BAUD = 3_000_000


class SerialTransport:
    """write_reg / read_reg / transfer over uart_frame_bridge."""

    def __init__(self, port: str | None, config: dict, baud: int = DEFAULT_BAUD, timeout_s: float = 10.0,
                 serial=None):
        if serial is None:
            import serial as pyserial   # pyserial, only needed on the host that talks to a board

            serial = pyserial.Serial(port, baudrate=baud, timeout=timeout_s)
        self.ser = serial
        i, o = config["input"], config["output"]
        self.in_beats, self.out_beats = int(i["frame_beats"]), int(o["frame_beats"])
        self.in_wire = (int(i["width"]) + 7) // 8    # bytes per input beat on the UART
        self.out_wire = (int(o["width"]) + 7) // 8   # bytes per output beat on the UART
        self.out_bytes = int(o["bytes"])             # bytes per output beat in the driver's layout
        if self.out_bytes < self.out_wire:
            raise ValueError(f"accel.json output.bytes {self.out_bytes} < {self.out_wire} bytes of a "
                             f"{o['width']}-bit beat")
        self._clip_start = False
        self.regs = {a: 0 for a in REGISTERS.values()}
        self.regs[REGISTERS["INFO"]] = self.in_beats | (self.out_beats << 16)

    def write_reg(self, addr: int, value: int) -> None:
        if addr == REGISTERS["CTRL"]:
            if value & CTRL_CLIP_START:
                self._clip_start = True
            if value & CTRL_CLEAR_STATS:
                self.regs[REGISTERS["FRAMES_IN"]] = self.regs[REGISTERS["FRAMES_OUT"]] = 0
        else:
            self.regs[addr] = int(value)

    def read_reg(self, addr: int) -> int:
        if addr == REGISTERS["STATUS"]:
            return STATUS_CLIP_START_PENDING if self._clip_start else 0
        return self.regs.get(addr, 0)

    def transfer(self, data: np.ndarray) -> np.ndarray:
        """(T, IN_FRAME_BEATS, IN_BYTES) uint8 beats -> (T, OUT_FRAME_BEATS, OUT_BYTES) uint8,
        one frame at a time (its results are read before the next frame is sent)."""
        data = np.ascontiguousarray(data, dtype=np.uint8)
        if data.ndim != 3 or data.shape[1] != self.in_beats or data.shape[2] < self.in_wire:
            raise ValueError(f"input of shape {data.shape}: expected (T, {self.in_beats}, >= {self.in_wire})")
        n_out = self.out_beats * self.out_wire
        out = np.zeros((len(data), self.out_beats, self.out_bytes), np.uint8)
        for t, frame in enumerate(data):
            header = bytes([1 if self._clip_start else 0])
            self.ser.write(header + frame[:, :self.in_wire].tobytes())
            self._clip_start = False
            self.regs[REGISTERS["FRAMES_IN"]] += 1
            raw = self.ser.read(n_out)
            if len(raw) != n_out:
                raise TimeoutError(f"frame {t}: {len(raw)} of {n_out} result bytes arrived over the UART "
                                   "(board not programmed, wrong port or baud rate?)")
            out[t, :, :self.out_wire] = np.frombuffer(raw, np.uint8).reshape(self.out_beats, self.out_wire)
            self.regs[REGISTERS["FRAMES_OUT"]] += 1
        return out

    def close(self) -> None:
        close = getattr(self.ser, "close", None)
        if close:
            close()
