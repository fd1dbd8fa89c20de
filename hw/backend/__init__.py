"""RTL backends: one function per hardware op type turning a graph node into an RTL instance.

A backend returns an :class:`RtlInstance` (module, parameters, stream ports, files) that the
stitcher (:mod:`tsmfpga.hw.stitch`) wires into one top level. Our own ops fill our SystemVerilog
modules in ``hw/rtl``; FINN ops with an RTL generator in finn-plus (SWG, FMPadding, Thresholding)
use finn-plus' code generation (:mod:`tsmfpga.hw.backend.finn_rtl`).
"""

from tsmfpga.hw.backend.base import (  # noqa: F401
    BACKENDS,
    BackendError,
    RtlInstance,
    Stream,
    backend_for,
    fill,
    register,
)
