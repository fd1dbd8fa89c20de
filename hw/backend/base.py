"""The RTL instance description (what an op owner's backend returns, what the stitcher wires)
and the strict template filler."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tsmfpga.core.errors import UserFacingError


class BackendError(UserFacingError):
    """A node cannot be turned into RTL (unsupported attributes, types or sizes)."""


@dataclass
class Stream:
    """One AXI-Stream port of an instance (data/valid/ready, optional last/user)."""

    #: port names of the instance
    tdata: str
    tvalid: str
    tready: str
    #: elements (lanes) per beat and bits per element
    lanes: int
    elem_bits: int
    #: width of the tdata port (FINN pads to whole bytes); >= lanes * elem_bits
    port_width: int
    #: optional tlast / tuser ports (our own modules)
    tlast: str | None = None
    tuser: str | None = None

    @property
    def width(self) -> int:
        return self.lanes * self.elem_bits


@dataclass
class RtlInstance:
    """A graph node as an instance of an RTL module."""

    #: graph node name (instance name in the top level)
    name: str
    #: RTL module to instantiate
    module: str
    #: module parameters in order; str values are emitted as quoted strings
    params: dict[str, object]
    #: input / output streams in the node's input / output order
    inputs: list[Stream]
    outputs: list[Stream]
    #: clock and reset port names; reset polarity
    clk: str = "clk"
    rst: str = "rst"
    rst_active_low: bool = False
    #: source files this instance needs (copied into the RTL folder, deduplicated by name)
    sources: list[Path] = field(default_factory=list)
    #: generated files: name -> text (weights, thresholds, generated wrappers)
    files: dict[str, str] = field(default_factory=dict)
    #: input ports tied to a constant (e.g. unused AXI-Lite of FINN modules): port -> value
    ties: dict[str, str] = field(default_factory=dict)
    #: for stateful temporal ops: input beats per frame (the stitcher feeds the clip-start flag
    #: on tuser of the first beat of each frame)
    clip_frame_beats: int | None = None
    #: for multi-stream stateful ops: the input port taking the stream id of the frame (the
    #: stitcher feeds it from the same per-frame queue as the clip-start flag); None: one stream
    stream_port: str | None = None
    #: cycles from input to output when not stalled, if known (for reports)
    latency_cycles: int | None = None
