"""Configuration of `tsmfpga compile`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tsmfpga.core.errors import UserFacingError
from tsmfpga.flow.transforms.io_prep import InputDeclarationError, parse_input_scale, parse_input_type
from tsmfpga.hw.boards import MAC_POLICIES


@dataclass
class CompileConfig:
    """Everything the compiler's steps read. Paths are plain fields, never environment variables."""

    #: the QONNX model to compile (the golden reference for verification, too)
    model_path: Path
    #: build folder: steps/NN_<step>.onnx after every step, report.json at the end
    out: Path
    #: board name from hw/boards/boards.yaml
    board: str = "pynq-z2"
    #: fabric clock in MHz (None: the board's default)
    clock_mhz: float | None = None
    #: frames (or images) per second to reach; None: the highest that fits the budget
    target_fps: float | None = None
    #: fraction of the board's LUT, BRAM and DSP the design may use
    budget_fraction: float = 0.8
    #: first step to run (earlier steps' saved graph is loaded); None: from the start
    start_step: str | None = None
    #: last step to run; None: to the end
    stop_step: str | None = None
    #: whole clips (TSM) verified frame by frame in Python against the QONNX golden
    verify_clips: int = 8
    #: frames per verification clip (None: the model's metadata, else 8)
    verify_frames: int | None = None
    #: inputs verified for a plain CNN (one image each)
    verify_images: int = 32
    #: optional .npy of integer input codes to verify with, in the model's input layout
    verify_inputs: Path | None = None
    #: seed of the random verification inputs
    seed: int = 0
    #: build RTL even when the HW graph is not bit-exact with the golden (the report says so)
    allow_mismatch: bool = False
    #: FIFO depths: "simulation" (measured occupancy in a Verilator sizing run) or "analytical"
    fifo_sizing: str = "simulation"
    #: declared integer type of the raw graph input ("UINT8", "INT8", ...; ``--input-type``) for
    #: models that do float arithmetic before their first quantizer (BNN-PYNQ TFC/CNV); the input
    #: is then ``code * input_scale``. None: the model's own input quantizer gives the codes
    input_type: str | None = None
    #: scale of the declared input codes, a number or a fraction string ("1/255"; ``--input-scale``);
    #: only with ``input_type`` (None then means 1)
    input_scale: float | str | None = None
    #: independent video streams (cameras) the design serves (``--streams``): every temporal shift
    #: keeps one previous frame and clip state per stream, the stream id travels with each frame
    #: (``s_axis_tdest`` / ``m_axis_tdest``); 1 = the single-stream design
    streams: int = 1
    #: where multiply-accumulates go (``--macs``): "auto" (DSP slices where finn-plus' rule puts them,
    #: moved to LUTs while DSPs are over budget and back while LUTs are) or "lut" (no DSP slices at
    #: all; on ECP5 the routing between fabric and MULT18X18D is what limits the clock); None: the
    #: board's policy (``Board.macs``: "lut" on ECP5 boards, falling back to "auto" for a network
    #: that does not fit without DSPs)
    macs: str | None = None

    def __post_init__(self):
        self.model_path = Path(self.model_path)
        self.out = Path(self.out)
        if self.verify_inputs is not None:
            self.verify_inputs = Path(self.verify_inputs)
        if self.input_type is None and self.input_scale is not None:
            raise InputDeclarationError(
                f"--input-scale {self.input_scale} needs --input-type (e.g. --input-type UINT8 --input-scale 1/255)")
        if isinstance(self.streams, bool) or not isinstance(self.streams, int) or self.streams < 1:
            raise UserFacingError(f"--streams {self.streams}: must be an integer >= 1 (cameras served)")
        if self.macs is not None and self.macs not in MAC_POLICIES:
            raise UserFacingError(f"--macs {self.macs!r}: must be one of {', '.join(MAC_POLICIES)}")
        if self.input_type is not None:
            self.input_type = parse_input_type(self.input_type)
            self.input_scale = parse_input_scale(1 if self.input_scale is None else self.input_scale)
