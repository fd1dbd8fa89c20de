"""Vivado project generation (block design, bitstream build script) for Zynq boards."""

from tsmfpga.hw.vivado.project import write_project

__all__ = ["write_project"]
