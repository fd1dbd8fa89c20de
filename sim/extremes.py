"""Extremes: every arithmetic layer of a compiled design driven to the ends of its range and to
every decision boundary, simulated alone (RTL of the compiled design: its module sources and its
weight/threshold ROM files) and compared with the layer's Python execution.

* ``MVAU`` -- for each output channel ``j``, input vectors solved from the actual weights: the
  accumulator's minimum and maximum, and for every threshold ``T`` the vectors with
  ``acc == T`` and ``acc ==`` the largest reachable value below ``T`` (the two sides of the
  comparator). The solver is exact: a dynamic programme over the reachable accumulator values
  (a bit set per prefix of the input vector), so a threshold no input can meet exactly is
  *proved* unreachable (a ``T +- 1`` mutation of it cannot change any output: equivalent).
  Backtracking picks values at random among the feasible ones, so the inputs of the boundary
  vectors are spread over their range (a changed weight moves the accumulator off the boundary).
* ``Thresholding`` -- every input value on every channel (exhaustive).
* ``Pool`` -- all-minimum, all-maximum and alternating windows.
* ``ElementwiseAdd`` -- range proof (``analytical``): the output type holds every sum of the
  input types' ranges (the adds are also simulated in the per-layer residual-block tests).

:func:`prepare` builds one simulator model per layer (once); :func:`run` streams the directed
frames through them, with the data files (ROMs) of a given RTL folder -- the compiled design's,
or a mutant's (:mod:`tsmfpga.sim.mutate`). Every simulated figure is ``rtl_sim``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core import toolenv
from tsmfpga.core.clip import run_clips
from tsmfpga.core.graph import hw_core, subgraph
from tsmfpga.core.records import get_meta, write_json
from tsmfpga.hw.boards import get_board
from tsmfpga.hw.fifos import analytical_depths
from tsmfpga.hw.ops import build_instances
from tsmfpga.hw.ops.mvau import mvau_accumulator_range
from tsmfpga.hw.ops.owner import custom_op
from tsmfpga.hw.stitch import write_rtl
from tsmfpga.sim import harness
from tsmfpga.sim.harness import HDL_SUFFIXES

#: layer kinds driven to their extremes (op type -> directed-vector generator below)
ARITH_OPS = ("MVAU", "Thresholding", "Pool")


# ----------------------------------------------------------------------------- MVAU solver
def linear_form(model: ModelWrapper, node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The MVAU accumulator as ``acc[j] = offset[j] + sum_i C[i, j] * x[i]`` over the allowed
    input values ``values``. XNOR mode (inputs and weights in {0, 1}): ``[x == w] = (1 - w) +
    x (2w - 1)``. Returns (C (MW, MH), offset (MH,), values)."""
    w = np.asarray(model.get_initializer(node.input[1])).astype(np.int64)
    idt = model.get_tensor_datatype(node.input[0])
    if custom_op(node).get_nodeattr("binaryXnorMode"):
        return 2 * w - 1, (1 - w).sum(axis=0), np.array([0, 1])
    values = np.array([-1, 1]) if idt == DataType["BIPOLAR"] else np.arange(int(idt.min()), int(idt.max()) + 1)
    return w, np.zeros(w.shape[1], dtype=np.int64), values


@dataclass
class ChannelSolver:
    """Exact reachability of accumulator values of one output channel (coefficients ``c`` over
    the input ``values``) and witnesses for them."""

    c: np.ndarray
    values: np.ndarray
    offset: int = 0
    masks: list[int] = field(default_factory=list)   # masks[i]: sums reachable by x[:i] (shifted)
    base: int = 0                                     # acc of the all-minimum-contribution input

    def __post_init__(self):
        contrib = np.outer(self.c, self.values)                  # (MW, V): c_i * v
        self.lo_i = contrib.min(axis=1)
        self.shifts = contrib - self.lo_i[:, None]               # >= 0
        self.base = int(self.offset + self.lo_i.sum())
        m = 1
        self.masks = [m]
        for row in self.shifts:
            nxt = 0
            for s in set(int(x) for x in row):
                nxt |= m << s
            m = nxt
            self.masks.append(m)

    @property
    def range(self) -> tuple[int, int]:
        return self.base, self.base + self.masks[-1].bit_length() - 1

    def reachable(self, acc: int) -> bool:
        k = acc - self.base
        return k >= 0 and bool((self.masks[-1] >> k) & 1)

    def below(self, acc: int) -> int | None:
        """The largest reachable accumulator value < ``acc`` (None: none)."""
        k = acc - self.base
        if k <= 0:
            return None
        low = self.masks[-1] & ((1 << k) - 1)
        return self.base + low.bit_length() - 1 if low else None

    def witness(self, acc: int, rng: np.random.Generator) -> np.ndarray:
        """An input vector with exactly this accumulator (must be reachable)."""
        k = acc - self.base
        x = np.empty(len(self.c), dtype=np.int64)
        for i in range(len(self.c) - 1, -1, -1):
            for t in rng.permutation(len(self.values)):
                r = k - int(self.shifts[i, t])
                if r >= 0 and (self.masks[i] >> r) & 1:
                    x[i], k = self.values[t], r
                    break
            else:  # pragma: no cover - impossible when acc is reachable
                raise AssertionError("witness: unreachable accumulator")
        return x


def mvau_vectors(model: ModelWrapper, node, seed: int = 0) -> tuple[np.ndarray, list[dict], dict]:
    """Directed input vectors of an MVAU: per channel, min and max and both sides of every
    threshold. Returns (vectors (K, MW), what each vector targets, summary)."""
    coeff, offset, values = linear_form(model, node)
    op = custom_op(node)
    thr = None
    if not op.get_nodeattr("noActivation"):
        thr = np.asarray(model.get_initializer(node.input[2])).astype(np.int64)
        if thr.shape[0] == 1 and coeff.shape[1] > 1:
            thr = np.repeat(thr, coeff.shape[1], axis=0)
        # as the backend writes them to the ROM: clipped to the accumulator range of the layer
        glo, ghi = mvau_accumulator_range(np.asarray(model.get_initializer(node.input[1])),
                                          model.get_tensor_datatype(node.input[0]),
                                          bool(op.get_nodeattr("binaryXnorMode")))
        thr = np.clip(thr, glo, ghi + 1)
    rng = np.random.default_rng(seed)
    vecs, what = [], []
    exact = unreach = outside = 0
    equivalent = []          # (channel, threshold index): no input meets T exactly
    for j in range(coeff.shape[1]):
        s = ChannelSolver(coeff[:, j], values, int(offset[j]))
        lo, hi = s.range
        targets = [("min", lo), ("max", hi)]
        if thr is not None:
            for k, t in enumerate(thr[j]):
                t = int(t)
                if s.reachable(t):
                    exact += 1
                    targets.append((f"T{k}", t))
                else:
                    unreach += 1
                    outside += not lo <= t <= hi
                    equivalent.append([j, k])
                b = s.below(t)
                if b is not None:
                    targets.append((f"T{k}-", b))
        seen = set()
        for name, acc in targets:
            if acc in seen or not lo <= acc <= hi:
                continue
            seen.add(acc)
            x = s.witness(acc, rng)
            assert int(x @ coeff[:, j]) + int(offset[j]) == acc
            vecs.append(x)
            what.append({"channel": j, "target": name, "acc": acc})
    summary = {"channels": int(coeff.shape[1]), "vectors": len(vecs),
               "thresholds": 0 if thr is None else int(thr.size), "thresholds_met_exactly": exact,
               "thresholds_unreachable": unreach, "thresholds_outside_channel_range": outside,
               "equivalent_threshold_sites": equivalent}
    return np.stack(vecs), what, summary


def other_vectors(model: ModelWrapper, node, elems: int, seed: int = 0) -> tuple[np.ndarray, list[dict], dict]:
    """Thresholding: every input value on every channel; Pool: all-min, all-max, alternating."""
    dt = model.get_tensor_datatype(node.input[0])
    lo, hi = int(dt.min()), int(dt.max())
    if node.op_type == "Thresholding":
        vals = np.arange(lo, hi + 1)
        vecs = np.stack([np.roll(np.resize(vals, elems), k) for k in range(len(vals))])
        return vecs, [{"target": f"all values, roll {k}"} for k in range(len(vals))], {"values": len(vals)}
    alt = np.where(np.arange(elems) % 2 == 0, hi, lo)
    vecs = np.stack([np.full(elems, lo), np.full(elems, hi), alt, hi + lo - alt])
    return vecs, [{"target": t} for t in ("all min", "all max", "alternating", "alternating'")], {}


def add_range_proof(model: ModelWrapper, node) -> dict:
    """ElementwiseAdd: the output type holds every sum of the input ranges (analytical)."""
    a, b = (model.get_tensor_datatype(t) for t in node.input[:2])
    o = model.get_tensor_datatype(node.output[0])
    lo, hi = int(a.min()) + int(b.min()), int(a.max()) + int(b.max())
    return {"node": node.name, "kind": "ElementwiseAdd", "range": [lo, hi], "output_type": o.name,
            "holds": bool(o.allowed(lo) and o.allowed(hi)), "source": "analytical"}


# ----------------------------------------------------------------------------- simulation
@dataclass
class Layer:
    name: str
    kind: str
    sub: ModelWrapper
    manifest: dict
    exe: Path
    work: Path
    frames: np.ndarray          # (F, elements per frame)
    expected: np.ndarray        # flat outputs of the layer's Python execution
    what: list[dict]
    per_frame: int              # vectors per frame
    summary: dict


def _frames(vecs: np.ndarray, shape: list[int], lo: int, hi: int, rng) -> tuple[np.ndarray, int]:
    """Pack vectors (K, E) into frames of the layer's input shape (pixels x E), padding the last
    frame with random vectors."""
    elems = shape[-1]
    per = int(np.prod(shape[:-1]))
    n = -(-len(vecs) // per)
    pad = rng.integers(lo, hi + 1, size=(n * per - len(vecs), elems))
    allv = np.concatenate([vecs, pad]) if len(pad) else vecs
    return allv.reshape(n, per * elems), per


def prepare(build_dir: Path, work: Path, simulator: str = "verilator", seed: int = 0, log=print,
            only: list[str] | None = None) -> list[Layer]:
    """Build the per-layer simulator models of the design in ``build_dir`` (cached by HDL)."""
    build_dir, work = Path(build_dir), Path(work)
    toolenv.prepare_finn_env(work)   # finn-plus' RTL generators (window generators before pools)
    model = ModelWrapper(str(build_dir / "model_hw.onnx"))
    core = hw_core(model)
    design = get_meta(model, "tsmfpga.design")
    board = get_board(design.board if design else "pynq-z2")
    clock = design.clock_mhz if design else board.clock()
    layers = []
    rng = np.random.default_rng(seed)
    for node in core.graph.node:
        if node.op_type not in ARITH_OPS or (only and node.name not in only):
            continue
        chain = [node.name]
        prod = core.find_producer(node.input[0])
        if node.op_type == "Pool" and prod is not None and prod.op_type.startswith("ConvolutionInputGenerator"):
            chain.insert(0, prod.name)   # our Pool RTL reads its window generator's stream order
        sub = subgraph(core, chain)
        inp = sub.graph.input[0].name
        shape = sub.get_tensor_shape(inp)[1:]
        dt = sub.get_tensor_datatype(inp)
        n = sub.graph.node[-1]
        if node.op_type == "MVAU":
            vecs, what, summary = mvau_vectors(sub, n, seed)
        else:
            vecs, what, summary = other_vectors(sub, sub.graph.node[0], shape[-1], seed)
        frames, per = _frames(vecs, shape, int(dt.min()), int(dt.max()), rng)
        clips = frames.reshape(1, len(frames), 1, *shape).astype(np.float32)
        expected = run_clips(sub, clips, prepare=lambda f: f).astype(np.int64).reshape(-1)
        lw = work / node.name
        manifest = write_rtl(sub, build_instances(sub, board.finn_part, clock), lw / "rtl", analytical_depths(sub))
        exe = harness.build(lw / "rtl", manifest, lw, simulator, log=log)
        layers.append(Layer(node.name, node.op_type, sub, manifest, exe, lw, frames, expected, what, per,
                            {**summary, "vectors": len(vecs), "frames": len(frames)}))
    return layers


def run(layers: list[Layer], design_rtl: Path, simulator: str = "verilator", seed: int = 1,
        p_valid: int = 200, p_ready: int = 200) -> dict:
    """Stream every layer's directed frames with the data files (ROMs) of ``design_rtl`` (the
    compiled design's ``rtl/`` or a mutant's copy); returns the report part."""
    design_rtl = Path(design_rtl)
    rows, failures = [], []
    for ly in layers:
        rtl = ly.work / "rtl"
        for f in rtl.iterdir():           # the design's own ROMs (a mutant's, in mutation runs)
            src = design_rtl / f.name
            if f.suffix not in HDL_SUFFIXES and f.name != "manifest.json" and src.is_file():
                shutil.copyfile(src, f)
        got, r = harness.stream(ly.exe, rtl, ly.work, ly.manifest, ly.frames, np.zeros(len(ly.frames), bool),
                                simulator=simulator, seed=seed, p_valid=p_valid, p_ready=p_ready)
        exp = ly.expected
        n_bad = int(np.sum(got[: exp.size] != exp[: got.size])) + abs(got.size - exp.size)
        row = {"node": ly.name, "kind": ly.kind, **ly.summary, "values": int(exp.size),
               "mismatches": n_bad, "timeout": r.timeout, "cycles": r.cycles}
        if n_bad or r.timeout:
            first = int(np.argmax(got[: exp.size] != exp[: got.size])) if got.size else 0
            out_per_vec = exp.size // (len(ly.frames) * ly.per_frame)
            vec = first // max(1, out_per_vec)
            row["first_mismatch"] = {"value": first, "vector": vec,
                                     "targets": ly.what[vec] if vec < len(ly.what) else "padding",
                                     "got": int(got[first]) if first < got.size else None,
                                     "expected": int(exp[first]) if first < exp.size else None}
            failures.append(f"extremes: {ly.name} ({ly.kind}): {n_bad} of {exp.size} values differ"
                            + (" (timeout)" if r.timeout else "") + f"; first at {row['first_mismatch']}")
        rows.append(row)
    return {"layers": rows, "failures": failures, "passed": not failures, "source": "rtl_sim"}


def run_extremes(build_dir: Path, simulator: str = "verilator", seed: int = 0, log=print) -> dict:
    """`tsmfpga sim --extremes`: prepare, run against the compiled ROMs, add the range proofs of
    the adds; writes ``DIR/sim/extremes.json``."""
    build_dir = Path(build_dir)
    layers = prepare(build_dir, build_dir / "extremes", simulator, seed, log=log)
    report = run(layers, build_dir / "rtl", simulator)
    core = hw_core(ModelWrapper(str(build_dir / "model_hw.onnx")))
    adds = [add_range_proof(core, n) for n in core.graph.node if n.op_type == "ElementwiseAdd"]
    for a in adds:
        if not a["holds"]:
            report["failures"].append(f"extremes: {a['node']}: output type {a['output_type']} cannot hold "
                                      f"the sum range {a['range']}")
    report.update({"adds": adds, "passed": not report["failures"]})
    (build_dir / "sim").mkdir(exist_ok=True)
    write_json(build_dir / "sim" / "extremes.json", report)
    return report


def summary(r: dict) -> str:
    lines = ["extremes (rtl_sim): every arithmetic layer alone, directed inputs"]
    for row in r["layers"]:
        extra = ""
        if row["kind"] == "MVAU":
            extra = (f", {row['thresholds_met_exactly']}/{row['thresholds']} thresholds met exactly"
                     + (f" ({row['thresholds_unreachable']} unreachable, {row['thresholds_outside_channel_range']} of "
                        "them outside the channel's range: a +-1 change of those cannot show)"
                        if row["thresholds_unreachable"] else "")
                     if row["thresholds"] else ", accumulator min/max per channel")
        lines.append(f"  {row['node']:<16} {row['vectors']:>5} vectors "
                     f"{row['mismatches']} mismatches{extra}")
    for a in r.get("adds", []):
        lines.append(f"  {a['node']:<16} range {a['range']} in {a['output_type']}: "
                     f"{'holds' if a['holds'] else 'OVERFLOWS'} (analytical)")
    lines.append("PASSED" if r["passed"] else "FAILED: " + "; ".join(r["failures"][:3]))
    return "\n".join(lines)
