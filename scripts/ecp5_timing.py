"""Per-module post-route timing on ECP5: every RTL module of ours alone (representative
parameters, registered I/O, out of context) through synth_ecp5 + nextpnr-ecp5; writes the fmax
table as JSON (figures labelled nextpnr) and prints it. Exit 1 if a module is below the target.

    python scripts/ecp5_timing.py [--out out/timing/report.json] [--only CASE ...] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tsmfpga.core.records import write_json
from tsmfpga.hw.ecp5.timing import CASES, TARGET_MHZ, timing_table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/timing/report.json")
    ap.add_argument("--only", nargs="*", default=None, help=f"cases (default all): {', '.join(c.name for c in CASES)}")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target-mhz", type=float, default=TARGET_MHZ)
    args = ap.parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    if args.only and len(cases) != len(args.only):
        ap.error(f"unknown case in {args.only}")
    out = Path(args.out)
    table = timing_table(cases, out.parent, args.target_mhz, args.seed)
    write_json(out, table)
    print(f"{'case':<22} {'module':<18} {'fmax MHz':>9} {'LUT4':>6} {'FF':>6} {'DP16KD':>6} {'MULT':>5}  critical path")
    for r in table["rows"]:
        cp = r["critical_path"] or {}
        print(f"{r['case']:<22} {r['module']:<18} {r['fmax_mhz'] or 0:>9.1f} {r['LUT4']:>6} {r['FF']:>6} "
              f"{r['DP16KD']:>6} {r['MULT18X18D']:>5}  {cp.get('logic_levels')} levels, {cp.get('delay_ns')} ns "
              f"({cp.get('routing_ns')} routing) {cp.get('from')} -> {cp.get('to')}")
    print(f"target {table['target_mhz']:g} MHz (nextpnr, seed {table['seed']}); below: {table['failed'] or 'none'}")
    print(f"report: {out}")
    return 1 if table["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
