"""HW graph -> RTL folder: one backend instance per node, FIFO plan, stitched top.

``DIR/rtl/`` holds every source (ours, finn-rtllib, generated wrappers and weight/threshold
files) flat, ``tsmfpga_top.sv`` and ``manifest.json`` (compile order, interface, FIFOs).
"""

from __future__ import annotations

import json
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.hw.backend import backend_for
from tsmfpga.hw.fifos import analytical_depths
from tsmfpga.hw.stitch import write_rtl


def hw_core(model: ModelWrapper) -> ModelWrapper:
    """The HW-only graph (output post-processing split off)."""
    from tsmfpga.flow.transforms.tsm_frontend import split_postproc

    return split_postproc(model)[0]


def build_instances(model: ModelWrapper, fpgapart: str, clock_mhz: float) -> dict:
    import tsmfpga.hw.backend.finn_rtl as finn_rtl
    import tsmfpga.hw.backend.ours  # noqa: F401  (registers our backends)

    ctx = {}
    if any(n.op_type in finn_rtl.FINN_RTL_OPS for n in model.graph.node):
        ctx["finn"] = finn_rtl.FinnRtlContext(model, fpgapart, 1000.0 / clock_mhz)
    return {n.name: backend_for(n)(model, n, ctx) for n in model.graph.node}


def generate_rtl(model: ModelWrapper, out_dir: Path, fpgapart: str, clock_mhz: float,
                 fifo_depths: dict[str, int] | None = None) -> dict:
    """Write the RTL of ``model`` (post-processing excluded) to ``out_dir``; returns the manifest.
    ``fifo_depths``: ADDR_WIDTH per tensor overriding the analytical plan."""
    core = hw_core(model)
    instances = build_instances(core, fpgapart, clock_mhz)
    plan = analytical_depths(core)
    plan.update(fifo_depths or {})
    manifest = write_rtl(core, instances, Path(out_dir), plan)
    manifest["fifo_sizing"] = "analytical (shortcut FIFO = one frame)" if not fifo_depths else "simulation"
    (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
