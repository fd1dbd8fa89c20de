"""Mutation score: single faults put into a copy of a compiled design, each simulated by the
normal regression: :func:`tsmfpga.sim.fullsim.run_sim` (outputs vs the HW graph, taps, tlast,
status, timeouts) plus the directed extremes of every arithmetic layer
(:mod:`tsmfpga.sim.extremes`, run with the mutant's ROM files). A mutant is *caught* when that
regression reports a failure. A surviving threshold mutant whose threshold no input can meet
exactly (proved by the extremes solver) is *equivalent*: no input can tell it from the original;
the score counts caught / (mutants - equivalent) and lists the equivalent ones.

Mutation kinds (one mutant per site):

* ``weight_bit``   -- one bit (the top bit of the first weight) of each MVAU's weight ROM flipped
* ``threshold``    -- the first threshold of each thresholded MVAU's ROM plus one
* ``shift_frame``  -- the temporal shift's shifted channels come from the current frame instead of
                      the buffered previous frame (``temporal_shift.sv``)
* ``clip_flag``    -- the clip-start flag of the first temporal shift dropped (tied to 0)
* ``fifo_depth``   -- the deepest residual-shortcut FIFO (else the deepest FIFO) made the minimum
                      depth (3 beats)
* ``dwc_lanes``    -- every width converter's output lanes rotated by one (``axis_dwc.sv``)

ROM mutants change data files only; the simulator model is built once for all of them
(``$readmemh`` reads the files at run time).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.graph import hw_core
from tsmfpga.core.records import write_json
from tsmfpga.hw.fifos import shortcut_edges
from tsmfpga.hw.stitch import fifo_instance
from tsmfpga.sim import extremes
from tsmfpga.sim.fullsim import SimConfig, run_sim
from tsmfpga.sim.harness import HarnessError


class MutationError(UserFacingError):
    """A mutation could not be applied (the design does not look as expected)."""


@dataclass
class Mutant:
    name: str
    kind: str
    target: str
    description: str
    apply: Callable[[Path], None]     # edits the copied rtl/ folder
    hdl: bool                         # changes HDL (needs a rebuild) or only data files


def _replace_once(path: Path, old: str, new: str, what: str) -> None:
    text = path.read_text()
    if text.count(old) < 1:
        raise MutationError(f"{what}: {old!r} not found in {path.name}; the RTL changed, update the mutation")
    path.write_text(text.replace(old, new, 1))


def _edit_first_word(path: Path, bit_edit: Callable[[int, int], int]) -> None:
    lines = path.read_text().splitlines()
    width = len(lines[0]) * 4
    lines[0] = f"{bit_edit(int(lines[0], 16), width) & ((1 << width) - 1):0{len(lines[0])}x}"
    path.write_text("\n".join(lines) + "\n")


def mutants(manifest: dict, shortcuts: list[str] | None = None) -> list[Mutant]:
    """The mutants of a design (``rtl/manifest.json``), ROM mutants first. ``shortcuts``: the
    residual shortcut tensors (the FIFO mutant prefers the deepest of them: a join whose shortcut
    cannot hold what the branch absorbs deadlocks)."""
    out: list[Mutant] = []
    for inst in manifest["instances"]:
        if inst["module"] != "mvau":
            continue
        p, name = inst["params"], inst["name"]
        wbits = int(p["W_BITS"])
        wfile = p["WEIGHT_FILE"]
        out.append(Mutant(f"weight_bit:{name}", "weight_bit", name,
                          f"{wfile}: bit {wbits - 1} of the first weight flipped",
                          lambda d, f=wfile, b=wbits: _edit_first_word(d / f, lambda w, _: w ^ (1 << (b - 1))),
                          hdl=False))
        if p.get("THRESH_FILE"):
            tfile, tbits = p["THRESH_FILE"], int(p["T_BITS"])

            def plus_one(w, _, t=tbits):
                low = (w & ((1 << t) - 1)) + 1
                return (w & ~((1 << t) - 1)) | (low & ((1 << t) - 1))
            out.append(Mutant(f"threshold:{name}", "threshold", name, f"{tfile}: first threshold + 1",
                              lambda d, f=tfile, e=plus_one: _edit_first_word(d / f, e), hdl=False))
    shifts = [i["name"] for i in manifest["instances"] if i["module"] == "temporal_shift"]
    if shifts:
        out.append(Mutant("shift_frame", "shift_frame", "temporal_shift.sv",
                          "shifted channels taken from the current frame, not the buffered previous one",
                          lambda d: _replace_once(d / "temporal_shift.sv",
                                                  "assign m_axis_tdata  = out_use_mem ? rd_data : out_data;",
                                                  "assign m_axis_tdata  = out_data;", "shift_frame"), hdl=True))
        ts = shifts[0]
        out.append(Mutant(f"clip_flag:{ts}", "clip_flag", ts, f"clip-start flag of {ts} tied to 0",
                          lambda d, t=ts: _replace_once(d / f"{manifest['top']}.sv", f".s_axis_tuser({t}_clip_tuser)",
                                                        ".s_axis_tuser(1'b0)", "clip_flag"), hdl=True))
    if manifest["fifos"]:
        pool = [t for t in (shortcuts or []) if t in manifest["fifos"]] or list(manifest["fifos"])
        tensor = max(pool, key=lambda t: (manifest["fifos"][t]["addr_width"], t))
        aw = manifest["fifos"][tensor]["addr_width"]
        inst = fifo_instance(tensor)

        def shallow(d, inst=inst, aw=aw):
            top = d / f"{manifest['top']}.sv"
            text = top.read_text()
            m = re.search(r"\.ADDR_WIDTH\(" + str(aw) + r"\)\s*\)\s*" + re.escape(inst) + r" \(", text)
            if m is None:
                raise MutationError(f"fifo_depth: FIFO {inst} with ADDR_WIDTH {aw} not found in the top")
            top.write_text(text[: m.start()] + ".ADDR_WIDTH(1)" + text[m.start() + len(f".ADDR_WIDTH({aw})"):])
        out.append(Mutant(f"fifo_depth:{tensor}", "fifo_depth", inst,
                          f"{inst}: {(1 << aw) + 1} -> 3 beats", shallow, hdl=True))
    if any(d["out_lanes"] > 1 for d in manifest["dwcs"].values()):
        old = "assign m_axis_tdata  = buf_q[OUT_LANES*LANE_BITS-1:0];"
        new = ("wire [2*OUT_LANES*LANE_BITS-1:0] mut_rot = {buf_q[OUT_LANES*LANE_BITS-1:0], "
               "buf_q[OUT_LANES*LANE_BITS-1:0]} >> LANE_BITS;\n    assign m_axis_tdata  = mut_rot[OUT_LANES*LANE_BITS-1:0];")
        out.append(Mutant("dwc_lanes", "dwc_lanes", "axis_dwc.sv", "output lanes rotated by one lane",
                          lambda d: _replace_once(d / "axis_dwc.sv", old, new, "dwc_lanes"), hdl=True))
    return out


def run_mutation(build_dir: Path, clips: int = 2, inputs: Path | None = None, kinds: list[str] | None = None,
                 names: list[str] | None = None, directed: bool = True, log=print) -> dict:
    """Simulate every mutant of the design in ``build_dir`` with the normal regression (plus the
    directed extremes unless ``directed`` is False); write ``DIR/sim/mutation.json``. Returns
    the report (``score`` = caught / (mutants - equivalent))."""
    build_dir = Path(build_dir)
    manifest = json.loads((build_dir / "rtl" / "manifest.json").read_text())
    work = build_dir / "mutate"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    core = hw_core(ModelWrapper(str(build_dir / "model_hw.onnx")))
    todo = [m for m in mutants(manifest, list(shortcut_edges(core))) if (not kinds or m.kind in kinds) and (not names or m.name in names)]
    layers = []
    if directed:
        log("[mutate] building the per-layer extremes models ...")
        # extremes swap data files only: the layers whose ROMs a mutant edits are the ones to build
        roms = sorted({m.target for m in todo if not m.hdl})
        layers = extremes.prepare(build_dir, work / "extremes", log=lambda *a: None, only=roms) if roms else []
    unreachable = {ly.name: {tuple(s) for s in ly.summary.get("equivalent_threshold_sites", [])} for ly in layers}
    rows = []
    for k, m in enumerate(todo):
        copy = work / "design"
        shutil.rmtree(copy, ignore_errors=True)
        copy.mkdir()
        shutil.copytree(build_dir / "rtl", copy / "rtl")
        for f in ("model_hw.onnx", "report.json"):
            shutil.copyfile(build_dir / f, copy / f)
        m.apply(copy / "rtl")
        log(f"[mutate] {k + 1}/{len(todo)} {m.name}: {m.description} ...")
        cfg = SimConfig(build_dir=copy, clips=clips, inputs=inputs, golden=False, out=work / "sim")
        try:
            r = run_sim(cfg, log=lambda *a: None)
            failures = r["failures"]
        except (UserFacingError, HarnessError) as exc:   # the simulator build or run fails: a detection
            failures = [f"{type(exc).__name__}: {str(exc)[-300:]}"]
        if layers:
            failures += extremes.run(layers, copy / "rtl")["failures"]
        # the threshold mutant edits channel 0's first threshold: equivalent when no input meets it
        equivalent = not failures and m.kind == "threshold" and (0, 0) in unreachable.get(m.target, ())
        rows.append({"mutant": m.name, "kind": m.kind, "target": m.target, "description": m.description,
                     "caught": bool(failures), "equivalent": equivalent, "by": failures[:3]})
        log(f"[mutate]   -> {'caught' if failures else 'equivalent (proved)' if equivalent else 'SURVIVED'}")
    caught = sum(r["caught"] for r in rows)
    equiv = [r["mutant"] for r in rows if r["equivalent"]]
    live = len(rows) - len(equiv)
    report = {"mutants": len(rows), "caught": caught, "equivalent": equiv,
              "score": caught / live if live else None,
              "survivors": [r["mutant"] for r in rows if not r["caught"] and not r["equivalent"]], "results": rows,
              "regression": f"tsmfpga sim (HW-graph compare, taps, tlast/status/timeouts, latency) on {clips} clip(s)"
                            + (" + directed extremes of every arithmetic layer" if directed else ""),
              "source": "rtl_sim"}
    (build_dir / "sim").mkdir(exist_ok=True)
    write_json(build_dir / "sim" / "mutation.json", report)
    shutil.rmtree(work / "design", ignore_errors=True)
    return report
