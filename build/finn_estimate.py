"""finn-plus' own estimate of the same network: its standard flow (HLS/RTL specialization as
finn-plus picks by default, SetFolding to the same frame rate, its resource and cycle
estimates). Reported beside ours so a user sees fps and LUT/BRAM per design side by side.
Source: ``finn-plus estimate`` (analytical, finn-plus' models), not a synthesis.
"""

from __future__ import annotations

import copy

from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core.graph import hw_core


#: node attributes our folding decides that finn-plus also has (MAC and memory implementation)
DECIDED_ATTRS = ("resType", "ram_style")


def _threshold_memory_attrs(node, decisions: str) -> None:
    """Our threshold-memory decision travels as a raw ``depth_trigger_bram`` attribute on the
    generic Thresholding node (SpecializeLayers copies it to ``Thresholding_rtl``). "finn": removed
    (finn-plus' default). "ours": kept, with ``depth_trigger_uram`` set out of reach, because
    finn-plus' estimate (unlike its RTL) counts every memory as URAM when only the BRAM trigger is
    set, even on a part without URAM."""
    if node.op_type != "Thresholding":
        return
    names = {a.name for a in node.attribute}
    if decisions == "finn":
        for a in [a for a in node.attribute if a.name in ("depth_trigger_bram", "depth_trigger_uram")]:
            node.attribute.remove(a)
    elif "depth_trigger_bram" in names and "depth_trigger_uram" not in names:
        node.attribute.append(helper.make_attribute("depth_trigger_uram", 1 << 30))


def finn_estimate(model: ModelWrapper, fpgapart: str, clock_mhz: float, target_fps: float,
                  decisions: str = "finn") -> dict:
    """finn-plus' estimate at ``target_fps``. ``decisions`` "finn": the MAC and memory attributes
    (:data:`DECIDED_ATTRS`) at finn-plus' defaults ("auto"), so the baseline does not move with our
    folding; "ours": as our folding decided them (finn-plus' models of our choices)."""
    if decisions not in ("finn", "ours"):
        raise ValueError(f"decisions must be 'finn' or 'ours', not {decisions!r}")
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.custom_op.registry import getCustomOp

    m = copy.deepcopy(hw_core(model))
    for n in m.graph.node:
        inst = getCustomOp(n)
        types = inst.get_nodeattr_types()
        if "preferred_impl_style" in types:
            inst.set_nodeattr("preferred_impl_style", "")
        for attr in DECIDED_ATTRS if decisions == "finn" else ():
            if attr in types:
                inst.set_nodeattr(attr, types[attr][2])
        _threshold_memory_attrs(n, decisions)
        for attr in ("PE", "SIMD"):
            if attr in inst.get_nodeattr_types():
                inst.set_nodeattr(attr, 1)
    m = m.transform(SpecializeLayers(fpgapart))
    target_cycles = int(clock_mhz * 1e6 / target_fps)
    m = m.transform(SetFolding(target_cycles_per_frame=target_cycles, two_pass_relaxation=False))
    res = res_estimation(m, fpgapart)
    cycles = m.analysis(exp_cycles_per_layer)
    total = {"LUT": 0.0, "BRAM36": 0.0, "DSP": 0.0, "URAM": 0.0}
    for r in res.values():
        total["LUT"] += float(r.get("LUT", 0))
        total["BRAM36"] += float(r.get("BRAM_18K", 0)) / 2
        total["DSP"] += float(r.get("DSP", 0))
        total["URAM"] += float(r.get("URAM", 0))
    ii = max(cycles.values()) if cycles else None
    return {
        "source": "finn-plus estimate (analytical: res_estimation / exp_cycles_per_layer after SetFolding "
                  "with finn-plus' default limits, e.g. mvau_wwidth_max 36)",
        "decisions": ("finn-plus defaults (resType, ram_style 'auto')" if decisions == "finn"
                      else "our folding's resType / ram_style"),
        "target_fps": target_fps,
        "ii_cycles": int(ii) if ii else None,
        "fps": clock_mhz * 1e6 / ii if ii else None,
        "resources": total,
        "bottleneck": max(cycles, key=cycles.get) if cycles else None,
        "layers": {k: {"cycles": int(cycles.get(k, 0)), **{a: float(b) for a, b in res.get(k, {}).items()}}
                   for k in cycles},
        "ops": sorted({n.op_type for n in m.graph.node}),
    }
