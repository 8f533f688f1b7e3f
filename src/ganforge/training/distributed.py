"""Training on several processes with PyTorch's own engine: torchrun + DistributedDataParallel.

``torchrun --nproc_per_node N -m ganforge train ...`` starts N copies; each finds RANK,
WORLD_SIZE and LOCAL_RANK in its environment. The batch size stays the global batch: every
rank draws the same global indices and latents from identically seeded generators and keeps
its own slice, so N processes take the same steps as one process with the whole batch (DDP
averages the gradients), and rank 0's checkpoint is the state of every rank.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.nn.functional import all_reduce
from torch.nn.parallel import DistributedDataParallel

from ..errors import GanforgeError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, x: Tensor) -> Tensor:
        """This rank's part of a global batch (first dimension)."""
        if not self.enabled:
            return x
        n = len(x) // self.size
        return x[self.rank * n:(self.rank + 1) * n]


SINGLE = World()


def env_world() -> World:
    """The world torchrun describes in the environment (one process when it is absent)."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise GanforgeError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (they are set by torchrun)") from None


def init(world: World, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on CPU); returns this rank's device."""
    if not world.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``module`` when there are several processes."""
    return ddp(module, device) if world.enabled else module


def ddp(module: nn.Module, device: torch.device) -> DistributedDataParallel:
    """``module`` in DistributedDataParallel as the trainer sets it up. Buffers are not broadcast before
    each forward pass: they stay equal on every rank without it (BatchNorm's statistics are synchronised,
    spectral norm's vectors follow the synchronised weights, augmentation's strength and running sums follow
    all-reduces), and the broadcast, an in-place write, would break the backward pass of cuDNN's BatchNorm,
    which keeps the running statistics, when D judges the real and the fake batch in two passes."""
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" \
        else None
    return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)


def unwrap(module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)


def mean_over_ranks(t: Tensor, world: World) -> Tensor:
    if world.enabled:
        t = t.clone()
        dist.all_reduce(t)
        t /= world.size
    return t


def gathered(t: Tensor, world: World) -> Tensor:
    """Every rank's ``t`` joined along the first dimension, in rank order (no gradient); ``t`` in one process."""
    if not world.enabled:
        return t
    parts = [torch.empty_like(t) for _ in range(world.size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def same_on_all_ranks(value, world: World):
    """Rank 0's ``value`` on every rank (a run folder named after the clock, say)."""
    if not world.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.enabled:
        dist.barrier()


def finish(world: World) -> None:
    """Leave the process group together: every rank waits for the others (rank 0 writes the final
    files after training), then the group is torn down while the interpreter is still whole. The
    caller drops its DistributedDataParallel wrappers first: their reducers hold the group, and a
    gloo group destroyed only at interpreter exit can abort the process."""
    if world.enabled and dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


class GlooSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose batch statistics span all ranks, for CPU process groups.

    torch.nn.SyncBatchNorm runs on CUDA only; this is the same computation on any device:
    per-channel sum, sum of squares and count are summed over ranks with a differentiable
    all-reduce, so the forward pass, the gradients and the running statistics are those of
    one process holding the global batch.
    """

    local = False  # statistics of this rank's batch only (a copy one rank runs alone: the moving average's)

    def forward(self, x: Tensor) -> Tensor:
        if self.local or not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        c = x.shape[1]
        count = x.new_full((1,), x.numel() // c)
        totals = all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        n = totals[-1]
        mean = totals[:c] / n
        var = totals[c:2 * c] / n - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")


def convert_sync_bn(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm in ``module`` made cross-rank: torch's SyncBatchNorm on CUDA, GlooSyncBatchNorm elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            new = GlooSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new.to(device))
        else:
            convert_sync_bn(child, device)
    return module
