"""Every layer kind of a compiled TSM, cut out of the HW graph, generated as RTL by its backend
(ours or finn-plus' generator) and simulated alone under random valid/ready on whole clips,
equals the layer's Python execution."""

from __future__ import annotations

import numpy as np
import pytest
from model_zoo import TSM_T

# (description, predicate picking the first node of the chain, chain length)
KINDS = {
    "fmpadding": ("FMPadding", 1),
    "swg": ("ConvolutionInputGenerator", 1),       # a non-depthwise (conv) window generator
    "mvau_thresholds": ("MVAU", 1),
    "mvau_no_activation": ("MVAU:last", 1),
    "thresholding": ("Thresholding", 1),
    "temporal_shift": ("TemporalShift", 1),
    "swg_pool": ("ConvolutionInputGenerator:depthwise", 2),   # max pool: SWG (depthwise) + Pool
    "swg_avgpool": ("ConvolutionInputGenerator:depthwise:last", 2),
}


def _pick(model, key):
    from qonnx.custom_op.registry import getCustomOp

    op, *flags = key.split(":")
    nodes = [n for n in model.graph.node if n.op_type == op]
    if op == "ConvolutionInputGenerator":
        want = "depthwise" in flags
        nodes = [n for n in nodes if bool(getCustomOp(n).get_nodeattr("depthwise")) == want]
    return nodes[-1] if "last" in flags else nodes[0]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_layer_rtl_matches_python(kind, tsm_build, tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper

    from tsmfpga.core import toolenv
    from tsmfpga.flow.rtlgen import hw_core, subgraph
    from tsmfpga.sim.fullsim import simulate_hw_graph

    out, _ = tsm_build
    toolenv.prepare_finn_env(tmp_path)
    core = hw_core(ModelWrapper(str(out / "model_hw.onnx")))
    key, length = KINDS[kind]
    first = _pick(core, key)
    chain = [first]
    while len(chain) < length:
        chain.append(core.find_consumer(chain[-1].output[0]))
    sub = subgraph(core, [n.name for n in chain])
    dt = sub.get_tensor_datatype(sub.graph.input[0].name)
    shape = sub.get_tensor_shape(sub.graph.input[0].name)
    rng = np.random.default_rng(len(kind))
    clips = rng.integers(int(dt.min()), int(dt.max()) + 1, size=(2, TSM_T, *shape)).astype(np.float32)
    clips[0, 0] = dt.max()          # extremes: accumulators and comparators at their ends
    clips[0, 1] = dt.min()
    r = simulate_hw_graph(sub, clips, tmp_path, p_valid=170, p_ready=150, seed=7, log=lambda *a: None)
    assert not r["run"].timeout, "deadlock or starvation"
    assert r["mismatches"] == 0, (r["got"][:20], r["expected"][:20])
    assert r["values"] == r["got"].size > 0
