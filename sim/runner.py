"""Run cocotb testbenches on our RTL with Verilator or Icarus through ``cocotb_tools.runner``.

RTL is found as package data of ``tsmfpga.hw`` (``importlib.resources``), never through an
environment variable; simulator set-up comes from :mod:`tsmfpga.core.toolenv`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tsmfpga.core import toolenv

SIMULATORS = ("verilator", "icarus")


class SimulationError(RuntimeError):
    """A simulation failed to build, or a testbench reported failures."""


def _build_args(simulator: str) -> list[str]:
    if simulator == "verilator":
        # our RTL is expected to be -Wall clean (see tests/hw/test_rtl_lint.py); here we only
        # keep the simulation build from failing on warnings in third-party RTL
        return ["-Wno-fatal", "-O2"]
    return []


def run_cocotb(
    *,
    toplevel: str,
    sources: Sequence[Path],
    test_module: str,
    test_dir: Path,
    build_dir: Path,
    simulator: str = "verilator",
    parameters: Mapping[str, object] | None = None,
    seed: int | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Path:
    """Build ``toplevel`` from ``sources`` and run the cocotb module ``test_module``.

    ``test_dir`` is the folder holding the testbench module; it is put on the simulator
    Python's path. Raises :class:`SimulationError` unless at least one test ran and none
    failed. Returns the results XML.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    toolenv.prepare_sim_env()
    from cocotb_tools.runner import get_results, get_runner

    test_dir = Path(test_dir).resolve()
    if str(test_dir) not in sys.path:
        sys.path.insert(0, str(test_dir))  # the runner exports sys.path as PYTHONPATH
    runner = get_runner(simulator)
    build_dir = Path(build_dir).resolve()
    runner.build(
        sources=[Path(s).resolve() for s in sources],
        hdl_toplevel=toplevel,
        parameters=dict(parameters or {}),
        build_args=_build_args(simulator),
        build_dir=build_dir,
        always=True,
        timescale=("1ns", "1ps"),
    )
    env = dict(extra_env or {})
    env.setdefault("COCOTB_ANSI_OUTPUT", "0")
    try:
        results = runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            parameters=dict(parameters or {}),
            build_dir=build_dir,
            test_dir=build_dir,
            seed=seed,
            extra_env=env,
            timescale=("1ns", "1ps"),
        )
    except SystemExit as exc:  # cocotb's runner exits when the simulator process fails ($fatal)
        raise SimulationError(f"{test_module} on {toplevel} ({simulator}): the simulator failed "
                              f"(exit {exc.code}); log and waves in {build_dir}") from None
    num_tests, num_failed = get_results(results)
    if num_tests == 0:
        raise SimulationError(f"{test_module} on {toplevel} ({simulator}) ran no test")
    if num_failed:
        raise SimulationError(
            f"{num_failed} of {num_tests} cocotb test(s) failed: {test_module} on {toplevel} "
            f"({simulator}); log and waves in {build_dir}"
        )
    return results
