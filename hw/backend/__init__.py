"""The RTL instance description shared by the op owners (:mod:`tsmfpga.hw.ops`, which build it)
and the stitcher (:mod:`tsmfpga.hw.stitch`, which wires it): :class:`RtlInstance`,
:class:`Stream`, :class:`BackendError`.
The backends themselves live with their owners (``hw/ops/*``)."""

from tsmfpga.hw.backend.base import (  # noqa: F401
    BackendError,
    RtlInstance,
    Stream,
)
