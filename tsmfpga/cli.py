"""The ``tsmfpga`` command. Subcommands arrive with the stages that implement them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tsmfpga.errors import UserFacingError


def _doctor(args: argparse.Namespace) -> int:
    from tsmfpga import doctor

    return doctor.main()


def _qat(args: argparse.Namespace) -> int:
    from tsmfpga.quant.config import load_config
    from tsmfpga.quant.stage import run_qat, summary

    cfg = load_config(args.config)
    if args.seed is not None:
        cfg.seed = args.seed
    report = run_qat(cfg, Path(args.out), resume=args.resume)
    print(summary(report))
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsmfpga",
        description="Low-bit TSM video networks to verified FPGA RTL.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("doctor", help="list every tool with its version, or why it is missing")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("qat", help="train TSN / float TSM / quantized TSM and export the QONNX step graph")
    p.add_argument("--config", default="reference",
                   help="config name in quant/configs (tiny, reference) or a .yaml path (default: reference)")
    p.add_argument("--out", default="out/qat", help="output folder (default: out/qat)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoints in OUT/ckpt after an interruption")
    p.add_argument("--seed", type=int, default=None, help="override the config's seed")
    p.set_defaults(func=_qat)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserFacingError as exc:
        print(f"tsmfpga {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
