"""Board table (``boards.yaml``): part, family, native resources and clock per board.

Resource units. Every analytical estimate of the flow (the op owners in ``tsmfpga.hw.ops``,
finn-plus' models, the folding budget) counts in **estimate units**, the 7-series resources
finn-plus models: ``LUT`` (LUT6), ``LUTRAM`` (LUT6 used as 64-bit memory), ``FF``, ``BRAM36``
(36 kbit block RAM = two RAMB18) and ``DSP`` (one multiplier slice; our MVAU puts one product in
each). A board lists its *native* resources (``resources`` in the table, the data-sheet / nextpnr
names of its family); :data:`FAMILIES` converts them to estimate units, in this one place:
:meth:`Board.capacity` is what folding and every estimate compare against, :meth:`Board.native`
what post-route reports (nextpnr) compare against.

Lattice ECP5 (``ecp5``): LUT4 / 1.6 LUT6 (the ratio of ECP5 LUT4 slots to xc7 LUT6 seen on our
RTL, TOOLCHAIN.md), distributed RAM bits / 64, DP16KD (18 kbit) = one RAMB18 = 0.5 BRAM36,
MULT18X18D = one DSP (every MVAU product is at most 9 x 9 bits, within 18 x 18). finn-plus'
models need a Xilinx part: ECP5 boards are estimated as ``estimate_part`` (:attr:`Board.finn_part`).
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from functools import lru_cache

import yaml

from tsmfpga.core.errors import UserFacingError

#: estimate units (see the module docstring); LUTRAM is a subset of LUT
ESTIMATE_KEYS = ("LUT", "LUTRAM", "FF", "BRAM36", "DSP")


@dataclass(frozen=True)
class Family:
    """An FPGA family: its vendor flow and how its native resources convert to estimate units."""

    #: "xilinx" (Vivado project, yosys synth_xilinx estimate) or "lattice" (open ECP5 flow)
    vendor: str
    #: native resource -> (estimate key, estimate units per native unit)
    units: dict[str, tuple[str, float]]
    #: Xilinx part whose finn-plus models stand in for this family (None: the board's own part)
    estimate_part: str | None = None


_XILINX = {"LUT": ("LUT", 1.0), "LUTRAM": ("LUTRAM", 1.0), "FF": ("FF", 1.0),
           "BRAM36": ("BRAM36", 1.0), "DSP": ("DSP", 1.0)}

#: per board family: the one place where native resources become estimate units
FAMILIES: dict[str, Family] = {
    "zynq7": Family("xilinx", _XILINX),
    "zynq_us+": Family("xilinx", _XILINX),
    "ecp5": Family("lattice", {
        "LUT4": ("LUT", 1 / 1.6),          # 1.6 LUT4 slots per LUT6 (measured on our RTL)
        "DRAM_BITS": ("LUTRAM", 1 / 64),   # distributed RAM bits, 64 per LUT6 RAM
        "FF": ("FF", 1.0),
        "DP16KD": ("BRAM36", 0.5),         # 18 kbit = one RAMB18
        "MULT18X18D": ("DSP", 1.0),        # one product per multiplier
    }, estimate_part="xc7z020clg400-1"),
}


#: where multiply-accumulates may go (``--macs``, a board's default; :func:`tsmfpga.flow.folding.fold`)
MAC_POLICIES = ("auto", "lut")


@dataclass(frozen=True)
class Board:
    """One row of the board table."""

    #: board name as used on the command line, e.g. "pynq-z2"
    name: str
    #: vendor part number (Xilinx part, or e.g. LFE5U-85F-6BG381C)
    part: str
    #: a key of :data:`FAMILIES`: "zynq7", "zynq_us+", "ecp5"
    family: str
    #: native resources by the family's names (``FAMILIES[family].units``)
    resources: dict[str, int]
    #: default fabric clock of our flow in MHz
    clock_mhz: float
    #: Vivado board preset (board_part) for the block design (Xilinx boards)
    board_preset: str = ""
    #: board oscillator in MHz (boards without a processing system: the PLL reference)
    osc_mhz: float | None = None
    #: nextpnr device options (ECP5): {"device": "85k", "package": "CABGA381", "speed": 6}
    pnr: dict = field(default_factory=dict)
    #: board pins used by our board top: name -> {site, io_type, [pullmode], [freq_mhz]}
    pins: dict = field(default_factory=dict)
    #: MAC policy of a compile for this board that does not choose one (``--macs``): "auto", or
    #: "lut" where fabric <-> DSP routing limits the clock (ECP5: LUT MACs close timing, DSPs did not)
    macs: str = "auto"

    def __post_init__(self):
        fam = FAMILIES.get(self.family)
        if fam is None:
            raise UserFacingError(f"board {self.name!r}: unknown family {self.family!r} "
                                  f"(known: {', '.join(FAMILIES)})")
        if self.macs not in MAC_POLICIES:
            raise UserFacingError(f"board {self.name!r}: macs {self.macs!r} must be one of {', '.join(MAC_POLICIES)}")
        if set(self.resources) != set(fam.units):
            raise UserFacingError(f"board {self.name!r}: resources must be exactly {sorted(fam.units)} "
                                  f"for family {self.family}, got {sorted(self.resources)}")

    @property
    def vendor(self) -> str:
        return FAMILIES[self.family].vendor

    @property
    def finn_part(self) -> str:
        """The Xilinx part finn-plus' models and generators are given for this board."""
        return FAMILIES[self.family].estimate_part or self.part

    def native(self) -> dict[str, int]:
        """Native resource capacity (data-sheet / nextpnr names)."""
        return dict(self.resources)

    def capacity(self) -> dict[str, int]:
        """Resource capacity in estimate units (LUT, LUTRAM: LUTs usable as memory, FF, BRAM36,
        DSP), converted from the native resources by the family's units."""
        cap = {k: 0.0 for k in ESTIMATE_KEYS}
        for native, (key, per) in FAMILIES[self.family].units.items():
            cap[key] += self.resources[native] * per
        return {k: int(v) if k != "BRAM36" else (int(v) if v == int(v) else v) for k, v in cap.items()}

    @property
    def lut(self) -> int:
        return self.capacity()["LUT"]

    @property
    def lutram(self) -> int:
        return self.capacity()["LUTRAM"]

    @property
    def ff(self) -> int:
        return self.capacity()["FF"]

    @property
    def bram36(self):
        return self.capacity()["BRAM36"]

    @property
    def dsp(self) -> int:
        return self.capacity()["DSP"]

    def clock(self, override: float | None = None) -> float:
        """The fabric clock in MHz: ``override`` when given, else the board's default."""
        return float(override or self.clock_mhz)


@lru_cache(maxsize=1)
def _table() -> dict[str, Board]:
    text = (importlib.resources.files("tsmfpga.hw.boards") / "boards.yaml").read_text()
    return {name: Board(name=name, **row) for name, row in yaml.safe_load(text).items()}


def board_names() -> list[str]:
    return list(_table())


def get_board(name: str) -> Board:
    try:
        return _table()[name]
    except KeyError:
        raise UserFacingError(
            f"unknown board {name!r}; known boards: {', '.join(board_names())} "
            "(add a row to hw/boards/boards.yaml for another)"
        ) from None
