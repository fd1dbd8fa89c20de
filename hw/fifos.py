"""FIFO depths between layers.

Every edge gets a shallow FIFO (capacity 3 beats: register slice, timing). A join (a node with
two stream inputs, e.g. the residual ElementwiseAdd) can deadlock if its shortcut input cannot
hold what the other branch absorbs before it emits its first beat (line buffers of the sliding
windows, the MVAU pipelines). Analytical bound used here: the shortcut FIFO holds one whole
frame of that edge, which no branch of a frame-by-frame dataflow pipeline can exceed.
:func:`measured_depths` then shrinks it to the occupancy measured in a sizing simulation.
"""

from __future__ import annotations

import math

import numpy as np
from qonnx.custom_op.registry import getCustomOp

DEFAULT_ADDR_WIDTH = 1   # capacity 2**1 + 1 = 3 beats


def addr_width_for(beats: int) -> int:
    """Smallest ADDR_WIDTH with capacity (2**ADDR_WIDTH + 1) >= beats."""
    return max(DEFAULT_ADDR_WIDTH, math.ceil(math.log2(max(beats - 1, 1))))


def _branch_length(model, tensor: str) -> int:
    """Nodes between ``tensor`` and the fork (a node with several outputs) it comes from."""
    length = 0
    prod = model.find_producer(tensor)
    while prod is not None and len(prod.output) == 1:
        length += 1
        dyn = [t for t in prod.input if model.get_initializer(t) is None]
        if len(dyn) != 1:
            break
        prod = model.find_producer(dyn[0])
    return length


def shortcut_edges(model) -> dict[str, int]:
    """{tensor: beats per frame} of the shortcut input of every join."""
    result = {}
    for n in model.graph.node:
        dyn = [(i, t) for i, t in enumerate(n.input) if model.get_initializer(t) is None]
        if len(dyn) < 2:
            continue
        i, t = min(dyn, key=lambda it: (_branch_length(model, it[1]), it[0]))
        folded = getCustomOp(n).get_folded_input_shape(i)
        result[t] = int(np.prod(folded[:-1]))
    return result


def burst_edges(model) -> dict[str, int]:
    """{tensor: beats} of inputs read in bursts. An MVAU reads a vector's SF beats back to back and
    then computes NF-1 more rounds on its buffered copy without reading: a FIFO of SF beats in
    front lets the producer keep streaming meanwhile (else both run at the slower of the two
    phases, not in parallel)."""
    result = {}
    for n in model.graph.node:
        if n.op_type == "MVAU":
            inst = getCustomOp(n)
            result[n.input[0]] = inst.get_nodeattr("MW") // inst.get_nodeattr("SIMD") + 2
    return result


def analytical_depths(model) -> dict[str, int]:
    """{tensor: ADDR_WIDTH} for the edges that need more than the default."""
    plan = {t: addr_width_for(beats) for t, beats in burst_edges(model).items()}
    for t, beats in shortcut_edges(model).items():
        plan[t] = max(plan.get(t, DEFAULT_ADDR_WIDTH), addr_width_for(beats))
    return plan


def reconvergent_edges(model) -> set[str]:
    """Tensors between a fork (a node with several stream outputs) and the join where its
    branches meet again (the first node reached from two of its outputs): the edges whose depths
    decide whether a residual block can deadlock. Every other edge sits in a plain chain, where a
    shallower FIFO only makes a faster producer wait for its consumer."""
    def dyn_inputs(n):
        return [t for t in n.input if model.get_initializer(t) is None]

    def downstream(tensor) -> set[str]:
        seen, todo = set(), [tensor]
        while todo:
            for c in model.find_consumers(todo.pop()) or []:
                if c.name not in seen:
                    seen.add(c.name)
                    todo.extend(c.output)
        return seen

    def upstream(node) -> set[str]:
        seen, todo = set(), list(dyn_inputs(node))
        while todo:
            p = model.find_producer(todo.pop())
            if p is not None and p.name not in seen:
                seen.add(p.name)
                todo.extend(dyn_inputs(p))
        return seen

    by_name = {n.name: n for n in model.graph.node}
    result: set[str] = set()
    for fork in model.graph.node:
        if len(fork.output) < 2:
            continue
        reach = [downstream(o) for o in fork.output]
        met = {n for i, a in enumerate(reach) for b in reach[i + 1:] for n in a & b}
        # the join: a meeting node no other meeting node precedes
        joins = [n for n in met if not (upstream(by_name[n]) & met)]
        for j in joins:
            before = upstream(by_name[j])
            between = {j} | (set().union(*reach) & before)
            for n in between:
                result.update(dyn_inputs(by_name[n]))
    return result
