"""Vivado project generator: the stitched accelerator as a PYNQ-style Zynq overlay.

:func:`write_project` turns a compiler output folder (``DIR/rtl`` with ``manifest.json``) into
a self-contained folder (e.g. ``DIR/bitstream/vivado``) holding copies of the RTL and its
``$readmemh`` data files, plus Tcl rendered from the Jinja2 templates in ``templates/``. One
command there, ``vivado -mode batch -source build.tcl``, packages ``tsmfpga_accel`` (the
stitched top with its AXI-Lite control block, ``hw/rtl/tsmfpga_accel.sv``) as an IP, builds a
block design (Zynq PS with the board preset, AXI DMA, interconnects, resets), runs synthesis,
implementation and ``write_bitstream``, and leaves ``tsmfpga.bit`` + ``tsmfpga.hwh`` in the
parent folder of ``out_dir`` and utilization/timing reports in ``out_dir/reports``.

Nothing here runs Vivado. Output is deterministic: the same inputs give byte-identical files
(every path in the Tcl is relative to ``out_dir``; no dates, no absolute paths).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tsmfpga.core import templates
from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.records import RtlManifest
from tsmfpga.core.rtl import rtl_source

#: the command to run in ``out_dir``
COMMAND = "vivado -mode batch -source build.tcl"
#: our RTL added around the stitched top
WRAPPER_SOURCES = ("tsmfpga_ctrl.sv", "tsmfpga_accel.sv")
#: extensions compiled as HDL; headers are copied and put on the include path
HDL_EXT = (".sv", ".v", ".vhd", ".vhdl")
HEADER_EXT = (".svh", ".vh")
#: base name of the bitstream and hardware handoff (PYNQ wants the same stem)
BIT_NAME = "tsmfpga"
#: AXI DMA limits: stream widths are powers of two up to 1024 bits; 26-bit length register
DMA_MAX_BYTES = 128
DMA_LENGTH_WIDTH = 26
#: parallel Vivado jobs (fixed, so the output is the same on every machine)
JOBS = 4

# per PS family: fragment template, PS port names (for comments), clock pin, max fabric clock
_FAMILIES = {
    "zynq7": {"ps_template": "ps_zynq7.tcl.j2", "ctrl": "M_AXI_GP0", "data": "S_AXI_HP0",
              "clock_pin": "FCLK_CLK0", "max_mhz": 250.0},
    "zynq_us+": {"ps_template": "ps_zynq_us.tcl.j2", "ctrl": "M_AXI_HPM0_FPD",
                 "data": "S_AXI_HP0_FPD", "clock_pin": "pl_clk0", "max_mhz": 333.0},
}
# file names that appear in Tcl unquoted inside brace lists: keep them to a safe alphabet
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def render(name: str, **keys) -> str:
    """Render ``templates/<name>`` (a Jinja2 template, e.g. ``build.tcl.j2``) with strict fill: a
    key the template uses but the caller did not give raises
    :class:`tsmfpga.core.templates.TemplateError`."""
    return templates.render("tsmfpga.hw.vivado", name, **keys)


def _fmt_mhz(mhz: float) -> str:
    text = f"{mhz:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _pow2_at_least(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _read_manifest(rtl: Path) -> RtlManifest:
    manifest = RtlManifest.load(rtl)
    if manifest.top != "tsmfpga_top":
        raise UserFacingError(f"{rtl / 'manifest.json'}: top is {manifest.top!r}; tsmfpga_accel instantiates "
                              "'tsmfpga_top'")
    return manifest


def _check_name(name: str, where: Path) -> str:
    if not _SAFE_NAME.fullmatch(name):
        raise UserFacingError(f"{where}: file name {name!r} has characters the Vivado Tcl cannot "
                              "carry unquoted (allowed: letters, digits, _ . + -)")
    return name


def _family(board) -> dict:
    name = getattr(board, "name", "?")
    if not getattr(board, "board_preset", None):
        raise UserFacingError(
            f"board {name!r} has no board_preset in hw/boards/boards.yaml; the block design "
            "needs the Vivado board part (e.g. tul.com.tw:pynq-z2:part0:1.0) for the PS preset")
    family = getattr(board, "family", None)
    if family not in _FAMILIES:
        raise UserFacingError(
            f"board {name!r}: family {family!r} has no Vivado project template; supported: "
            f"{', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[family]


def write_project(build_dir: Path, board, out_dir: Path, clock_mhz: float) -> dict:
    """Write the Vivado project for the compiler output ``build_dir`` into ``out_dir``.

    ``board`` is a :class:`tsmfpga.hw.boards.Board` (part, family, board_preset).
    Returns ``{"tcl", "command", "cwd", "sources", "headers", "data_files", "xdc", "bitstream",
    "hwh", "reports", "input_repack"}``; paths are absolute, ``bitstream``/``hwh`` are where
    ``build.tcl`` will put them (the parent of ``out_dir``).
    """
    fam = _family(board)
    clock_mhz = float(clock_mhz)
    if not (0 < clock_mhz <= fam["max_mhz"]):
        raise UserFacingError(f"clock {clock_mhz} MHz out of range for {board.name} "
                              f"(PS fabric clocks go up to {fam['max_mhz']:g} MHz)")
    rtl = Path(build_dir) / "rtl"
    manifest = _read_manifest(rtl)

    hdl = [_check_name(str(name), rtl / "manifest.json") for name in manifest.files]
    if len(set(hdl)) != len(hdl):
        raise UserFacingError(f"{rtl / 'manifest.json'}: a file is listed twice in 'files'")
    for name in hdl:
        if not (rtl / name).is_file():
            raise UserFacingError(f"{rtl / name} (listed in manifest.json) not found")
        if name in WRAPPER_SOURCES:
            raise UserFacingError(f"{rtl / name}: name clashes with our wrapper RTL")
    listed = set(hdl)
    headers, data = [], []
    for path in sorted(rtl.iterdir()):
        name = path.name
        if not path.is_file() or name.startswith(".") or name == "manifest.json" or name in listed:
            continue
        if path.suffix in HDL_EXT:
            continue  # HDL not in the manifest is not part of the design
        (headers if path.suffix in HEADER_EXT else data).append(_check_name(name, path))

    in_w, out_w = manifest.input.width, manifest.output.width
    in_beats, out_beats = manifest.input.frame_beats, manifest.output.frame_beats
    in_bytes = -(-in_w // 8)
    out_bytes = _pow2_at_least(-(-out_w // 8))
    dma_in_bytes = _pow2_at_least(in_bytes)
    for what, n in (("input", dma_in_bytes), ("output", out_bytes)):
        if n > DMA_MAX_BYTES:
            raise UserFacingError(f"{what} beat of {n} bytes is wider than the AXI DMA's "
                                  f"{8 * DMA_MAX_BYTES}-bit stream limit")
    frame_bytes = max(dma_in_bytes * in_beats, out_bytes * out_beats)
    if frame_bytes >= 1 << DMA_LENGTH_WIDTH:
        raise UserFacingError(f"one frame is {frame_bytes} bytes, more than one AXI DMA transfer "
                              f"({(1 << DMA_LENGTH_WIDTH) - 1} bytes)")

    out_dir = Path(out_dir).resolve()
    src_dir = out_dir / "rtl"
    if src_dir.exists():
        shutil.rmtree(src_dir)  # ours: stale files from an earlier model must not linger
    src_dir.mkdir(parents=True)
    for name in hdl + headers + data:
        shutil.copyfile(rtl / name, src_dir / name)
    for name in WRAPPER_SOURCES:
        shutil.copyfile(rtl_source(name), src_dir / name)
    sources = hdl + list(WRAPPER_SOURCES)

    clock = _fmt_mhz(clock_mhz)
    files = {
        "build.tcl": render(
            "build.tcl.j2",
            board_name=board.name, part=board.part, board_preset=board.board_preset,
            clock_mhz=clock, jobs=JOBS, bit_name=BIT_NAME, artifact_dir="..",
            ps_ctrl_port=fam["ctrl"], ps_data_port=fam["data"],
            hdl_files=sources + headers, data_files=data,
            in_w=in_w, out_w=out_w, in_frame_beats=in_beats, out_frame_beats=out_beats,
            in_bytes=in_bytes, out_bytes=out_bytes, dma_in_bytes=dma_in_bytes,
            stream_bits=int((manifest.streams or {}).get("tdest_bits", 0)),
            dma_length_width=DMA_LENGTH_WIDTH,
            dma_mm2s_mm_bits=max(32, 8 * dma_in_bytes), dma_s2mm_mm_bits=max(32, 8 * out_bytes),
            ps_template=fam["ps_template"],
            xdc_name="tsmfpga.xdc", synth_hook="synth_pre.tcl",
        ),
        "synth_pre.tcl": render("synth_pre.tcl.j2", data_names=data),
        "tsmfpga.xdc": render("tsmfpga.xdc.j2", board_name=board.name, part=board.part,
                              clock_mhz=clock, period_ns=_fmt_mhz(1000.0 / clock_mhz),
                              ps_clock_pin=fam["clock_pin"]),
    }
    for name, text in files.items():
        with open(out_dir / name, "w", newline="\n") as fh:
            fh.write(text)

    artifacts = out_dir.parent
    return {
        "tcl": str(out_dir / "build.tcl"),
        "command": COMMAND,
        "cwd": str(out_dir),
        "sources": [str(src_dir / n) for n in sources],
        "headers": [str(src_dir / n) for n in headers],
        "data_files": [str(src_dir / n) for n in data],
        "xdc": str(out_dir / "tsmfpga.xdc"),
        "bitstream": str(artifacts / f"{BIT_NAME}.bit"),
        "hwh": str(artifacts / f"{BIT_NAME}.hwh"),
        "reports": str(out_dir / "reports"),
        "input_repack": in_bytes != dma_in_bytes,
    }
