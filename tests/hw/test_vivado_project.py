"""Vivado project generator (hw/vivado): files, Tcl content, determinism, strict templates.

There is no Vivado here, so besides static checks the generated build.tcl is executed in a
plain Tcl interpreter (Python's tkinter) with every Vivado command stubbed: that runs its
control flow, variable names, file handling and artifact copying end to end, and records the
Vivado commands it issues. What Vivado itself does with those commands is not tested here.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from tsmfpga.core.errors import UserFacingError
from tsmfpga.core.templates import TemplateError
from tsmfpga.hw.boards import get_board
from tsmfpga.hw.vivado import project
from tsmfpga.hw.vivado.project import write_project

BOARDS = ["pynq-z2", "zybo-z7-20", "ultra96-v2"]
HDL = ["demo_pkg.sv", "core.sv", "core_wrapper.v", "tsmfpga_top.sv"]
DATA = ["core_weights.hex", "Thresholding_rtl_0_threshs_0_0.dat"]


def make_build_dir(root: Path, in_width: int = 12, out_width: int = 19) -> Path:
    """A tiny compiler output: DIR/rtl with manifest.json, a few HDL and $readmemh files."""
    rtl = root / "rtl"
    rtl.mkdir(parents=True)
    for name in HDL:
        rtl.joinpath(name).write_text(f"// {name}\n")
    rtl.joinpath("core.sv").write_text('module core; initial $readmemh("core_weights.hex", m); endmodule\n')
    for name in DATA:
        rtl.joinpath(name).write_text("00\n01\n")
    rtl.joinpath("defs.vh").write_text("`define X 1\n")
    rtl.joinpath("leftover.sv").write_text("// not in the manifest: not part of the design\n")
    manifest = {
        "top": "tsmfpga_top",
        "files": HDL,
        "input": {"lanes": 1, "elem_bits": in_width, "width": in_width, "frame_beats": 64,
                  "dtype": f"UINT{in_width}"},
        "output": {"lanes": 1, "elem_bits": out_width, "width": out_width, "frame_beats": 10,
                   "dtype": f"INT{out_width}"},
    }
    rtl.joinpath("manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def tcl_interp():
    tkinter = pytest.importorskip("tkinter", reason="Python's tkinter (Tcl) is not installed")
    try:
        return tkinter.Tcl()
    except tkinter.TclError as err:  # pragma: no cover - broken Tcl installation
        pytest.skip(f"tkinter cannot start a Tcl interpreter: {err}")


@pytest.fixture
def build_dir(tmp_path):
    return make_build_dir(tmp_path / "build")


@pytest.mark.parametrize("board_name", BOARDS)
def test_project_files_and_content(board_name, build_dir, tmp_path):
    board = get_board(board_name)
    out = tmp_path / "build" / "bitstream" / "vivado"
    res = write_project(build_dir, board, out, board.clock_mhz)

    assert res["command"] == "vivado -mode batch -source build.tcl"
    assert Path(res["tcl"]) == out / "build.tcl"
    assert Path(res["bitstream"]) == out.parent / "tsmfpga.bit"
    assert Path(res["hwh"]) == out.parent / "tsmfpga.hwh"
    assert [Path(s).name for s in res["sources"]] == HDL + ["tsmfpga_ctrl.sv", "tsmfpga_accel.sv"]
    assert sorted(Path(s).name for s in res["data_files"]) == sorted(DATA)
    for path in res["sources"] + res["data_files"] + res["headers"] + [res["xdc"]]:
        assert Path(path).is_file(), path
    assert not (out / "rtl" / "leftover.sv").exists()
    assert not (out / "rtl" / "manifest.json").exists()

    tcl = (out / "build.tcl").read_text()
    # every file the Tcl references exists next to it
    refs = set(re.findall(r"rtl/[A-Za-z0-9_.+-]+", tcl))
    refs |= {m for m in re.findall(r"\./([A-Za-z0-9_.-]+\.(?:tcl|xdc))", tcl)}
    assert {f"rtl/{n}" for n in HDL + DATA + ["defs.vh", "tsmfpga_ctrl.sv", "tsmfpga_accel.sv"]} <= refs
    for ref in sorted(refs):
        assert (out / ref).is_file(), f"build.tcl references {ref}, which is not in {out}"
    hook = (out / "synth_pre.tcl").read_text()
    for name in DATA:
        assert re.search(rf"^\s+{re.escape(name)}$", hook, re.M), name
        assert (out / "rtl" / name).is_file()

    # what the build does
    assert board.part in tcl and f"set part {{{board.part}}}" in tcl
    assert f"set board_preset {{{board.board_preset}}}" in tcl
    assert f"set clock_mhz {board.clock_mhz:g}" in tcl
    if board.family == "zynq7":
        assert "xilinx.com:ip:processing_system7" in tcl
        assert f"CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {{{board.clock_mhz:g}}}" in tcl
    else:
        assert "xilinx.com:ip:zynq_ultra_ps_e" in tcl
        assert f"CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {{{board.clock_mhz:g}}}" in tcl
    for needle in ("xilinx.com:ip:axi_dma", "CONFIG.c_include_sg {0}", "ipx::package_project",
                   "./ip_repo", "xilinx.com:ip:proc_sys_reset", "xilinx.com:ip:smartconnect",
                   "apply_bd_automation", "assign_bd_address", "validate_bd_design",
                   "make_wrapper", "launch_runs synth_1",
                   "launch_runs impl_1 -to_step write_bitstream", "report_utilization",
                   "report_timing_summary", "hw_handoff", "IN_W 12", "OUT_W 19",
                   "IN_FRAME_BEATS 64", "OUT_FRAME_BEATS 10", "IN_BYTES 2", "OUT_BYTES 4",
                   "WITH_CORE 1", "STEPS.SYNTH_DESIGN.TCL.PRE", "tsmfpga.xdc"):
        assert needle in tcl, needle
    assert "${" not in tcl and "${" not in hook  # no unfilled placeholder, no Tcl ${var}
    assert str(tmp_path) not in tcl + hook + (out / "tsmfpga.xdc").read_text()  # relative only


def test_deterministic(build_dir, tmp_path):
    board = get_board("pynq-z2")
    a, b = tmp_path / "a" / "vivado", tmp_path / "b" / "vivado"
    write_project(build_dir, board, a, 100)
    first = tree(a)
    write_project(build_dir, board, a, 100)  # again into the same folder
    write_project(build_dir, board, b, 100)  # and into another one
    assert tree(a) == first
    assert tree(b) == first
    assert set(first) >= {"build.tcl", "synth_pre.tcl", "tsmfpga.xdc", "rtl/tsmfpga_accel.sv"}


def test_clock_and_widths(tmp_path):
    """A clock other than the board default; an input beat that is not a power of two bytes
    is repacked from the DMA's 4-byte stream (axis_dwidth_converter)."""
    build = make_build_dir(tmp_path / "build", in_width=24, out_width=40)
    res = write_project(build, get_board("pynq-z2"), tmp_path / "v", 142.5)
    tcl = Path(res["tcl"]).read_text()
    assert "set clock_mhz 142.5" in tcl and "PCW_FPGA0_PERIPHERAL_FREQMHZ {142.5}" in tcl
    assert "IN_BYTES 3" in tcl and "set dma_in_bytes 4" in tcl and "OUT_BYTES 8" in tcl
    assert "CONFIG.c_m_axi_s2mm_data_width {64}" in tcl
    assert res["input_repack"] is True
    assert "period 7.017544 ns" in (tmp_path / "v" / "tsmfpga.xdc").read_text()


def test_strict_templates():
    """A key a template uses but the caller did not give is an error, never a silent blank."""
    with pytest.raises(TemplateError, match="build.tcl.j2"):
        project.render("build.tcl.j2", part="xc7z020clg400-1")
    with pytest.raises(TemplateError, match="clock_mhz"):
        project.render("ps_zynq7.tcl.j2")
    assert "FREQMHZ {100}" in project.render("ps_zynq7.tcl.j2", clock_mhz=100)
    with pytest.raises(TemplateError, match="TemplateNotFound"):
        project.render("build.tcl")  # the templates are .j2 files


def test_user_errors(build_dir, tmp_path):
    board = get_board("pynq-z2")
    with pytest.raises(UserFacingError, match="board_preset"):
        write_project(build_dir, dataclasses.replace(board, board_preset=""), tmp_path / "v", 100)
    with pytest.raises(UserFacingError, match="family"):
        write_project(build_dir, dataclasses.replace(board, family="versal"), tmp_path / "v", 100)
    with pytest.raises(UserFacingError, match="clock"):
        write_project(build_dir, board, tmp_path / "v", 0)
    with pytest.raises(UserFacingError, match="manifest.json"):
        write_project(tmp_path / "nowhere", board, tmp_path / "v", 100)
    (build_dir / "rtl" / "core.sv").unlink()
    with pytest.raises(UserFacingError, match="core.sv"):
        write_project(build_dir, board, tmp_path / "v", 100)


@pytest.mark.parametrize("board_name", BOARDS)
def test_tcl_parses(board_name, build_dir, tmp_path):
    tcl = tcl_interp()
    out = tmp_path / "v"
    write_project(build_dir, get_board(board_name), out, 100)
    scripts = sorted(out.glob("*.tcl"))
    assert {p.name for p in scripts} == {"build.tcl", "synth_pre.tcl"}
    for path in scripts:
        assert tcl.call("info", "complete", path.read_text()) in (1, "1"), f"{path.name}: incomplete"


# Vivado stand-ins for a dry run: they log each call, keep CONFIG properties, and create the
# files Vivado would (bitstream at launch_runs impl_1, .hwh at generate_target).
_STUBS = r"""
set ::vlog {}
namespace eval ipx {}
set ::accel_defaults {IN_W 8 OUT_W 8 IN_FRAME_BEATS 4 OUT_FRAME_BEATS 4 IN_BYTES 1 OUT_BYTES 1 WITH_CORE 0}
proc unknown {args} { lappend ::vlog $args; return "" }
proc version {args} { return 2099.1 }
proc get_ipdefs {args} { lappend ::vlog [list get_ipdefs {*}$args]; return [string map {* 9.9} [lindex $args end]] }
proc get_board_parts {args} { return [lindex $args end] }
foreach cmd {get_bd_cells get_bd_pins get_bd_intf_pins get_runs get_files} {
    proc $cmd {args} { return [lindex $args end] }
}
proc get_bd_nets {args} { return "" }
proc ipx::current_core {args} { return core }
proc ipx::get_bus_interfaces {args} { return busif }
proc ipx::get_file_groups {args} { return fg }
proc ipx::get_files {args} { return "" }
proc make_wrapper {args} { return proj/tsmfpga.gen/sources_1/bd/tsmfpga_bd/hdl/tsmfpga_bd_wrapper.v }
proc set_property {args} {
    lappend ::vlog [list set_property {*}$args]
    if {[lindex $args 0] eq "-dict"} {
        foreach {k v} [lindex $args 1] { set ::prop([lindex $args 2],$k) $v }
    } else {
        set ::prop([lindex $args 2],[lindex $args 0]) [lindex $args 1]
    }
}
proc get_property {name obj} {
    if {[info exists ::prop($obj,$name)]} { return $::prop($obj,$name) }
    if {$obj eq "accel" && [string match CONFIG.* $name]} {
        return [dict get $::accel_defaults [string range $name 7 end]]
    }
    switch -- $name {
        PROGRESS { return 100% }
        STATS.WNS { return 0.25 }
        STATS.WHS { return 0.05 }
        DIRECTORY { return proj/tsmfpga.runs/$obj }
        NAME { return $obj }
        CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ { return $::prop(ps,CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ) }
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ { return $::prop(ps,CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ) }
    }
    error "stub get_property: $name of $obj"
}
proc generate_target {args} {
    lappend ::vlog [list generate_target {*}$args]
    file mkdir proj/tsmfpga.gen/sources_1/bd/tsmfpga_bd/hw_handoff
    set fh [open proj/tsmfpga.gen/sources_1/bd/tsmfpga_bd/hw_handoff/tsmfpga_bd.hwh w]; puts $fh hwh; close $fh
}
proc launch_runs {args} {
    lappend ::vlog [list launch_runs {*}$args]
    if {[lindex $args 0] eq "impl_1"} {
        file mkdir proj/tsmfpga.runs/impl_1
        set fh [open proj/tsmfpga.runs/impl_1/tsmfpga_bd_wrapper.bit w]; puts $fh bit; close $fh
    }
}
"""


@pytest.mark.parametrize("board_name,in_width", [("pynq-z2", 12), ("pynq-z2", 24),
                                                 ("ultra96-v2", 8)])
def test_build_tcl_dry_run(board_name, in_width, tmp_path, monkeypatch):
    tcl = tcl_interp()
    monkeypatch.chdir(tmp_path)  # build.tcl cds into its folder; restore the cwd afterwards
    build = make_build_dir(tmp_path / "build", in_width=in_width)
    out = tmp_path / "build" / "bitstream" / "vivado"
    res = write_project(build, get_board(board_name), out, 100)
    tcl.eval(_STUBS)
    tcl.eval(f"source {{{res['tcl']}}}")

    assert Path(res["bitstream"]).read_text() == "bit\n"
    assert Path(res["hwh"]).read_text() == "hwh\n"
    summary = (out / "reports" / "summary.txt").read_text()
    assert "wns_ns 0.25" in summary and "clock_actual_mhz 100" in summary
    log = [tcl.splitlist(entry) for entry in tcl.splitlist(tcl.eval("set ::vlog"))]
    cmds = [entry[0] for entry in log]
    order = ["create_project", "ipx::package_project", "ipx::save_core", "close_project",
             "create_project", "create_bd_design", "apply_bd_automation", "assign_bd_address",
             "validate_bd_design", "generate_target", "launch_runs", "launch_runs", "open_run",
             "report_utilization", "report_timing_summary"]
    pos = 0
    for cmd in order:
        assert cmd in cmds[pos:], f"{cmd} missing or out of order in {cmds}"
        pos = cmds.index(cmd, pos) + 1
    runs = [entry[1:] for entry in log if entry[0] == "launch_runs"]
    assert runs[0][0] == "synth_1" and list(runs[1][:3]) == ["impl_1", "-to_step", "write_bitstream"]
    cells = {entry[-1]: entry[-2] for entry in log if entry[0] == "create_bd_cell"}
    ps_ip = "processing_system7" if get_board(board_name).family == "zynq7" else "zynq_ultra_ps_e"
    assert cells["ps"] == f"xilinx.com:ip:{ps_ip}:9.9"
    assert cells["accel"] == "tsmfpga:user:tsmfpga_accel:9.9"
    assert cells["dma"] == "xilinx.com:ip:axi_dma:9.9"
    assert ("in_dwc" in cells) == (in_width == 24)
    accel = {name: tcl.eval(f"get_property CONFIG.{name} accel") for name in
             ("IN_W", "OUT_W", "IN_FRAME_BEATS", "OUT_FRAME_BEATS", "IN_BYTES", "OUT_BYTES",
              "WITH_CORE")}
    assert accel == {"IN_W": str(in_width), "OUT_W": "19", "IN_FRAME_BEATS": "64",
                     "OUT_FRAME_BEATS": "10", "IN_BYTES": str(-(-in_width // 8)),
                     "OUT_BYTES": "4", "WITH_CORE": "1"}
    dma_in = 1 << (-(-in_width // 8) - 1).bit_length()
    assert tcl.eval("set ::prop(dma,CONFIG.c_m_axis_mm2s_tdata_width)") == str(8 * dma_in)
    assert tcl.eval("set ::prop(dma,CONFIG.c_s_axis_s2mm_tdata_width)") == "32"
    # every data file also went into the IP's synthesis file group
    added = [entry[1] for entry in log if entry[0] == "ipx::add_file"]
    assert sorted(added) == sorted(f"src/{n}" for n in DATA)
    assert all((out / "ip_repo" / "tsmfpga_accel" / a).is_file() for a in added)


def test_synth_hook_copies_data_files(build_dir, tmp_path, monkeypatch):
    tcl = tcl_interp()
    out = tmp_path / "v"
    write_project(build_dir, get_board("pynq-z2"), out, 100)
    run_dir = out / "proj" / "tsmfpga.runs" / "synth_1"
    run_dir.mkdir(parents=True)
    monkeypatch.chdir(run_dir)
    tcl.eval(f"source {{{out / 'synth_pre.tcl'}}}")
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(DATA)
