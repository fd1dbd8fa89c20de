"""cocotb testbench: the host driver end to end through the ECP5 board design.

DUT: the board top (``tsmfpga.deploy.ecp5.write_board_top``, no PLL: the oscillator pin clocks the
fabric) = power-on reset + ``uart_frame_bridge`` + the stitched accelerator, the wiring of the
bitstream. Host: the real driver stack, ``Accelerator.from_backend(SerialTransport(...))``, runs in
a cocotb ``bridge`` thread; its serial port is :class:`SimSerial`, an 8N1 line model at the host's
own baud rate (not derived from the fabric clock, as with the FT231X) on ``ftdi_txd`` (host -> FPGA)
and ``ftdi_rxd`` (FPGA -> host). No Python runs per clock cycle: the line model wakes once per bit.

The case file (env ``TSM_UART_CASE``, written by tests/deploy/test_uart_board_rtl.py) holds the
accel.json config, the clips (uint8 codes), the bit rate and the read timeout; this bench writes
what the host decoded, the bridge's ``overrun`` and the accelerator's ``status_error`` (both
sticky) and per-frame round-trip cycles to ``TSM_UART_RESULT``; the pytest side compares.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, Timer
from cocotb.utils import get_sim_time

from tsmfpga.deploy.driver import Accelerator
from tsmfpga.deploy.serial_transport import SerialTransport


class UartLine:
    """The host's UART: an 8N1 transmitter driving ``tx`` and a receiver listening on ``rx``
    (a background task buffering every byte, like a serial port's receive buffer)."""

    def __init__(self, tx, rx, bit_ps: int):
        self.tx, self.rx, self.bit_ps = tx, rx, int(bit_ps)
        self.buf = bytearray()
        self.got = Event()
        self.framing_errors = 0
        self.glitches = 0
        self.bytes_sent = 0

    def start(self):
        self.tx.value = 1
        cocotb.start_soon(self._receive())

    async def send(self, data: bytes) -> None:
        for byte in data:
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                self.tx.value = bit
                await Timer(self.bit_ps, "ps")
            self.bytes_sent += 1

    async def _receive(self) -> None:
        while True:
            await FallingEdge(self.rx)               # start bit
            await Timer(self.bit_ps // 2, "ps")      # middle of it
            if int(self.rx.value) != 0:
                self.glitches += 1
                continue
            v = 0
            for i in range(8):
                await Timer(self.bit_ps, "ps")
                v |= int(self.rx.value) << i
            await Timer(self.bit_ps, "ps")
            if int(self.rx.value) != 1:
                self.framing_errors += 1
            self.buf.append(v)
            self.got.set()

    async def read(self, n: int, timeout_ps: int) -> bytes:
        deadline = get_sim_time("ps") + timeout_ps
        while len(self.buf) < n:
            left = int(deadline - get_sim_time("ps"))
            if left <= 0:
                break
            self.got.clear()
            await First(self.got.wait(), Timer(left, "ps"))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class SimSerial:
    """pyserial's ``write`` / ``read`` on the line model, blocking (call from a ``bridge`` thread).
    Logs each write's header byte and the simulated time from a frame's first byte out to its
    last result byte in."""

    def __init__(self, line: UartLine, timeout_ps: int):
        self.line, self.timeout_ps = line, int(timeout_ps)
        self.headers: list[int] = []
        self.round_trip_ps: list[int] = []
        self._t0 = 0
        self._send = resume(line.send)
        self._read = resume(line.read)
        self._now = resume(_now_ps)

    def write(self, data: bytes) -> int:
        self.headers.append(data[0])
        self._t0 = self._now()
        self._send(bytes(data))
        return len(data)

    def read(self, n: int) -> bytes:
        out = self._read(n, self.timeout_ps)
        self.round_trip_ps.append(int(self._now() - self._t0))
        return out


async def _now_ps() -> int:
    return int(get_sim_time("ps"))


@cocotb.test()
async def clips_over_the_uart(dut):
    case = json.loads(Path(os.environ["TSM_UART_CASE"]).read_text())
    cfg = case["config"]
    clips = np.asarray(case["clips"], np.uint8)
    clock_ps = round(1e6 / float(cfg["clock_mhz"]))
    Clock(dut.clk_25mhz, clock_ps, "ps").start()
    dut.ftdi_txd.value = 1
    await ClockCycles(dut.clk_25mhz, 40)            # the board top's power-on reset (16 cycles)
    line = UartLine(dut.ftdi_txd, dut.ftdi_rxd, case["bit_ps"])
    line.start()
    ser = SimSerial(line, case["timeout_ps"])

    def host():
        acc = Accelerator.from_backend(SerialTransport(None, cfg, serial=ser), cfg)
        out = {"raw": [acc.classify_clip(clip).raw.tolist() for clip in clips]}
        first = acc.quantize(clips[0][:1])
        # clip 0's first frame again, header clip-start bit 0: the accelerator must continue the
        # last clip's temporal state; then once more with the bit set: it must start afresh
        out["continued_frame"] = acc.infer_raw(first, clip_start=False).tolist()
        out["restarted_frame"] = acc.infer_raw(first, clip_start=True).tolist()
        stats = acc.stats()
        out["frames_in"], out["frames_out"] = stats["frames_in"], stats["frames_out"]
        return out

    try:
        result, error = await bridge(host)(), None
    except TimeoutError as exc:   # SerialTransport: the results did not come back
        result, error = {}, str(exc)
    await Timer(20 * line.bit_ps, "ps")              # nothing more may come back
    result.update({
        "error": error,
        "headers": ser.headers,
        "round_trip_cycles": [t // clock_ps for t in ser.round_trip_ps],
        "overrun": int(dut.u_uart.overrun.value),
        "status_error": int(dut.u_accel.status_error.value),
        "extra_bytes": len(line.buf),
        "framing_errors": line.framing_errors,
        "glitches": line.glitches,
        "bytes_sent": line.bytes_sent,
        "sim_cycles": int(get_sim_time("ps")) // clock_ps,
    })
    Path(os.environ["TSM_UART_RESULT"]).write_text(json.dumps(result))
    assert result["overrun"] == 0, f"uart_frame_bridge dropped an input beat (overrun); host: {error}"
    assert error is None, error
    assert result["status_error"] == 0
    assert result["extra_bytes"] == result["framing_errors"] == result["glitches"] == 0, result
