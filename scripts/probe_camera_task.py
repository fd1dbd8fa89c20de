"""How hard is the camera task (quant/data/camera.py)? A quick CPU probe, not part of the tests.

Trains tiny float per-frame 2D CNNs on the same clips and budget:

* ``tsn``:  frame-averaging (per-frame logits averaged over the clip): sees no order;
* ``tsm``:  the same CNN with an online temporal shift (1/4 of the channels from frame t-1)
  after each of its first layers: what the product's TSM does;
* ``diff``: the same CNN fed (frame_t, frame_t - frame_{t-1}): explicit motion;

and reports test top-1, the within-pair direction accuracy (given the pair is right) and, for
the alarm task, recall / precision at the F2 threshold chosen on validation clips. With
``--time-gen N`` it first times the generation of N clips at the configured size.

    .venv/bin/python scripts/probe_camera_task.py --task camera --train 3000 --epochs 12
    .venv/bin/python scripts/probe_camera_task.py --time-gen 4000
Writes ``out/probe_camera/report_<task>.json`` and a montage PNG.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tsmfpga.quant.data import camera, synthetic
from tsmfpga.quant.metrics import binary_alarm_report


class TinyNet(nn.Module):
    """conv(s2)-BN-ReLU x 3 (+ a stride-1 conv), global average pool, FC; per-frame logits."""

    def __init__(self, cin: int, classes: int, shift: bool, width: int = 24):
        super().__init__()
        w = [width, 2 * width, 4 * width, 4 * width]
        strides = [2, 2, 2, 1]
        layers, c = [], cin
        for co, s in zip(w, strides):
            layers.append(nn.Sequential(nn.Conv2d(c, co, 3, s, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU()))
            c = co
        self.layers = nn.ModuleList(layers)
        self.fc = nn.Linear(c, classes)
        self.shift = shift

    @staticmethod
    def online_shift(x: torch.Tensor, T: int, div: int = 4) -> torch.Tensor:
        nt, c, h, w = x.shape
        x = x.view(nt // T, T, c, h, w)
        k = c // div
        out = torch.cat([torch.cat([torch.zeros_like(x[:, :1, :k]), x[:, :-1, :k]], 1), x[:, :, k:]], 2)
        return out.view(nt, c, h, w)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:  # (N, T, C, H, W) -> (N, T, classes)
        n, T = clips.shape[:2]
        x = clips.flatten(0, 1)
        for i, layer in enumerate(self.layers):
            if self.shift and i > 0:
                x = self.online_shift(x, T)
            x = layer(x)
        return self.fc(x.mean((2, 3))).view(n, T, -1)


def prepare(x: np.ndarray, size: int, mode: str) -> torch.Tensor:
    """uint8 (N, T, 3, S, S) -> float (N, T, C, size, size) in 0..1; diff mode appends frame deltas."""
    t = torch.from_numpy(x).float().div_(255.0)
    n, T, c, s, _ = t.shape
    if size != s:
        t = F.adaptive_avg_pool2d(t.flatten(0, 1), size).view(n, T, c, size, size)
    if mode == "diff":
        d = torch.cat([torch.zeros_like(t[:, :1]), t[:, 1:] - t[:, :-1]], 1)
        t = torch.cat([t, d], 2)
    return t


def train_eval(mode: str, data: dict, classes: int, epochs: int, seed: int, batch: int, lr: float, log) -> dict:
    torch.manual_seed(seed)
    xtr, ytr = data["train"]
    net = TinyNet(xtr.shape[2], classes, shift=mode == "tsm")
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(ytr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.15)
    weight = None
    if classes == 2:  # imbalanced alarm: balance the loss
        pos = float(ytr.float().mean())
        weight = torch.tensor([0.5 / (1 - pos), 0.5 / pos])
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(ytr), generator=g)
        tot = 0.0
        for i in range(0, len(ytr), batch):
            idx = perm[i : i + batch]
            xb = xtr[idx]
            loss = F.cross_entropy(net(xb).mean(1), ytr[idx], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
        log(f"  [{mode}] epoch {ep + 1}/{epochs} loss {tot / len(ytr):.3f} ({time.time() - t0:.0f} s)")
    net.eval()
    out = {}
    with torch.no_grad():
        for split in ("val", "test"):
            x, _ = data[split]
            out[split] = torch.cat([net(x[i : i + 64]).mean(1) for i in range(0, len(x), 64)]).numpy()
    return {"logits": out, "seconds": round(time.time() - t0, 1)}


def summarise(task: str, res: dict, data: dict, pairs) -> dict:
    yv, yt = data["val"][1].numpy(), data["test"][1].numpy()
    if task in ("camera", "motion"):
        pred = res["logits"]["test"].argmax(1)
        pair_of = {c: k for k, p in enumerate(pairs) for c in p}
        same_pair = np.array([pair_of[int(a)] == pair_of[int(b)] for a, b in zip(pred, yt)])
        return {"top1": float((pred == yt).mean()), "pair_top1": float(same_pair.mean()),
                "direction_acc_given_pair": float((pred == yt)[same_pair].mean()) if same_pair.any() else None,
                "train_seconds": res["seconds"]}
    sc = {s: torch.softmax(torch.from_numpy(res["logits"][s]), 1)[:, 1].numpy() for s in ("val", "test")}
    rep = binary_alarm_report(sc["test"], yt, beta=2.0, val_scores=sc["val"], val_labels=yv)
    keep = ("threshold", "precision", "recall", "fbeta", "roc_auc", "average_precision")
    return {**{k: rep[k] for k in keep if k in rep}, "train_seconds": res["seconds"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=("camera", "alarm", "motion"), default="camera",
                    help="motion = the 32x32 digit task, for calibrating the probe")
    ap.add_argument("--train", type=int, default=3000, help="training clips")
    ap.add_argument("--val", type=int, default=500)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--size", type=int, default=96, help="generated frame size")
    ap.add_argument("--input", type=int, default=48, help="probe input size (average-pooled)")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--models", default="tsn,tsm,diff")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--time-gen", type=int, default=0, help="time generating this many clips first")
    ap.add_argument("--override", default="{}", help="JSON overrides of the generator config")
    ap.add_argument("--out", default="out/probe_camera")
    ap.add_argument("--data-dir", default=None, help="clip cache folder (default OUT/data)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = print
    over = json.loads(args.override)
    report: dict = {"task": args.task, "args": vars(args)}
    if args.time_gen:
        cfg = camera.CameraConfig(T=args.frames, size=args.size)
        w0, c0 = time.time(), time.process_time()
        cs = camera.make_camera_clips(args.time_gen, "train", 12345, cfg)
        report["generation"] = {"clips": args.time_gen, "shape": list(cs.x.shape[1:]),
                                "wall_s": round(time.time() - w0, 1), "cpu_s": round(time.process_time() - c0, 1)}
        log(f"generation: {report['generation']}")
        del cs
    if args.task == "camera":
        cfg = camera.CameraConfig(**{"T": args.frames, "size": args.size, **over})
        kind, classes, pairs = "camera", len(camera.CAMERA_CLASSES), camera.CAMERA_PAIRS
    elif args.task == "motion":
        cfg = synthetic.MotionConfig(**{"T": args.frames, "size": args.size, **over})
        kind, classes, pairs = "motion", len(synthetic.MOTION_CLASSES), synthetic.MOTION_PAIRS
    else:
        cfg = camera.CameraAlarmConfig(**{"T": args.frames, "size": args.size, **over})
        kind, classes, pairs = "camera_alarm", 2, ()
    t0 = time.time()
    data_dir = Path(args.data_dir) if args.data_dir else out / "data"
    sets = {s: synthetic.load_or_make(kind, n, s, args.seed, cfg, data_dir)
            for s, n in (("train", args.train), ("val", args.val), ("test", args.test))}
    report["data_seconds"] = round(time.time() - t0, 1)
    log(f"data: {report['data_seconds']} s (cached in {data_dir})")
    synthetic.save_montage(sets["train"], out / f"montage_{args.task}.png", per_class=4 if kind == "camera_alarm" else 2,
                           scenario_names=camera.CAMERA_ALARM_SCENARIOS)
    results = {}
    for mode in [m for m in args.models.split(",") if m]:
        data = {s: (prepare(cs.x, args.input, mode), torch.from_numpy(cs.y)) for s, cs in sets.items()}
        res = train_eval(mode, data, classes, args.epochs, args.seed, args.batch, args.lr, log)
        results[mode] = summarise(args.task, res, data, pairs)
        log(f"{mode}: {results[mode]}")
    report["results"] = results
    (out / f"report_{args.task}.json").write_text(json.dumps(report, indent=2) + "\n")
    log(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
