"""Typed, versioned records that travel between stages, parsed in one place.

Records travel in two ways: as graph metadata (qonnx ``metadata_props``, key ``tsmfpga.<name>``,
JSON) so every saved graph is self-describing, and as JSON files (``rtl/manifest.json``).
Every record carries ``version``; a record written by a newer schema is refused with a clear
message, a record without one is a wave-1 record (version 1).

Which stage writes what:

=====================  ==========================  =============================================
key / file             record                      written by
=====================  ==========================  =============================================
tsmfpga.hw_input       :class:`HwInput`            compile step ``integer_input`` (+ ``nhwc``)
tsmfpga.integer_thr... :class:`IntegerThresholds`  compile step ``streamline`` (exact thresholds)
tsmfpga.design         :class:`Design`             compile step ``fold`` (board, clock, target)
tsmfpga.folding        :class:`Folding`            compile step ``fold``
tsmfpga.python_exec    dict (verification result)  compile step ``verify_python``
tsmfpga.rtl            dict (RTL summary)          compile step ``rtl``
rtl/manifest.json      :class:`RtlManifest`        the stitcher (``tsmfpga.hw.stitch``)
=====================  ==========================  =============================================
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.streams import Encoding

#: version of every record this code writes
SCHEMA_VERSION = 1


class RecordError(UserFacingError):
    """A record is missing, malformed or from a newer schema."""


def _from_dict(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    version = int(data.get("version", 1))
    if version > SCHEMA_VERSION:
        raise RecordError(f"{where}: {cls.__name__} record version {version} is newer than this tsmfpga "
                          f"understands ({SCHEMA_VERSION}); update tsmfpga or rebuild with this version")
    names = {f.name for f in dataclasses.fields(cls)}
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and f.name not in data]
    if missing:
        raise RecordError(f"{where}: {cls.__name__} record lacks field(s) {missing}; rebuild it")
    known = {k: v for k, v in data.items() if k in names}
    known["version"] = version
    obj = cls(**known)
    return obj


class Record:
    """Mixin: ``to_dict`` / ``from_dict`` with versioning."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "record"):
        return _from_dict(cls, data, where)


@dataclass
class HwInput(Record):
    """The hardware input: integer codes, ``x = (code - zero_point) * scale``."""

    #: graph input tensor name
    name: str = ""
    #: qonnx DataType name of the codes (UINT8 for pixels)
    dtype: str = ""
    #: input scale and zero-point of the absorbed input quantizer
    scale: float = 1.0
    zero_point: float = 0.0
    #: range of the codes
    code_min: int | None = None
    code_max: int | None = None
    #: "NHWC" for image graphs after the nhwc step, "NC" for flat inputs, None before
    layout: str | None = None
    #: how codes relate to values (documentation for users of the graph)
    meaning: str = ""
    #: True when the user declared the input type and scale (``compile --input-type/--input-scale``),
    #: False when they come from the model's own input quantizer
    declared: bool = False
    version: int = SCHEMA_VERSION


@dataclass
class Design(Record):
    """What a design was built for: the board it was folded for and the clock/target."""

    #: board name (hw/boards/boards.yaml) the folding used
    board: str
    #: fabric clock in MHz the folding used
    clock_mhz: float
    #: frames/s asked for (None: the highest that fits)
    target_fps: float | None = None
    #: fraction of the board the folding could use
    budget_fraction: float = 0.8
    version: int = SCHEMA_VERSION


@dataclass
class Folding(Record):
    """The folding of a HW graph (every figure analytical)."""

    layers: list[dict]
    ideal_ii_cycles: int
    bottleneck: str
    fps_estimate: float
    totals: dict
    budget: dict
    capacity: dict
    utilization: dict
    target_fps: float | None
    board: str = ""
    clock_mhz: float = 0.0
    budget_fraction: float = 0.8
    target_cycles: int | None = None
    mac_impl: dict = field(default_factory=dict)
    #: MAC policy of the folding ("auto" or "lut": no DSP slices; ``--macs``)
    macs: str = "auto"
    limit: dict = field(default_factory=dict)
    source: str = "analytical"
    units: dict = field(default_factory=dict)
    version: int = SCHEMA_VERSION


@dataclass
class StreamPort(Record):
    """One AXI-Stream end of the stitched top."""

    #: elements per beat, bits per element, tdata width
    lanes: int
    elem_bits: int
    width: int
    #: beats per frame
    frame_beats: int
    #: graph tensor carried
    tensor: str = ""
    #: qonnx DataType name of the elements ("" in hand-written manifests: no stream encoding)
    dtype: str = ""
    version: int = SCHEMA_VERSION

    def __post_init__(self):
        for name in ("lanes", "elem_bits", "width", "frame_beats"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise RecordError(f"stream port {self.tensor!r}: {name} must be a positive integer, got {value!r}")

    def encoding(self) -> Encoding:
        if not self.dtype:
            raise RecordError(f"stream port {self.tensor!r}: no dtype in the manifest; recompile")
        return Encoding.of(self.dtype)


@dataclass
class RtlManifest(Record):
    """``rtl/manifest.json``: the stitched top's files (compile order), interface and plan."""

    top: str
    files: list[str]
    input: Any
    output: Any
    fifos: dict = field(default_factory=dict)
    dwcs: dict = field(default_factory=dict)
    instances: list = field(default_factory=list)
    fifo_sizing: dict | None = None
    #: multi-stream designs: {"streams": N, "tdest_bits": B} (s_axis_tdest / m_axis_tdest); None: one stream
    streams: dict | None = None
    version: int = SCHEMA_VERSION

    def __post_init__(self):
        if isinstance(self.input, dict):
            self.input = StreamPort.from_dict(self.input, "manifest input")
        if isinstance(self.output, dict):
            self.output = StreamPort.from_dict(self.output, "manifest output")

    @classmethod
    def load(cls, rtl_dir: Path) -> "RtlManifest":
        path = Path(rtl_dir) / "manifest.json"
        if not path.is_file():
            raise RecordError(f"{path} not found: run `tsmfpga compile` (with the rtl step) first")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}: not valid JSON ({exc}); recompile") from None
        return cls.from_dict(data, str(path))

    def save(self, rtl_dir: Path) -> None:
        write_json(Path(rtl_dir) / "manifest.json", self.to_dict())


@dataclass
class IntegerThresholds(Record):
    """What the front end decided when it made integer-input thresholds integers (float64)."""

    #: MultiThreshold nodes on integer inputs, and their thresholds
    nodes: int = 0
    thresholds: int = 0
    #: thresholds that were exact rounding ties (sent to the even level)
    exact_ties: int = 0
    #: smallest distance of a non-tie threshold from an integer (how close float32 would have come
    #: to deciding it wrong); None when every threshold was a tie
    nearest_non_tie: float | None = None
    version: int = SCHEMA_VERSION


#: graph metadata keys with a typed record
META_RECORDS = {"tsmfpga.hw_input": HwInput, "tsmfpga.design": Design, "tsmfpga.folding": Folding,
                "tsmfpga.integer_thresholds": IntegerThresholds}


def get_meta(model, key: str, default=None):
    """The metadata entry ``key`` of a graph: its record type when it has one, else plain JSON."""
    raw = model.get_metadata_prop(key)
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RecordError(f"graph metadata {key}: not valid JSON ({exc})") from None
    cls = META_RECORDS.get(key)
    return cls.from_dict(value, f"graph metadata {key}") if cls else value


def set_meta(model, key: str, value) -> None:
    """Store ``value`` (a record or plain JSON) as graph metadata ``key``."""
    cls = META_RECORDS.get(key)
    if cls is not None and not isinstance(value, cls):
        raise TypeError(f"graph metadata {key} takes a {cls.__name__} record, got {type(value).__name__}")
    data = value.to_dict() if isinstance(value, Record) else value
    model.set_metadata_prop(key, json.dumps(data))


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    import os

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)
