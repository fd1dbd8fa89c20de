"""Project-owned hardware ops and the owner of every hardware op kind.

qonnx domain ``tsmfpga.hw.ops``: qonnx resolves a node's ``domain`` by importing the module of
that name and looking the ``op_type`` up in its ``__all__`` (classes only; other names are
skipped), so a node with ``domain="tsmfpga.hw.ops"`` and ``op_type="TemporalShift"`` works with
``getCustomOp`` and ``execute_onnx`` as soon as this package is importable. Nodes also carry
``backend="fpgadataflow"``, so FINN's ``is_fpgadataflow_node`` counts them as HW layers.

Owners (one module per op kind, see :mod:`tsmfpga.hw.ops.owner`): :mod:`~tsmfpga.hw.ops.mvau`,
:mod:`~tsmfpga.hw.ops.temporal_shift`, :mod:`~tsmfpga.hw.ops.pool`,
:mod:`~tsmfpga.hw.ops.stream_ops`, :mod:`~tsmfpga.hw.ops.vvau`, :mod:`~tsmfpga.hw.ops.finn_rtl`, :mod:`~tsmfpga.hw.ops.generic`.
Importing this package registers them all; :func:`owner_for` finds the owner of a node.
Adding an op = one owner module (imported here) + one RTL file + its cocotb test.
"""

from tsmfpga.hw.ops.temporal_shift import (
    DOMAIN,
    TemporalShift,
    get_state,
    make_temporal_shift_node,
    reset_state,
)
from tsmfpga.hw.ops import finn_rtl, generic, mvau, pool, stream_ops, vvau  # noqa: F401,E402  (register owners)
from tsmfpga.hw.ops.finn_rtl import rtl_context  # noqa: E402
from tsmfpga.hw.ops.mvau import widen_accumulator_outputs  # noqa: E402
from tsmfpga.hw.ops.owner import estimate_layer, module_kinds, owner_for  # noqa: E402



def build_instances(model, fpgapart: str, clock_mhz: float) -> dict:
    """The RTL instance of every node of a HW graph, by node name (each from its op's owner)."""
    ctx = rtl_context(model, fpgapart, clock_mhz)
    return {n.name: owner_for(n).rtl(model, n, ctx) for n in model.graph.node}


__all__ = ["DOMAIN", "build_instances", "TemporalShift", "get_state", "make_temporal_shift_node", "reset_state",
           "owner_for", "estimate_layer", "module_kinds", "rtl_context", "widen_accumulator_outputs"]

#: legacy qonnx registration style (op_type -> class), kept for tools that read it
custom_op = {"TemporalShift": TemporalShift}
