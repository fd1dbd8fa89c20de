"""Project-owned hardware custom ops (qonnx domain ``tsmfpga.hw.ops``).

qonnx resolves a node's ``domain`` by importing the module of that name and looking the
``op_type`` up in its ``__all__`` (classes only; other names are skipped), so a node with
``domain="tsmfpga.hw.ops"`` and ``op_type="TemporalShift"`` works with ``getCustomOp`` and
``execute_onnx`` as soon as this package is importable. Nodes also carry
``backend="fpgadataflow"``, so FINN's ``is_fpgadataflow_node`` counts them as HW layers.
"""

from tsmfpga.hw.ops.temporal_shift import (
    DOMAIN,
    TemporalShift,
    get_state,
    make_temporal_shift_node,
    reset_state,
)

__all__ = ["DOMAIN", "TemporalShift", "get_state", "make_temporal_shift_node", "reset_state"]

#: legacy qonnx registration style (op_type -> class), kept for tools that read it
custom_op = {"TemporalShift": TemporalShift}
