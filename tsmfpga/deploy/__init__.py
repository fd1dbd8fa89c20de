"""Deployment: the host driver of the accelerator (board or simulated twin) and the deploy package.

* :mod:`tsmfpga.deploy.driver` -- standalone host driver (numpy + pynq only; copied to the board).
* :mod:`tsmfpga.deploy.twin` -- :class:`SimulatedAccelerator`, the same API backed by the RTL
  simulation of a build directory.
* :mod:`tsmfpga.deploy.package` -- :func:`write_deploy`, the folder to copy onto the board.
"""

from __future__ import annotations

__all__ = ["Accelerator", "ClipResult", "FrameResult", "SimulatedAccelerator", "build_config", "write_deploy"]


def __getattr__(name):  # lazy: importing the package must not pull qonnx / the simulator in
    if name in ("Accelerator", "ClipResult", "FrameResult"):
        from tsmfpga.deploy import driver

        return getattr(driver, name)
    if name == "SimulatedAccelerator":
        from tsmfpga.deploy.twin import SimulatedAccelerator

        return SimulatedAccelerator
    if name in ("build_config", "write_deploy"):
        from tsmfpga.deploy import package

        return getattr(package, name)
    raise AttributeError(name)
