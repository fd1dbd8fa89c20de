"""Post-route fmax of each of our RTL modules alone on ECP5 (the per-module timing table).

Every case is one module with representative parameters (the sizes of the reference design's
layers). It is wrapped in a registered-I/O wrapper (``templates/timing_wrap.sv.j2``: every port
through a flip-flop, so combinational input -> output paths such as ready chains are timed too),
synthesized with ``synth_ecp5`` and placed and routed out of context (no pins) by nextpnr-ecp5,
seeded. The figure is ``nextpnr``'s post-route fmax of the clock; a module passes at
``TARGET_MHZ``. ``$readmemh`` ROMs get seeded random contents of the right shape.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tsmfpga.core import templates
from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.ecp5 import Ecp5FlowError, place_and_route, run_tool, synth
from tsmfpga.hw.ops.mvau import MVAU_SOURCES
from tsmfpga.hw.synth import copy_sources, read_slang_line, yowasp_tool

#: every module of ours alone must reach this post-route clock on ECP5 (issue #15)
TARGET_MHZ = 150.0
#: device of the runs (the ULX3S 85F)
DEVICE = {"device": "85k", "package": "CABGA381", "speed": 6}
#: defines of every synthesis of our RTL (hw/resources.py YOSYS_DEFINES)
DEFINES = ("TSMFPGA_YOSYS",)


@dataclass(frozen=True)
class Case:
    """One module with its parameters; ``roms``: parameter name -> (words, bits) of a data file;
    ``uses``: the hw/rtl files of the modules it instantiates."""

    name: str
    module: str
    params: dict = field(default_factory=dict)
    roms: dict = field(default_factory=dict)
    uses: tuple = ()

    def sources(self) -> list[Path]:
        """The module's RTL and that of the modules it instantiates."""
        return [rtl_source(f"{self.module}.sv"), *(rtl_source(u) for u in self.uses)]


def _mvau(name: str, mw: int, mh: int, simd: int, pe: int, bits: int, acc: int, mac: str, ram: str,
          nsteps: int = 15) -> Case:
    sf, nf = mw // simd, mh // pe
    p = {"MW": mw, "MH": mh, "SIMD": simd, "PE": pe, "IN_BITS": bits, "IN_SIGNED": 0, "W_BITS": bits,
         "W_SIGNED": 1, "BINARY_XNOR": 0, "ACC_BITS": acc, "NSTEPS": nsteps, "T_BITS": acc, "ACT_VAL": 0,
         "OUT_BITS": 4 if nsteps else acc, "WEIGHT_FILE": f"{name}_w.hex",
         "THRESH_FILE": f"{name}_t.hex" if nsteps else "", "MAC_IMPL": mac, "RAM_STYLE": ram}
    roms = {"WEIGHT_FILE": (nf * sf, pe * simd * bits)}
    if nsteps:
        roms["THRESH_FILE"] = (nf, pe * nsteps * acc)
    return Case(name, "mvau", p, roms, uses=tuple(u for u in MVAU_SOURCES if u != "mvau.sv"))


def _swg(simd: int, last: int, buf: int, per_window: int, loops, heads, tails, dw: int, ram: str) -> dict:
    """swg_window parameters (4-bit elements) in the order of ``swg_window_params``."""
    p = {"BIT_WIDTH": 4, "SIMD": simd, "LAST_READ_ELEM": last, "LAST_WRITE_ELEM": last, "BUF_ELEM_TOTAL": buf,
         "ELEM_PER_WINDOW": per_window}
    p.update(zip(("LOOP_H_ITERATIONS", "LOOP_W_ITERATIONS", "LOOP_KH_ITERATIONS", "LOOP_KW_ITERATIONS",
                  "LOOP_SIMD_ITERATIONS"), loops))
    p.update(zip(("HEAD_INCR_SIMD", "HEAD_INCR_KW", "HEAD_INCR_KH", "HEAD_INCR_W", "HEAD_INCR_H"), heads))
    p.update(zip(("TAIL_INCR_W", "TAIL_INCR_H", "TAIL_INCR_LAST"), tails))
    p.update({"IS_DEPTHWISE": dw, "INNERMOST_STATE": 1, "RAM_STYLE": ram})
    return p


#: representative cases: the layer shapes of the reference design (out/compile*, 2026-12-01)
CASES: tuple[Case, ...] = (
    _mvau("mvau_conv0_dsp", 9, 16, 3, 4, 8, 18, "dsp", "distributed"),      # MVAU_0: 8-bit stem, DSP MACs
    _mvau("mvau_simd48_lut", 288, 32, 48, 1, 4, 13, "lut", "block"),      # MVAU_4: LUT MACs, BRAM weights
    _mvau("mvau_simd48_dsp", 288, 32, 48, 1, 4, 14, "dsp", "block"),      # MVAU_6: DSP MACs, BRAM weights
    _mvau("mvau_fc_acc", 32, 10, 1, 1, 8, 19, "dsp", "distributed", nsteps=0),  # MVAU_9: classifier
    Case("pool_max", "pool", {"CHANNELS": 16, "PE": 2, "KERNEL": 4, "IN_BITS": 4, "OUT_BITS": 4}),
    Case("pool_global_avg", "pool", {"CHANNELS": 32, "PE": 1, "KERNEL": 16, "IN_BITS": 4, "OUT_BITS": 8,
                                     "FUNCTION": 1}),
    Case("temporal_shift", "temporal_shift", {"CHANNELS": 16, "SHIFT_CHANNELS": 2, "PE": 1, "PIXELS": 256,
                                              "DATA_BITS": 4, "RAM_STYLE": "distributed"}),
    Case("duplicate_streams", "duplicate_streams", {"DATA_WIDTH": 8, "USER_WIDTH": 1}),
    Case("add_streams", "add_streams", {"PE": 2, "IN_BITS": 4, "OUT_BITS": 5}),
    Case("axis_fifo_2k", "axis_fifo", {"DATA_WIDTH": 8, "USER_WIDTH": 1, "ADDR_WIDTH": 11}),
    Case("axis_dwc_1to3", "axis_dwc", {"LANE_BITS": 8, "IN_LANES": 1, "OUT_LANES": 3}),
    Case("axis_dwc_4to2", "axis_dwc", {"LANE_BITS": 4, "IN_LANES": 4, "OUT_LANES": 2}),
    Case("clip_flags", "clip_flags", {"IN_FRAME_BEATS": 1024, "OP_FRAME_BEATS": 256, "DEPTH_LOG2": 3}),
    # swg_window: ConvolutionInputGenerator_6 (dense, block RAM), _5 (depthwise, block RAM), _10
    # (dense, LUT RAM) of the reference design, parameters as swg_window_params gives them
    Case("swg_dense_bram", "swg_window", _swg(2, 1599, 368, 144, (6, 6, 1, 1, 13), (1, 1, 113, -351, -319),
                                              (16, 48, 367), 0, "block")),
    Case("swg_dw_bram", "swg_window", _swg(1, 8191, 960, 4, (6, 6, 30, 0, -1), (32, 480, -543, -511, 1),
                                           (33, 545, 575), 1, "block")),
    Case("swg_dense_lutram", "swg_window", _swg(1, 1151, 480, 288, (2, 2, 1, 1, 29), (1, 1, 97, -447, -383),
                                                (32, 96, 479), 0, "distributed")),
    Case("tsmfpga_ctrl", "tsmfpga_ctrl", {"IN_FRAME_BEATS": 1024, "OUT_FRAME_BEATS": 10}),
    Case("uart_frame_bridge", "uart_frame_bridge", {"CLKS_PER_BIT": 50, "IN_W": 8, "IN_BEATS": 1024,
                                                    "OUT_W": 19}),
)


def _write_roms(case: Case, work: Path) -> list[Path]:
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    files = []
    for param, (words, bits) in case.roms.items():
        digits = (bits + 3) // 4
        path = work / case.params[param]
        lines = []
        for _ in range(words):
            v = 0
            for _ in range(digits):
                v = (v << 4) | int(rng.integers(0, 16))
            lines.append(f"{v & ((1 << bits) - 1):0{digits}x}")
        path.write_text("\n".join(lines) + "\n")
        files.append(path)
    return files


def module_ports(case: Case, work: Path, roms: list[Path]) -> list[dict]:
    """Ports of ``case.module`` under its parameters (yosys front end only, through the wrapper
    with no ports, so string parameters apply): ``[{name, dir, width}]`` without ``clk``/``rst``."""
    work.mkdir(parents=True, exist_ok=True)
    top = f"ports_{case.module}"
    srcdir = work / "src"
    srcdir.mkdir(exist_ok=True)
    (work / f"{top}.sv").write_text(templates.render("tsmfpga.hw.ecp5", "timing_wrap.sv.j2", top=top,
                                                     module=case.module, params=list(case.params.items()),
                                                     ports=[]))
    names, _ = copy_sources([*case.sources(), work / f"{top}.sv"], srcdir)
    for rom in roms:
        (work / rom.name).write_bytes(rom.read_bytes())
    script = f"{read_slang_line(top, names, None, DEFINES, keep_hierarchy=True)}\nhierarchy -top {top}\n" \
             "write_json ports.json\n"
    (work / "ports.ys").write_text(script)
    proc = run_tool([*yowasp_tool(), "-q", "-s", "ports.ys"], work, work / "ports.log", "yosys ports", 600)
    out = work / "ports.json"
    if proc.returncode != 0 or not out.is_file():
        raise Ecp5FlowError(f"yosys could not elaborate {case.module}: {(proc.stdout + proc.stderr)[-1500:]}")
    mods = json.loads(out.read_text())["modules"]
    mod = next(m for n, m in mods.items() if n.lstrip("\\").split("$")[0] == case.module)
    return [{"name": n, "dir": p["direction"], "width": len(p["bits"])}
            for n, p in mod["ports"].items() if n not in ("clk", "rst")]


def case_fmax(case: Case, work: Path, target_mhz: float = TARGET_MHZ, seed: int = 1,
              timeout: float | None = None) -> dict:
    """Post-route fmax of one case (registered I/O, out of context). Returns a table row."""
    t0 = time.time()
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    roms = _write_roms(case, work)
    ports = module_ports(case, work / "ports", roms)
    top = f"timing_{case.module}"
    wrap = work / f"{top}.sv"
    wrap.write_text(templates.render("tsmfpga.hw.ecp5", "timing_wrap.sv.j2", top=top, module=case.module,
                                     params=list(case.params.items()), ports=ports))
    syn = synth(top, [*case.sources(), wrap], work / "synth", defines=DEFINES,
                data_files=roms, timeout=timeout)
    pnr = place_and_route(syn["netlist"], work / "pnr", DEVICE["device"], DEVICE["package"], DEVICE["speed"],
                          target_mhz, seed=seed, out_of_context=True, timeout=timeout)
    clocks = pnr["clocks"]
    fmax = min((c["achieved_mhz"] for c in clocks.values()), default=None)
    internal = [p for p in pnr["critical_paths"] if p["from_clock"] == p["to_clock"]]
    cp = internal[0] if internal else None
    u = pnr["utilization"]
    return {
        "case": case.name, "module": case.module,
        "params": {k: v for k, v in case.params.items() if k not in ("WEIGHT_FILE", "THRESH_FILE")},
        "fmax_mhz": fmax, "target_mhz": target_mhz, "met": fmax is not None and fmax >= target_mhz,
        "source": "nextpnr", "seed": seed,
        "critical_path": ({k: cp[k] for k in ("from", "to", "delay_ns", "logic_ns", "routing_ns", "logic_levels")}
                          if cp else None),
        "LUT4": u["LUT4"]["used"], "FF": u["FF"]["used"], "DP16KD": u["DP16KD"]["used"],
        "MULT18X18D": u["MULT18X18D"]["used"],
        "note": "module alone, every port registered (wrapper flip-flops included in FF), out of context",
        "seconds": round(time.time() - t0, 1),
    }


def timing_table(cases=CASES, work: Path = Path("out/timing"), target_mhz: float = TARGET_MHZ,
                 seed: int = 1, log=print) -> dict:
    """:func:`case_fmax` of every case; returns ``{"source", "target_mhz", "rows", "failed"}``."""
    rows = []
    for case in cases:
        log(f"[timing] {case.name} ({case.module}) ...")
        row = case_fmax(case, Path(work) / case.name, target_mhz, seed)
        log(f"[timing]   {row['fmax_mhz']} MHz ({'met' if row['met'] else 'BELOW'} {target_mhz:g}), "
            f"{row['LUT4']} LUT4, {row['seconds']:.0f} s")
        rows.append(row)
    return {"source": "nextpnr", "device": "LFE5U-85F-6BG381C", "target_mhz": target_mhz, "seed": seed,
            "rows": rows, "failed": [r["case"] for r in rows if not r["met"]]}
