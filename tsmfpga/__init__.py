"""tsmfpga: low-bit Temporal Shift Module video networks to verified FPGA RTL.

Sub-packages follow the flow: ``tsmfpga.quant`` (QAT, folder ``quant/``) ->
``tsmfpga.flow`` (FINN front end, folder ``build/``) -> ``tsmfpga.hw`` (hardware ops,
RTL, boards, folder ``hw/``) -> ``tsmfpga.sim`` (cocotb simulation, folder ``sim/``).
"""

__version__ = "0.1.0"
