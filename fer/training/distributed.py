"""Training on several processes with PyTorch's own engine: `torchrun ... -m fer.train ...`.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR for each process it starts; without them (plain
`python -m fer.train`) this is one process and nothing here does anything. Backend: `gloo` on CPUs, `nccl`
on GPUs (one GPU per process, by LOCAL_RANK).

What each process does, and why:
- --batch-size is the *global* batch: each of N processes takes batch/N images per step, so the number of
  steps per epoch and the learning-rate schedule (per global step) are those of a single process.
- A DistributedSampler (shuffled with the run's seed, set_epoch each epoch) gives each process its share.
- DistributedDataParallel averages the gradients across processes after each backward pass.
- Only rank 0 validates, writes checkpoints, history, config and the log; the others wait at a barrier.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that validates and writes."""
        return self.rank == 0


ALONE = Dist()  # one process: plain `python -m fer.train`


def launched() -> bool:
    """True when this process was started by torchrun with more than one process in the job."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group when launched by torchrun; returns (who this process is, its device)."""
    if not launched():
        return ALONE, device
    d = Dist(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=d.rank, world_size=d.world)
    return d, device


def wrap(model: torch.nn.Module, d: Dist, device: torch.device) -> torch.nn.Module:
    """The model as the training step sees it: DistributedDataParallel on several processes."""
    if d.world == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                     else None)


def shard(n: int, d: Dist, seed: int, epoch: int) -> torch.Tensor:
    """This process's shuffled share of n training images for this epoch (DistributedSampler, set_epoch)."""
    sampler = torch.utils.data.DistributedSampler(range(n), num_replicas=d.world, rank=d.rank, shuffle=True,
                                                  seed=seed)
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler))


def total(values: list[float], d: Dist, device: torch.device) -> list[float]:
    """Sums across processes (e.g. loss, correct and seen counts for the epoch's log line)."""
    if d.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def finish(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
