"""The bottom layer: the vocabulary every stage shares (imports nothing else of tsmfpga).

* :mod:`~tsmfpga.core.errors` -- :class:`UserFacingError`, the base of every error the CLI reports.
* :mod:`~tsmfpga.core.toolenv` -- tool environments (Verilator on PATH, FINN build dir).
* :mod:`~tsmfpga.core.graph` -- loading a QONNX file, HW nodes vs output post-processing,
  splitting the post-processing off.
* :mod:`~tsmfpga.core.clip` -- the one clip runner (a step graph or a HW graph over a clip,
  state threaded frame to frame) and the frame-buffer store of stateful ops.
* :mod:`~tsmfpga.core.streams` -- lane packing and stream encoding of frames (bipolar included).
* :mod:`~tsmfpga.core.records` -- typed, versioned records that travel between stages
  (graph metadata, folding, RTL manifest), parsed in one place.
* :mod:`~tsmfpga.core.rtl` -- where our RTL sources are.
* :mod:`~tsmfpga.core.templates` -- strict Jinja2 rendering of generated code.
"""
