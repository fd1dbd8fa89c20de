"""Seeded, resumable training loops for float and quantization-aware training.

Determinism: the batch order of epoch ``e`` of phase ``p`` depends only on ``(seed, p, e)``,
torch runs deterministic algorithms on a fixed number of threads, and every epoch ends with an
atomically written checkpoint (model, optimizer, schedule, history). ``resume=True`` continues
from the newest checkpoint of a phase and reaches the same weights as an uninterrupted run.

Recipe (README, "Stage 1: QAT"): before every validation the BatchNorm running statistics are
recomputed with the epoch's final weights (:func:`recalibrate_bn`; the exponential averages kept
during training lag the weights at lr 0.05 and made validation accuracy swing by 50 points), and
at the end of a phase the epoch with the best *validation* accuracy is restored
(:func:`select_epoch`; the test split never reaches this module).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from tsmfpga.quant import dist
from tsmfpga.quant.config import TrainConfig


def set_determinism(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    # cuBLAS needs a fixed workspace for deterministic results (ignored on CPU)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)


def _phase_seed(seed: int, phase: str, epoch: int) -> int:
    return (seed * 1_000_003 + zlib.crc32(phase.encode()) * 101 + epoch) % 2**63


def to_input(x_uint8: np.ndarray) -> torch.Tensor:
    """uint8 pixels -> float input of the model (pixel / 255; the input quantizer's code = pixel)."""
    return torch.from_numpy(x_uint8.astype(np.float32) / 255.0)


def iterate(x: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray | None = None):
    idx = np.arange(len(x)) if order is None else order
    for s in range(0, len(idx), batch_size):
        b = idx[s : s + batch_size]
        yield to_input(x[b]), torch.from_numpy(y[b].astype(np.int64))


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray, batch_size: int = 64, desc: str = "eval") -> np.ndarray:
    """Per-frame logits ``(N, T, K)`` in eval mode."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    dummy = np.zeros(len(x), np.int64)
    steps = math.ceil(len(x) / batch_size)
    for xb, _ in tqdm(iterate(x, dummy, batch_size), total=steps, desc=desc, leave=False, disable=None):
        out.append(model(xb.to(dev)).float().cpu().numpy())
    if not out:
        return np.zeros((0, x.shape[1], 0), np.float32)
    return np.concatenate(out)


def accuracy(frame_logits: np.ndarray, y: np.ndarray) -> float:
    return float((frame_logits.mean(1).argmax(1) == y).mean())


@torch.no_grad()
def calibrate(model: torch.nn.Module, x: np.ndarray, batch_size: int, batches: int) -> None:
    """Initialise activation quantizer scales from statistics (Brevitas calibration mode)."""
    from brevitas.graph.calibrate import calibration_mode

    model.eval()
    dummy = np.zeros(len(x), np.int64)
    with calibration_mode(model):
        for i, (xb, _) in enumerate(iterate(x, dummy, batch_size)):
            if i >= batches:
                break
            model(xb)


def _checkpoint_path(ckpt_dir: Path, phase: str, epoch: int) -> Path:
    return ckpt_dir / f"{phase}_e{epoch:03d}.pt"


def latest_checkpoint(ckpt_dir: Path, phase: str) -> tuple[int, Path] | None:
    found = sorted(ckpt_dir.glob(f"{phase}_e[0-9][0-9][0-9].pt"))
    return (int(found[-1].stem[-3:]), found[-1]) if found else None


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _val_accuracy(model: torch.nn.Module, val: tuple[np.ndarray, np.ndarray], desc: str) -> float:
    """Validation top-1; distributed, each rank predicts a contiguous shard and the counts are summed."""
    ctx = dist.current()
    if not ctx.active:
        return accuracy(predict(model, val[0], desc=desc), val[1])
    idx = dist.shard(np.arange(len(val[0])))
    logits = predict(model, val[0][idx], desc=desc)
    correct = int((logits.mean(1).argmax(1) == val[1][idx]).sum()) if len(idx) else 0
    total_correct, total = dist.all_reduce_sum([correct, len(idx)])
    return float(total_correct / total)


def _batchnorms(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_bn(model: torch.nn.Module, x: np.ndarray, batch_size: int, batches: int, seed: int) -> int:
    """Recompute BatchNorm running statistics with the current weights: the plain average of the
    batch statistics of ``batches`` seeded training batches (``batch_size`` clips each, drawn
    without replacement; the same per-batch statistics as training). Only BatchNorm runs in train
    mode; everything else (Brevitas quantizers, whose statistics must not move) stays in eval mode.

    Distributed: each rank runs every ``world``-th of these whole batches and the averages are
    combined weighted by batch count, so every rank ends with the same buffers. Returns the number
    of batches averaged (0 = nothing done: no BatchNorm or ``batches`` < 1)."""
    bns = _batchnorms(model)
    n = min(batches, math.ceil(len(x) / batch_size))
    if not bns or n < 1:
        return 0
    order = np.random.default_rng(seed).permutation(len(x))[: n * batch_size]
    chunks = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    ctx = dist.current()
    # SyncBatchNorm (CUDA) gathers statistics over the ranks in train mode: every rank then runs
    # every batch (the same inputs, so the same statistics); plain BatchNorm shards the batches
    shard = ctx.active and not any(isinstance(bn, torch.nn.SyncBatchNorm) for bn in bns)
    mine = chunks[ctx.rank :: ctx.world] if shard else chunks
    was_training, momenta = model.training, [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
        bn.train()
    dev = next(model.parameters()).device
    dummy = np.zeros(len(x), np.int64)
    try:
        for idx in mine:
            xb, _ = next(iterate(x, dummy, len(idx), idx))
            model(xb.to(dev))
    finally:
        for bn, m in zip(bns, momenta):
            bn.momentum = m
        model.train(was_training)
    if shard:
        import torch.distributed as td

        for bn in bns:
            for buf in (bn.running_mean, bn.running_var):
                buf.mul_(len(mine) / len(chunks))
                td.all_reduce(buf)
            bn.num_batches_tracked.fill_(len(chunks))
    return len(chunks)


def select_epoch(history: list[dict]) -> int:
    """The epoch to keep: highest ``val_acc`` (validation split only), the later one on ties."""
    best = max(history, key=lambda row: (row["val_acc"], row["epoch"]))
    return int(best["epoch"])


def _use_amp(tcfg: TrainConfig, model: torch.nn.Module, device: str) -> bool:
    """bfloat16 autocast: float phases on CUDA only (QAT stays float32, see README)."""
    return (bool(getattr(tcfg, "amp", False)) and device.startswith("cuda") and not getattr(model, "quantized", False)
            and torch.cuda.is_bf16_supported())


def train_phase(
    phase: str,
    model: torch.nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    epochs: int,
    lr: float,
    tcfg: TrainConfig,
    seed: int,
    ckpt_dir: Path,
    resume: bool = False,
    log: Callable[[str], None] = print,
    stop_after_epoch: int | None = None,
) -> list[dict]:
    """Train ``model`` in place for ``epochs``; returns the per-epoch history.

    After each epoch the BatchNorm statistics are recomputed (``tcfg.bn_recal_batches``) before
    validation and the checkpoint. Once the last epoch is done, with ``tcfg.select_best_val`` the
    weights of the best-validation epoch are loaded back from its checkpoint; every history row
    then carries ``selected`` (True for the epoch the model now holds).

    Under torchrun (see quant/dist.py) every rank calls this with the same arguments: the
    global batch order is the one-process order, each rank trains on its shard of every global
    batch through DistributedDataParallel, and rank 0 writes the checkpoints (of the unwrapped
    module). A checkpoint written at N processes resumes at M. The model is returned on the CPU.
    ``stop_after_epoch`` simulates an interruption (tests): return after that epoch's checkpoint.
    """
    ctx = dist.current()
    if ctx.is_main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    xtr, ytr = train
    steps_per_epoch = math.ceil(len(xtr) / tcfg.batch_size)
    total = max(1, epochs * steps_per_epoch)
    warmup = max(1, total // 20)
    history: list[dict] = []
    start = 1
    found = latest_checkpoint(ckpt_dir, phase) if resume else None
    state = torch.load(found[1], weights_only=False, map_location="cpu") if found is not None else None
    if state is not None:
        # before building the optimizer: Brevitas may re-create quantizer scale Parameters on load
        model.load_state_dict(state["model"])
    device = ctx.device
    model.to(device)
    dist.convert_batchnorm(model)
    net = dist.wrap(model)
    params_decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    params_other = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": params_decay, "weight_decay": tcfg.weight_decay}, {"params": params_other, "weight_decay": 0}],
        lr=lr, momentum=0.9, nesterov=True,
    )

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    if state is not None:
        epoch, path = found
        opt.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["torch_rng"])
        history = state["history"]
        start = epoch + 1
        log(f"[{phase}] resumed from {path.name} (epoch {epoch}/{epochs})")
    elif not resume and ctx.is_main:
        for stale in ckpt_dir.glob(f"{phase}_e*.pt"):
            stale.unlink()
    amp = _use_amp(tcfg, model, device)

    for epoch in range(start, epochs + 1):
        net.train()
        order = np.random.default_rng(_phase_seed(seed, phase, epoch)).permutation(len(xtr))
        seen = correct = 0
        loss_sum = 0.0
        bar = tqdm(range(0, len(order), tcfg.batch_size), total=steps_per_epoch,
                   desc=f"{phase} {epoch}/{epochs}", leave=False, disable=None if ctx.is_main else True)
        for s in bar:
            batch = order[s : s + tcfg.batch_size]
            local = dist.shard(batch) if ctx.active else batch
            weight = 1.0
            if len(local) == 0:  # fewer clips than ranks in the last batch: take part with weight 0
                local, weight = batch[:1], 0.0
            xb, yb = next(iterate(xtr, ytr, len(local), local))
            xb, yb = xb.to(device), yb.to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext():
                logits = net(xb).mean(1)  # clip consensus over T
            logits = logits.float()
            if ctx.active:
                # DDP averages gradients over the ranks: scale each shard's sum so that the result
                # is the mean over the global batch, whatever the shard sizes
                loss_local = F.cross_entropy(logits, yb, reduction="sum")
                loss = loss_local * (weight * ctx.world / len(batch))
                item_loss = loss_local.item() * weight
            else:
                loss = F.cross_entropy(logits, yb)
                item_loss = loss.item() * len(yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            n_local = int(len(yb) * weight)
            seen += n_local
            loss_sum += item_loss
            correct += int((logits.argmax(1) == yb).sum()) if weight else 0
            bar.set_postfix(loss=f"{loss_sum / max(1, seen):.3f}", acc=f"{correct / max(1, seen):.3f}")
        if ctx.active:
            loss_sum, correct, seen = dist.all_reduce_sum([loss_sum, correct, seen])
            dist.sync_buffers(model)  # BatchNorm running statistics: the same on every rank
        recalibrate_bn(model, xtr, tcfg.batch_size, tcfg.bn_recal_batches,
                       _phase_seed(seed, phase + "/bn", epoch))
        val_acc = _val_accuracy(model, val, f"{phase} val")
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen, "val_acc": val_acc}
        history.append(row)
        log(f"[{phase}] epoch {epoch}/{epochs}  loss {row['train_loss']:.4f}  "
            f"train acc {row['train_acc']:.4f}  val acc {val_acc:.4f}")
        if ctx.is_main:
            save_atomic(
                {"phase": phase, "epoch": epoch, "model": model.state_dict(), "optim": opt.state_dict(),
                 "sched": sched.state_dict(), "torch_rng": torch.get_rng_state(), "history": history,
                 "world_size": ctx.world},
                _checkpoint_path(ckpt_dir, phase, epoch),
            )
        dist.barrier()
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    history = [dict(row) for row in history]
    if history and history[-1]["epoch"] == epochs:  # the phase is complete: model selection
        chosen = select_epoch(history) if tcfg.select_best_val else epochs
        if chosen != epochs:
            dist.barrier()
            best = torch.load(_checkpoint_path(ckpt_dir, phase, chosen), weights_only=False, map_location="cpu")
            model.load_state_dict(best["model"])
            val = next(row["val_acc"] for row in history if row["epoch"] == chosen)
            log(f"[{phase}] kept epoch {chosen} of {epochs} (best validation accuracy {val:.4f})")
        for row in history:
            row["selected"] = row["epoch"] == chosen
    dist.unconvert_batchnorm(model)
    model.to("cpu")
    return history
