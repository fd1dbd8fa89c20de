"""``python -m tsmfpga.quant`` = ``tsmfpga qat``, in the form ``torchrun`` launches once per process.

    torchrun --nproc-per-node 2 -m tsmfpga.quant --config tiny --out out/qat

(``tsmfpga qat --nproc 2`` runs exactly that.) Without torchrun it is the one-process stage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tsmfpga.core.errors import UserFacingError
from tsmfpga.quant import dist
from tsmfpga.quant.config import BUDGETS, load_config
from tsmfpga.quant.stage import StopRequested, run_qat, summary

def _stop_after(text: str) -> tuple[str, int]:
    phase, _, epoch = text.rpartition(":")
    if not phase or not epoch.isdigit() or int(epoch) < 1:
        raise argparse.ArgumentTypeError(f"--stop-after {text!r}: expected PHASE:EPOCH, e.g. tsm_float:1")
    return phase, int(epoch)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tsmfpga.quant",
                                description="QAT stage (one process, or one rank under torchrun)")
    p.add_argument("--config", default="reference", help="config name in quant/configs or a .yaml path")
    p.add_argument("--out", default="out/qat", help="output folder (default: out/qat)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoints in OUT/ckpt")
    p.add_argument("--seed", type=int, default=None, help="override the config's seed")
    p.add_argument("--budget", default="full", choices=list(BUDGETS),
                   help="training budget: full (the config's epochs) or demo (fewer epochs)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="override train.device")
    p.add_argument("--stop-after", type=_stop_after, default=None, metavar="PHASE:EPOCH",
                   help="stop (exit 0, no report.json) once PHASE (tsn_float, tsm_float, tsm_qat, alarm_tsm_float, "
                        "alarm_tsm_qat) has checkpointed EPOCH: an interruption drill for --resume")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config)
        cfg.budget = args.budget
        if args.seed is not None:
            cfg.seed = args.seed
        if args.device is not None:
            cfg.train.device = args.device
        ctx = dist.setup(cfg.train.device)
        try:
            report = run_qat(cfg, Path(args.out), resume=args.resume, stop_after=args.stop_after)
        finally:
            dist.teardown()
    except StopRequested as exc:
        if ctx.is_main:
            print(f"{exc}", file=sys.stderr)
        return 0
    except UserFacingError as exc:
        print(f"tsmfpga qat: error: {exc}", file=sys.stderr)
        return 2
    if report is not None:
        print(summary(report))
        print(f"report: {Path(args.out) / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
