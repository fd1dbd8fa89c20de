"""Board table (``boards.yaml``): part, resource capacity and default clock per board."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from functools import lru_cache

import yaml

from tsmfpga.core.errors import UserFacingError


@dataclass(frozen=True)
class Board:
    """One row of the board table."""

    #: board name as used on the command line, e.g. "pynq-z2"
    name: str
    #: Xilinx part number
    part: str
    #: "zynq7" (7-series fabric) or "zynq_us+" (UltraScale+)
    family: str
    #: LUTs, of which ``lutram`` can be distributed memory
    lut: int
    lutram: int
    #: flip-flops
    ff: int
    #: 36 Kb block RAMs (two RAMB18 each)
    bram36: int
    #: DSP slices (DSP48E1 on 7-series, DSP48E2 on UltraScale+)
    dsp: int
    #: default fabric clock of our flow in MHz
    clock_mhz: float
    #: Vivado board preset (board_part) for the block design
    board_preset: str

    def capacity(self) -> dict[str, int]:
        """Resource capacity by the keys every estimate uses (LUTRAM: LUTs usable as memory)."""
        return {"LUT": self.lut, "LUTRAM": self.lutram, "FF": self.ff, "BRAM36": self.bram36, "DSP": self.dsp}

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
