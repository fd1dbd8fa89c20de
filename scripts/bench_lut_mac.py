"""`make bench-lut-mac`: what one LUT MAC costs (issue #14, item 2), yosys synth_xilinx.

For each operand pair (bits, signedness): hw/rtl/lut_mult.sv alone (our LUT multiplier: LUT-6
digit tables and adders) against finn-plus' LUT-multiplier model, (2*ceil((W+A)/6)-1)*(W+A) LUTs
per MAC (``MVAU_hls.lut_estimation``, resType "lut"). Writes ``out/bench/lut_mac.json`` and prints a
table. Each figure is labelled: yosys (synthesized here) or analytical (finn-plus' formula).

    .venv/bin/python scripts/bench_lut_mac.py [--out out/bench/lut_mac.json]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from tsmfpga.core.records import write_json
from tsmfpga.core.rtl import rtl_source
from tsmfpga.hw.synth import synth_xilinx_line, yosys_estimate

ROOT = Path(__file__).resolve().parents[1]

#: (activation bits, activation signed, weight bits, weight signed): BNN-PYNQ's W2A2 (signed), a
#: ReLU TSM's 2..4-bit layers (unsigned activations, signed weights), 8-bit first layers
CASES = [(2, True, 2, True), (2, False, 2, True), (3, False, 3, True), (4, False, 4, True),
         (4, True, 4, True), (8, False, 4, True), (8, False, 8, True)]


def finn_lut_mult(a_bits: int, w_bits: int) -> int:
    """finn-plus' LUT-multiplier model per MAC (MVAU_hls.lut_estimation, resType "lut")."""
    return (2 * math.ceil((w_bits + a_bits) / 6) - 1) * (w_bits + a_bits)


def measure(a_bits: int, a_signed: bool, w_bits: int, w_signed: bool, work: Path) -> dict:
    """yosys cells of lut_mult as the MVAU instantiates it (the wider operand cut into digits)."""
    if w_bits > a_bits:
        params = dict(A_BITS=w_bits, A_SIGNED=int(w_signed), B_BITS=a_bits, B_SIGNED=int(a_signed))
    else:
        params = dict(A_BITS=a_bits, A_SIGNED=int(a_signed), B_BITS=w_bits, B_SIGNED=int(w_signed))
    params["P_BITS"] = a_bits + w_bits + (0 if (a_signed or w_signed) else 1)
    r = yosys_estimate("lut_mult", [rtl_source("lut_mult.sv")], work, parameters=params)
    t = r["total"]
    return {"LUT": t.get("LUT"), "CARRY4": t.get("CARRY4"), "MUXF": t.get("MUXF"), "params": params}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "out" / "bench" / "lut_mac.json"))
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (ab, asg, wb, wsg) in enumerate(CASES):
            got = measure(ab, asg, wb, wsg, Path(tmp) / str(i))
            rows.append({"activation": f"{'INT' if asg else 'UINT'}{ab}", "weight": f"{'INT' if wsg else 'UINT'}{wb}",
                         "ours_LUT": got["LUT"], "ours_CARRY4": got["CARRY4"], "ours_source": "yosys",
                         "finn_LUT": finn_lut_mult(ab, wb), "finn_source": "analytical (finn-plus model)",
                         "lut_mult_params": got["params"]})
    report = {"stage": "bench-lut-mac", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "synthesis": synth_xilinx_line("lut_mult", "xc7"), "rows": rows}
    write_json(Path(args.out), report)
    print(f"{'activation':>10} {'weight':>6} | {'ours LUT (yosys)':>16} {'CARRY4':>6} | {'finn-plus model':>15}")
    for r in rows:
        print(f"{r['activation']:>10} {r['weight']:>6} | {r['ours_LUT']:>16} {r['ours_CARRY4']:>6} | {r['finn_LUT']:>15}")
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
