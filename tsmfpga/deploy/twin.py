"""Simulated twin of the board: the driver's API on the RTL simulation of a build directory.

``SimulatedAccelerator(build_dir)`` is an :class:`~tsmfpga.deploy.driver.Accelerator` whose
transport (:class:`SimTransport`) streams the frames through the stitched top (``DIR/rtl``) with
the file-driven testbench of :mod:`tsmfpga.sim.harness`. Nothing is computed in Python: the
outputs are the simulated RTL's output beats, the latency registers come from the simulation's
cycle stamps.

How the twin maps the board's behaviour onto whole-run simulations (every simulation starts
from reset):

* The accelerator keeps temporal state between frames until a clip start (tuser on a frame's
  first beat clears it, like reset). So each transfer re-simulates the frames since the last
  clip start (or since power-up) followed by the new frames, and returns the new frames' outputs.
  Results are exact; the cost grows with the frames since the clip start (a clip is short).
* Timing: frames of one transfer stream back to back (the DMA keeps the accelerator fed). Frames
  of separate transfers meet a drained pipeline (``transfer`` returns only after the last output
  beat); when a transfer carries one frame (``stream()``), the replay offers every frame after
  the previous one has left the pipeline (testbench frame pacing), so that frame's latency is
  the isolated latency as on the board. A multi-frame transfer in the middle of a clip measures
  its frames behind the replayed ones (an upper bound of the board's latency). A clip's first
  frame always meets the pipeline just after reset (it may differ by a few cycles from a frame
  meeting a drained pipeline later on).
* Cameras (a design compiled with ``--streams N``): the STREAM register tags the next frames with
  a camera (``s_axis_tdest``). The replay holds, in their original interleaved order, the frames
  of every camera's current clip (a camera's older frames are dropped at its clip start), each
  with its camera and clip-start flag, so the simulated RTL must keep the cameras' temporal states
  apart to give the right outputs; OUT_STREAM is the simulated ``m_axis_tdest`` of the last frame.
* II_LAST is the interval between the first input beats of the last two frames of one transfer
  (unchanged by single-frame transfers).
* CYCLES accumulates, per transfer, the cycles from the first input beat of its first frame to
  the last output beat of its last frame (the host's idle time is not simulated).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tsmfpga.deploy.driver import (CTRL_CLEAR_STATS, CTRL_CLIP_START, REGISTERS, STATUS_CLIP_START_PENDING,
                                   STATUS_ERROR, Accelerator, _load_config)
from tsmfpga.deploy.package import build_config
from tsmfpga.sim import harness
from tsmfpga.core.errors import UserFacingError

_MASK32 = 0xFFFFFFFF


def _bytes_to_words(data: np.ndarray, width: int) -> list[int]:
    """uint8 (..., nbytes) little-endian beats -> python ints masked to ``width`` bits."""
    d = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1, data.shape[-1])
    mask = (1 << width) - 1
    if d.shape[1] <= 8:
        pad = np.zeros((len(d), 8), np.uint8)
        pad[:, : d.shape[1]] = d
        return [int(w) & mask for w in pad.view("<u8").reshape(-1)]
    return [int.from_bytes(row.tobytes(), "little") & mask for row in d]


def _words_to_bytes(words, nbytes: int) -> np.ndarray:
    """python ints -> uint8 (n, nbytes) little-endian (zero padded)."""
    if nbytes <= 8:
        a = np.array([int(w) for w in words], dtype=np.uint64).astype("<u8")
        return a.view(np.uint8).reshape(-1, 8)[:, :nbytes].copy()
    return np.frombuffer(b"".join(int(w).to_bytes(nbytes, "little") for w in words),
                         np.uint8).reshape(-1, nbytes).copy()


class SimTransport:
    """Transport (write_reg / read_reg / transfer) backed by the RTL simulation of ``build_dir``.

    ``work``: where the simulator model is built and the runs happen. Default: the simulator build
    is cached in ``build_dir/sim`` (shared with `tsmfpga sim`, same testbench) and the runs use a
    private temporary folder (removed by :meth:`close`).
    """

    def __init__(self, build_dir, config: dict, work=None, simulator: str = "verilator", seed: int = 1,
                 log=print):
        self.h = harness
        self.build_dir = Path(build_dir).resolve()
        self.rtl_dir = self.build_dir / "rtl"
        mpath = self.rtl_dir / "manifest.json"
        if not mpath.is_file():
            raise UserFacingError(f"{mpath} not found: run `tsmfpga compile` (with the rtl step) into {build_dir}")
        self.manifest = json.loads(mpath.read_text())
        self.cfg = config
        self.simulator = simulator
        self.seed = seed
        self.log = log or (lambda *a, **k: None)
        i, o = self.manifest["input"], self.manifest["output"]
        self.in_w, self.out_w = int(i["width"]), int(o["width"])
        self.in_fb, self.out_fb = int(i["frame_beats"]), int(o["frame_beats"])
        self.in_bytes, self.out_bytes = int(config["input"]["bytes"]), int(config["output"]["bytes"])
        if work is None:
            build_work = self.build_dir / "sim"
            self.run_dir = Path(tempfile.mkdtemp(prefix="tsmfpga-twin-"))
            self._own_run_dir = True
        else:
            build_work = Path(work).resolve()
            self.run_dir = build_work / "twin_runs"
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._own_run_dir = False
        try:
            self.exe = harness.build(self.rtl_dir, self.manifest, build_work, simulator, log=self.log)
        except harness.HarnessError as exc:
            self.close()
            raise UserFacingError(str(exc)) from None
        #: replayed frames: (camera, clip start, input words) of every camera's current clip, in
        #: the order they were sent (one camera: the frames since its last clip start)
        self.history: list[tuple[int, bool, list[int]]] = []
        self.streams = int((self.manifest.get("streams") or {}).get("streams", 1))
        self.stream = 0
        self.out_stream = 0
        self.pending = False
        self.error = False
        self.iso_latency: int | None = None  # latency of a frame meeting an empty pipeline
        self.runs: list[dict] = []           # per transfer: frames, period, wall time (diagnostics)
        self._clear()

    # -- registers ----------------------------------------------------------------------------
    def _clear(self):
        self.frames_in = self.frames_out = 0
        self.lat_last = self.lat_max = self.ii_last = self.cycles = 0
        self.lat_min = _MASK32

    def write_reg(self, addr: int, value: int) -> None:
        if addr == REGISTERS["STREAM"] and self.streams > 1:
            self.stream = int(value) % (1 << max(1, (self.streams - 1).bit_length()))
        if addr == REGISTERS["CTRL"]:
            if value & CTRL_CLIP_START:
                self.pending = True
            if value & CTRL_CLEAR_STATS:
                self._clear()
        # every other register is read-only

    def read_reg(self, addr: int) -> int:
        status = (STATUS_ERROR if self.error else 0) | (STATUS_CLIP_START_PENDING if self.pending else 0)
        regs = {"STATUS": status, "FRAMES_IN": self.frames_in, "FRAMES_OUT": self.frames_out,
                "LAT_LAST": self.lat_last, "LAT_MIN": self.lat_min, "LAT_MAX": self.lat_max,
                "II_LAST": self.ii_last, "CYCLES": self.cycles, "CTRL": 0,
                "STREAM": self.stream if self.streams > 1 else 0, "OUT_STREAM": self.out_stream,
                "INFO": self.in_fb | (self.out_fb << 16)}
        for name, off in REGISTERS.items():
            if off == addr:
                return int(regs[name]) & _MASK32
        return 0

    # -- streaming ------------------------------------------------------------------------------
    def _simulate(self, frames: list[tuple[int, bool, list[int]]], period: int):
        words = np.array([w for _, _, f in frames for w in f], dtype=object)
        users = np.zeros(len(words), dtype=np.int64)
        users[::self.in_fb] = [int(s) for _, s, _ in frames]
        dests = np.repeat([c for c, _, _ in frames], self.in_fb) if self.streams > 1 else None
        n = len(frames)
        max_cycles = n * period + 64 * len(words) + 2_000_000
        return self.h.run(self.exe, self.rtl_dir, self.run_dir, words, users, self.in_w, n * self.out_fb,
                          simulator=self.simulator, seed=self.seed, max_cycles=max_cycles, period=period,
                          dests=dests)

    def transfer(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data, dtype=np.uint8)
        if data.ndim != 3 or data.shape[1:] != (self.in_fb, self.in_bytes):
            raise ValueError(f"transfer: expected uint8 (frames, {self.in_fb}, {self.in_bytes}), got {data.shape}")
        cam = self.stream if self.streams > 1 else 0
        new = [(cam, False, _bytes_to_words(f, self.in_w)) for f in data]
        if not new:
            return np.zeros((0, self.out_fb, self.out_bytes), np.uint8)
        if self.pending:  # the camera's clip restarts: its earlier frames no longer matter
            self.history = [h for h in self.history if h[0] != cam]
            new[0] = (cam, True, new[0][2])
            self.pending = False
        hist = len(self.history)
        frames = self.history + new
        period = 0
        if len(new) == 1 and hist and self.iso_latency:
            period = self.iso_latency + max(64, self.iso_latency // 8)
        for _attempt in range(3):
            run = self._simulate(frames, period)
            if run.timeout or len(run.outputs) < len(frames) * self.out_fb:
                self.error = True
                raise TimeoutError(f"simulated accelerator produced {len(run.outputs)} of "
                                   f"{len(frames) * self.out_fb} output beats (deadlock or starvation); "
                                   f"run files in {self.run_dir}")
            # the first frame of every run meets an empty pipeline (the simulation starts from reset)
            if 0 in run.in_start and 0 in run.out_end:
                iso = run.out_end[0] - run.in_start[0]
                self.iso_latency = max(self.iso_latency or 0, iso)
            if not period or run.in_start[hist] > run.out_end[hist - 1]:
                break
            period *= 2  # the previous frame had not left the pipeline: pace further apart
        self.error = self.error or run.status_error or run.bad_tlast
        self.runs.append({"frames": len(frames), "new": len(new), "period": period, "wall_s": run.wall_s})
        # registers from the new frames' cycle stamps
        for j in range(hist, len(frames)):
            lat = run.out_end[j] - run.in_start[j]
            self.lat_last = lat
            self.lat_min = min(self.lat_min, lat)
            self.lat_max = max(self.lat_max, lat)
            if j > hist:  # intervals within this transfer only (host time between transfers is not simulated)
                self.ii_last = run.in_start[j] - run.in_start[j - 1]
        self.frames_in += len(new)
        self.frames_out += len(new)
        self.cycles = (self.cycles + run.out_end[len(frames) - 1] - run.in_start[hist]) & _MASK32
        self.history = frames
        if run.out_dest:
            self.out_stream = run.out_dest.get(len(frames) - 1, 0)
        out = run.outputs[hist * self.out_fb: len(frames) * self.out_fb]
        return _words_to_bytes(out, self.out_bytes).reshape(len(new), self.out_fb, self.out_bytes)

    def close(self) -> None:
        if self._own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)


class SimulatedAccelerator(Accelerator):
    """The board's :class:`Accelerator` API on the RTL simulation of a `tsmfpga compile` build.

    ``config``: an accel.json (path or dict) of this build; default: derived from the build dir
    exactly as `tsmfpga deploy` writes it (``qat_report`` / ``alarm_class`` / ``alarm_threshold``
    as in :func:`tsmfpga.deploy.package.build_config`).
    """

    def __init__(self, build_dir, work=None, simulator: str = "verilator", config=None, qat_report=None,
                 alarm_class: int | None = None, alarm_threshold: float | None = None, seed: int = 1,
                 log=print):
        if simulator not in ("verilator", "icarus"):
            raise UserFacingError(f"simulator {simulator!r}: use verilator or icarus")
        if config is None:
            cfg = build_config(build_dir, qat_report=qat_report, alarm_class=alarm_class,
                               alarm_threshold=alarm_threshold)
        else:
            cfg = _load_config(config)
        transport = SimTransport(build_dir, cfg, work=work, simulator=simulator, seed=seed, log=log)
        try:
            self._setup(transport, cfg)
        except Exception:
            transport.close()
            raise

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
