"""Our stitcher: one top-level Verilog module wiring the RTL instances of a HW graph.

Every graph edge becomes producer -> [axis_dwc when lane counts differ] -> axis_fifo ->
consumer. Residual joins get a deep FIFO on their shortcut input (see :mod:`tsmfpga.hw.fifos`).
The clip-start sideband (``s_axis_tuser`` on a frame's first beat) reaches every stateful op
through a ``clip_flags`` instance (frames stay in order, so one flag per frame lines up).
The output carries ``m_axis_tlast`` on the last beat of each frame. A design serving several
streams (graph metadata ``tsmfpga.streams``, ``tsmfpga compile --streams``) takes each frame's
stream id on ``s_axis_tdest`` (first beat); the same queues carry it to every multi-stream op
(its :attr:`~tsmfpga.hw.backend.base.RtlInstance.stream_port`) and to ``m_axis_tdest``.
Output is deterministic:
identical graphs give byte-identical RTL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsmfpga.hw.backend import BackendError, RtlInstance, Stream
from tsmfpga.core.rtl import rtl_source
from tsmfpga.core.templates import render

TOP = "tsmfpga_top"
#: name prefix of the stitched top's reset-tree registers: synthesis scripts keep every register
#: driving a wire of that name (``tsmfpga.hw.synth.KEEP_RESET_TREE``), so the copies stay copies
RESET_TREE_PREFIX = "rst_tree_"


@dataclass
class Edge:
    tensor: str
    src: tuple[str, int] | None   # (instance, output index); None: the top's s_axis
    dst: tuple[str, int] | None   # (instance, input index); None: the top's m_axis
    lanes_src: int
    lanes_dst: int
    elem_bits: int
    frame_beats: int              # beats per frame on the consumer side


def _w(tensor: str) -> str:
    return "t_" + re.sub(r"\W", "_", tensor)


def edges(model, instances: dict[str, RtlInstance]) -> list[Edge]:
    """Producer/consumer pairs of every stream tensor, with lane counts (validated)."""
    producers, consumers = {}, {}
    for n in model.graph.node:
        for i, t in enumerate(n.output):
            producers[t] = (n.name, i)
        for i, t in enumerate(n.input):
            if model.get_initializer(t) is None:
                consumers.setdefault(t, []).append((n.name, i))
    g_in, g_out = model.graph.input[0].name, model.graph.output[0].name
    if len(model.graph.input) != 1 or len(model.graph.output) != 1:
        raise BackendError("the HW graph must have exactly one input and one output stream "
                           f"(has {len(model.graph.input)} / {len(model.graph.output)})")
    result = []
    for t in [g_in] + [t for n in model.graph.node for t in n.output]:
        cons = consumers.get(t, [])
        if t == g_out:
            cons = cons + [None]
        if len(cons) != 1:
            raise BackendError(f"tensor {t} has {len(cons)} consumers; a stream has exactly one "
                               "(forks must be DuplicateStreams)")
        src, dst = producers.get(t), cons[0]
        bits = model.get_tensor_datatype(t).bitwidth()
        s_st = instances[src[0]].outputs[src[1]] if src else None
        d_st = instances[dst[0]].inputs[dst[1]] if dst else None
        ls = s_st.lanes if s_st else d_st.lanes
        ld = d_st.lanes if d_st else s_st.lanes
        for st, who in ((s_st, src), (d_st, dst)):
            if st is not None and st.elem_bits != bits:
                raise BackendError(f"tensor {t}: {who[0]} streams {st.elem_bits}-bit elements, "
                                   f"the tensor's type is {bits}-bit")
        elems = int(np.prod(model.get_tensor_shape(t)))
        if elems % ld:
            raise BackendError(f"tensor {t}: {elems} elements per frame do not split into beats of {ld}")
        result.append(Edge(t, src, dst, ls, ld, bits, elems // ld))
    return result


def clip_flag_depth_log2(model, node_name: str | None, es: list[Edge], fifo_aw: dict[str, int]) -> int:
    """Bound on the frames in flight between the top input and a stateful op (``node_name``; None:
    the top's output): every FIFO on the way can hold capacity / frame-beats frames (rounded up)
    and every node at most one more; returns log2 of the flag FIFO depth that holds them all (a
    lost flag would shift clip starts)."""
    by_tensor = {e.tensor: e for e in es}
    producers = {t: n for n in model.graph.node for t in n.output}
    if node_name is None:
        start = model.graph.output[0].name
    else:
        start = next(n for n in model.graph.node if n.name == node_name).input[0]
    todo, seen, frames = [start], set(), 2
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        e = by_tensor.get(t)
        if e is not None and e.dst is not None:
            frames += -(-((1 << fifo_aw.get(t, 1)) + 1) // e.frame_beats) + 1
        prod = producers.get(t)
        if prod is not None:
            frames += 1
            todo += [i for i in prod.input if model.get_initializer(i) is None]
    return max(3, (frames - 1).bit_length())


def fifo_instance(tensor: str) -> str:
    """Instance name of the stitcher's FIFO on ``tensor`` (the testbench's occupancy monitors
    refer to it hierarchically)."""
    return _w(tensor) + "_fifo"


def _params(params: dict) -> list[tuple[str, str | int]]:
    """Parameter list for the template: a str stays a (Verilog string) str, anything else an int."""
    return [(k, v if isinstance(v, str) else int(v)) for k, v in params.items()]


def design_streams(model) -> int:
    """Streams the design serves (graph metadata ``tsmfpga.streams``; 1 without it)."""
    raw = model.get_metadata_prop("tsmfpga.streams")
    return int(json.loads(raw)["streams"]) if raw else 1


def stream_bits(streams: int) -> int:
    """Width of the stream id (tdest) of a design serving ``streams`` streams (0 for one)."""
    return (int(streams) - 1).bit_length() if streams > 1 else 0


def describe_top(model, instances: dict[str, RtlInstance], fifo_aw: dict[str, int]) -> tuple[dict, dict]:
    """Structured description of the stitched top (the context of ``templates/tsmfpga_top.sv.j2``:
    interfaces, wire declarations, DWC/FIFO/clip_flags/instance entries with their parameter
    lists and port maps) and the manifest part (interfaces, FIFOs, DWCs)."""
    es = edges(model, instances)
    first, last = es[0], next(e for e in es if e.dst is None)
    in_w, out_w = first.lanes_dst * first.elem_bits, last.lanes_src * last.elem_bits
    body, decls = [], []
    resets: list[str] = []   # the reset tree's copies, one per block (templates/tsmfpga_top.sv.j2)

    def reset_copy(block: str) -> str:
        resets.append(f"{RESET_TREE_PREFIX}{block}")
        return resets[-1]

    in_wires, out_wires = {}, {}   # (inst, idx) -> wire prefix at the instance port
    info = {"fifos": {}, "dwcs": {}}
    for e in es:
        w = _w(e.tensor)
        if e.src is None:
            src_prefix = "s_in"   # s_axis, held off until the reset tree has released (template)
        else:
            st = instances[e.src[0]].outputs[e.src[1]]
            decls.append({"kind": "producer", "w": w, "port_width": st.port_width, "width": st.width})
            out_wires[e.src] = f"{w}_o"
            src_prefix = f"{w}_s"
        if e.dst is None:
            body.append({"kind": "output", "src": src_prefix})
            continue
        cur = src_prefix
        if e.lanes_src != e.lanes_dst:
            decls.append({"kind": "stream", "name": f"{w}_d", "width": e.lanes_dst * e.elem_bits})
            body.append({"kind": "dwc", "name": f"{w}_dwc", "s": cur, "m": f"{w}_d", "rst": reset_copy(f"{w}_dwc"),
                         "params": _params({"LANE_BITS": e.elem_bits, "IN_LANES": e.lanes_src,
                                            "OUT_LANES": e.lanes_dst})})
            info["dwcs"][e.tensor] = {"in_lanes": e.lanes_src, "out_lanes": e.lanes_dst, "lane_bits": e.elem_bits}
            cur = f"{w}_d"
        dw = e.lanes_dst * e.elem_bits
        aw = fifo_aw.get(e.tensor, 1)
        decls.append({"kind": "stream", "name": f"{w}_c", "width": dw})
        body.append({"kind": "fifo", "name": fifo_instance(e.tensor), "s": cur, "m": f"{w}_c",
                     "rst": reset_copy(fifo_instance(e.tensor)),
                     "params": _params({"DATA_WIDTH": dw, "USER_WIDTH": 1, "ADDR_WIDTH": aw})})
        info["fifos"][e.tensor] = {"addr_width": aw, "capacity_beats": (1 << aw) + 1,
                                   "beats_per_frame": e.frame_beats, "width": dw}
        in_wires[e.dst] = f"{w}_c"
    clip_errs = []
    sb = stream_bits(design_streams(model))
    for name, inst in instances.items():
        rst = reset_copy(name)
        ports = [(inst.clk, "clk"), (inst.rst, f"!{rst}" if inst.rst_active_low else rst)]
        clipped = inst.clip_frame_beats is not None
        if clipped:
            decls.append({"kind": "clip", "inst": name})
            depth = clip_flag_depth_log2(model, name, es, fifo_aw)
            params = {"IN_FRAME_BEATS": first.frame_beats, "OP_FRAME_BEATS": inst.clip_frame_beats,
                      "DEPTH_LOG2": depth}
            if sb:
                params["STREAM_BITS"] = sb
            body.append({"kind": "clip_flags", "inst": name, "op": in_wires[(name, 0)],
                         "rst": reset_copy(f"{name}_clip"),
                         "params": _params(params)})
            clip_errs.append(f"{name}_clip_overflow")
        for i, st in enumerate(inst.inputs):
            c = in_wires[(name, i)]
            pad = st.port_width - st.width
            data = f"{{{{{pad}{{1'b0}}}}, {c}_tdata}}" if pad else f"{c}_tdata"  # zero-extended
            ports += [(st.tdata, data), (st.tvalid, f"{c}_tvalid"), (st.tready, f"{c}_tready")]
            if st.tlast:
                ports.append((st.tlast, f"{name}_clip_tlast" if clipped and i == 0 else "1'b0"))
            if st.tuser:
                ports.append((st.tuser, f"{name}_clip_tuser" if clipped and i == 0 else "1'b0"))
        for i, st in enumerate(inst.outputs):
            o = out_wires[(name, i)]
            ports += [(st.tdata, f"{o}_tdata"), (st.tvalid, f"{o}_tvalid"), (st.tready, f"{o}_tready")]
            if st.tlast:
                ports.append((st.tlast, ""))
            if st.tuser:
                ports.append((st.tuser, ""))
        if inst.stream_port:
            if not (clipped and sb):
                raise BackendError(f"node {name}: a multi-stream op in a design without stream ids "
                                   "(set the design's streams, tsmfpga compile --streams)")
            ports.append((inst.stream_port, f"{name}_clip_tdest"))
        ports += sorted(inst.ties.items())
        body.append({"kind": "instance", "module": inst.module, "name": name,
                     "params": _params(inst.params), "ports": ports})
    ob = last.frame_beats
    io = {
        "input": {"tensor": first.tensor, "lanes": first.lanes_dst, "elem_bits": first.elem_bits,
                  "width": in_w, "frame_beats": first.frame_beats,
                  "dtype": model.get_tensor_datatype(first.tensor).name},
        "output": {"tensor": last.tensor, "lanes": last.lanes_src, "elem_bits": last.elem_bits,
                   "width": out_w, "frame_beats": ob, "dtype": model.get_tensor_datatype(last.tensor).name},
    }
    out_dest = []
    if sb:
        io["streams"] = {"streams": design_streams(model), "tdest_bits": sb}
        out_dest = _params({"IN_FRAME_BEATS": first.frame_beats, "OP_FRAME_BEATS": ob,
                            "DEPTH_LOG2": clip_flag_depth_log2(model, None, es, fifo_aw), "STREAM_BITS": sb})
        clip_errs.append("out_dest_overflow")
    context = {"top": TOP, "s": io["input"], "m": io["output"],
               "out_beat_bits": max(1, int(ob).bit_length()),
               "error_sources": clip_errs, "decls": decls, "body": body,
               "stream_bits": sb, "out_dest": out_dest,
               "reset_in": reset_copy("_in"), "reset_out": reset_copy("_out"),
               "reset_root": f"{RESET_TREE_PREFIX}_root", "resets": resets}
    return context, {**io, **info}


def render_top(model, instances: dict[str, RtlInstance], fifo_aw: dict[str, int]) -> tuple[str, dict]:
    """Text of ``tsmfpga_top.sv`` (from ``templates/tsmfpga_top.sv.j2``) and the manifest part
    (interfaces, FIFOs, DWCs)."""
    context, info = describe_top(model, instances, fifo_aw)
    return render("tsmfpga.hw", "tsmfpga_top.sv.j2", **context), info


def write_rtl(model, instances: dict[str, RtlInstance], out_dir: Path, fifo_aw: dict[str, int]) -> dict:
    """Write every source, generated file and the top into ``out_dir`` (replaced atomically)
    plus ``manifest.json`` (compile order, interface, FIFOs, instances). Returns the manifest."""
    top_text, info = render_top(model, instances, fifo_aw)
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    libs: dict[str, Path] = {}
    own = [rtl_source(n) for n in ("axis_fifo.sv", "axis_dwc.sv", "clip_flags.sv")]
    for inst in instances.values():
        for src in list(inst.sources):
            prev = libs.get(src.name)
            if prev is not None and prev.read_bytes() != src.read_bytes():
                raise BackendError(f"two different RTL sources named {src.name}: {prev} and {src}")
            libs[src.name] = src
    for src in own:
        libs.setdefault(src.name, src)
    generated: dict[str, str] = {}
    for inst in instances.values():
        for name, text in inst.files.items():
            if name in generated and generated[name] != text or name in libs:
                raise BackendError(f"node {inst.name}: generated file {name} clashes with another")
            generated[name] = text
    for name, src in libs.items():
        shutil.copyfile(src, tmp / name)
    for name, text in generated.items():
        (tmp / name).write_text(text)
    (tmp / f"{TOP}.sv").write_text(top_text)
    hdl = [n for n in list(libs) + list(generated) if n.endswith((".sv", ".v"))]
    order = sorted(n for n in hdl if "_pkg" in n) + [n for n in hdl if "_pkg" not in n] + [f"{TOP}.sv"]
    manifest = {
        "top": TOP,
        "files": order,
        **info,
        "instances": [{"name": i.name, "module": i.module,
                       "params": {k: v for k, v in i.params.items()}} for i in instances.values()],
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return manifest
