"""Every layer kind of a compiled TSM, cut out of the HW graph, generated as RTL by its backend
(ours or finn-plus' generator) and simulated alone under random valid/ready on whole clips,
equals the layer's Python execution."""

from __future__ import annotations

import numpy as np
import pytest
from model_zoo import TSM_T

# (description, predicate picking the first node of the chain, chain length; 0: the whole
# residual block that node opens, see _residual_block)
KINDS = {
    "fmpadding": ("FMPadding", 1),
    "swg": ("ConvolutionInputGenerator", 1),       # a non-depthwise (conv) window generator
    "mvau_thresholds": ("MVAU", 1),
    "mvau_no_activation": ("MVAU:last", 1),
    "thresholding": ("Thresholding", 1),
    "temporal_shift": ("TemporalShift", 1),
    "swg_pool": ("ConvolutionInputGenerator:depthwise", 2),   # max pool: SWG (depthwise) + Pool
    "swg_avgpool": ("ConvolutionInputGenerator:depthwise:last", 2),
    # DuplicateStreams + ElementwiseAdd (add_streams) with the branch between them (temporal
    # shift, convs) and the skip edge: both residual stream ops in one stitched cut
    "residual_block": ("DuplicateStreams", 0),
    "residual_block_last": ("DuplicateStreams:last", 0),
}


def _residual_block(model, dup):
    """The nodes from DuplicateStreams ``dup`` to the ElementwiseAdd that joins its two outputs
    (branch and skip edge), in graph order: a cut with one input and one output."""
    inside, add, todo = {dup.name}, None, list(dup.output)
    while todo:
        for n in model.find_consumers(todo.pop()):
            if n.op_type == "ElementwiseAdd":
                assert add is None or add.name == n.name, "block joins at two adds"
                add = n
            elif n.name not in inside:
                inside.add(n.name)
                todo.extend(n.output)
    assert add is not None, f"{dup.name} reaches no ElementwiseAdd"
    inside.add(add.name)
    nodes = [n for n in model.graph.node if n.name in inside]
    produced = {t for n in nodes for t in n.output}
    for n in nodes[1:]:     # closed: every streamed input comes from inside the cut
        streamed = [t for t in n.input if model.get_initializer(t) is None]
        assert set(streamed) <= produced, f"{n.name} reads {set(streamed) - produced} from outside"
    assert nodes[0].name == dup.name and nodes[-1].name == add.name
    return nodes


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
    from tsmfpga.core.graph import hw_core
    from tsmfpga.core.graph import subgraph
    from tsmfpga.flow.rtlgen import simulate_hw_graph

    out, _ = tsm_build
    toolenv.prepare_finn_env(tmp_path)
    core = hw_core(ModelWrapper(str(out / "model_hw.onnx")))
    key, length = KINDS[kind]
    first = _pick(core, key)
    chain = [first] if length else _residual_block(core, first)
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
