"""Process-group plumbing for data-parallel training (``torchrun`` / DistributedDataParallel).

One process is the default and needs nothing: :func:`current` returns a single-process context
and every helper is then a no-op, so the one-CPU path runs exactly the code it always ran.
Launched by ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set), :func:`setup` joins the
process group: ``gloo`` on CPU, ``nccl`` when every rank has a CUDA device.

Conventions used by the training loop (quant/train.py):

* the global batch size of the config is kept: a global batch (the same indices, in the same
  order, as in a one-process run) is cut into ``world`` contiguous shards, one per rank;
* rank 0 alone writes checkpoints, reports, plots and the export; the others wait at barriers;
* BatchNorm: on CUDA the BatchNorm layers become ``SyncBatchNorm`` (batch statistics over the
  global batch). On CPU (gloo) torch has no SyncBatchNorm, so each rank normalises with its own
  shard's statistics during training and the running statistics (every floating buffer) are
  averaged over the ranks at the end of every epoch, before validation, checkpoint and export.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    backend: str | None = None  # None: not initialised (one process)
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.backend is not None and self.world > 1


_CURRENT = DistContext()


def current() -> DistContext:
    return _CURRENT


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def pick_device(requested: str, local_rank: int) -> str:
    """``auto`` = ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``."""
    if requested == "cpu":
        return "cpu"
    if requested in ("auto", "cuda"):
        if torch.cuda.is_available():
            return f"cuda:{local_rank % max(1, torch.cuda.device_count())}"
        if requested == "cuda":
            raise RuntimeError("train.device = 'cuda' but torch sees no CUDA device")
        return "cpu"
    raise ValueError(f"device {requested!r}: use auto, cpu or cuda")


def setup(device: str = "auto", timeout_s: float = 1800.0) -> DistContext:
    """Join the torchrun process group (if launched by torchrun) and pick this rank's device."""
    global _CURRENT
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        _CURRENT = DistContext(device=pick_device(device, 0))
        return _CURRENT
    import torch.distributed as td

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    dev = pick_device(device, local_rank)
    backend = "nccl" if dev.startswith("cuda") else "gloo"
    if dev.startswith("cuda"):
        torch.cuda.set_device(torch.device(dev))
    if not td.is_initialized():
        td.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    _CURRENT = DistContext(rank, world, local_rank, local_world, backend, dev)
    return _CURRENT


def teardown() -> None:
    global _CURRENT
    if _CURRENT.active:
        import torch.distributed as td

        if td.is_initialized():
            td.destroy_process_group()
    _CURRENT = DistContext(device=_CURRENT.device)


def barrier() -> None:
    if _CURRENT.active:
        import torch.distributed as td

        if _CURRENT.backend == "nccl":
            td.barrier(device_ids=[torch.cuda.current_device()])
        else:
            td.barrier()


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum of ``values`` over the ranks (float64; identity in one process)."""
    if not _CURRENT.active:
        return list(values)
    import torch.distributed as td

    t = torch.tensor(values, dtype=torch.float64, device=_CURRENT.device)
    td.all_reduce(t)
    return t.cpu().tolist()


def shard(batch: np.ndarray, rank: int | None = None, world: int | None = None) -> np.ndarray:
    """This rank's contiguous share of a global batch of indices (sizes differ by at most one)."""
    rank = _CURRENT.rank if rank is None else rank
    world = _CURRENT.world if world is None else world
    return np.array_split(batch, world)[rank]


@torch.no_grad()
def sync_buffers(model: torch.nn.Module) -> None:
    """Make every rank hold the same buffers: floating buffers (BatchNorm running statistics, any
    statistics a quantizer keeps) are averaged, the others (counters) are taken from rank 0."""
    if not _CURRENT.active:
        return
    import torch.distributed as td

    for buf in model.buffers():
        if buf.is_floating_point():
            td.all_reduce(buf)
            buf.div_(_CURRENT.world)
        else:
            td.broadcast(buf, 0)


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """DistributedDataParallel around ``model`` (already on this rank's device) when running
    distributed; the model itself otherwise. Checkpoints always store the unwrapped module."""
    if not _CURRENT.active:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = _CURRENT.device
    ids = [torch.device(dev).index] if dev.startswith("cuda") else None
    # buffers are synchronised per epoch by sync_buffers (broadcasting rank 0's every step would
    # throw the other ranks' running statistics away)
    try:  # newer torch: forward_sync_buffers=False (parameters and buffers still synced at init)
        return DDP(model, device_ids=ids, forward_sync_buffers=False)
    except TypeError:
        return DDP(model, device_ids=ids, broadcast_buffers=False)


def convert_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """SyncBatchNorm on CUDA (state-dict keys unchanged); CPU keeps BatchNorm (see module doc)."""
    if _CURRENT.active and _CURRENT.device.startswith("cuda"):
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def unconvert_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """SyncBatchNorm back to BatchNorm2d (export and CPU evaluation need plain BatchNorm)."""
    out = module
    if isinstance(module, torch.nn.SyncBatchNorm):
        out = torch.nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                   module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, unconvert_batchnorm(child))
    return out
