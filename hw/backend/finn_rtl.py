"""Backends that use finn-plus' own RTL generators (finn-rtllib): ConvolutionInputGenerator
(sliding window), FMPadding and Thresholding.

The node is specialized to its ``_rtl`` variant on a copy of the graph (SpecializeLayers with
``preferred_impl_style = "rtl"``) and finn-plus writes the wrapper (``generate_hdl``) into a
scratch folder; the wrapper and its data files are read back, the finn-rtllib sources are
listed by path. FINN wrappers use ``ap_clk`` / active-low ``ap_rst_n`` and ``in0_V`` /
``out0_V`` streams padded to whole bytes; unused AXI-Lite inputs are tied to zero.
"""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path

from qonnx.custom_op.registry import getCustomOp

from tsmfpga.hw.backend.base import BackendError, RtlInstance, Stream, register

FINN_RTL_OPS = ("ConvolutionInputGenerator", "FMPadding", "Thresholding")
_AXILITE_IN = re.compile(r"^\s*input\s+(?:wire\s+)?(?:\[[^\]]*\]\s*)?(s_axilite_\w+)", re.M)


class FinnRtlContext:
    """Specializes the FINN-RTL nodes of one graph once (SpecializeLayers runs on the whole graph)."""

    def __init__(self, model, fpgapart: str, clk_ns: float):
        from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

        self.fpgapart, self.clk_ns = fpgapart, clk_ns
        spec = copy.deepcopy(model)
        for n in spec.graph.node:
            if n.op_type in FINN_RTL_OPS:
                getCustomOp(n).set_nodeattr("preferred_impl_style", "rtl")
        # only our FINN-RTL nodes matter; others may become _hls here, which we never use
        self.model = spec.transform(SpecializeLayers(fpgapart))
        self.by_output = {n.output[0]: n for n in self.model.graph.node}

    def specialized(self, node):
        spec = self.by_output.get(node.output[0])
        if spec is None or not spec.op_type.endswith("_rtl"):
            kind = spec.op_type if spec is not None else "nothing"
            raise BackendError(f"node {node.name} ({node.op_type}): finn-plus has no RTL variant for "
                               f"these attributes (specialized to {kind})")
        return spec


def _finn_stream(inst, ind, is_input, model, tensor) -> Stream:
    folded = inst.get_folded_input_shape(ind) if is_input else inst.get_folded_output_shape(ind)
    padded = inst.get_instream_width_padded(ind) if is_input else inst.get_outstream_width_padded(ind)
    p = f"in{ind}_V" if is_input else f"out{ind}_V"
    return Stream(f"{p}_TDATA", f"{p}_TVALID", f"{p}_TREADY", int(folded[-1]),
                  model.get_tensor_datatype(tensor).bitwidth(), int(padded))


def finn_instance(model, node, ctx) -> RtlInstance:
    finn_ctx: FinnRtlContext = ctx["finn"]
    spec = finn_ctx.specialized(node)
    inst = getCustomOp(spec)
    with tempfile.TemporaryDirectory(prefix="tsmfpga-finnrtl-") as tmp:
        inst.set_nodeattr("code_gen_dir_ipgen", tmp)
        try:
            inst.generate_hdl(finn_ctx.model, finn_ctx.fpgapart, finn_ctx.clk_ns)
        except Exception as exc:
            raise BackendError(f"node {node.name}: finn-plus RTL generation failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        gen = {p.name: p.read_text() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
        lib = [Path(f) for f in inst.get_rtl_file_list(abspath=True) if not f.startswith(tmp)]
    top = next((t for name, t in gen.items() if name in (f"{spec.name}.v", f"{spec.name}_wrapper.v")), None)
    if top is None:
        raise BackendError(f"node {node.name}: finn-plus wrote no wrapper for {spec.name} ({sorted(gen)})")
    ties = {p: "'0" for p in _AXILITE_IN.findall(top)}
    return RtlInstance(
        name=node.name, module=spec.name, params={},
        inputs=[_finn_stream(inst, 0, True, model, node.input[0])],
        outputs=[_finn_stream(inst, 0, False, model, node.output[0])],
        clk="ap_clk", rst="ap_rst_n", rst_active_low=True, sources=lib, files=gen, ties=ties)


for _op in FINN_RTL_OPS:
    register(_op)(finn_instance)
