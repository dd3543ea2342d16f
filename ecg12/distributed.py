"""Several processes training one model (``torchrun --nproc_per_node N train_model.py DATA MODEL``).

torchrun starts N copies of the training script and tells each its place through the environment
(RANK, WORLD_SIZE, LOCAL_RANK). Each process (rank) trains the same network on its share of every
global batch (ecg12.batches.ShardedBatches), and DistributedDataParallel averages the gradients, so
a step sees the same global batch as one process would. Rank 0 alone validates and writes
(checkpoints, metrics, the model folder, logs); it sends the run's state to the others after every
epoch, so that all stop together. A plain ``python train_model.py`` is a world of one, and none of this applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Rank:
    """This process's place among the processes of one training run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0  # which GPU of this machine

    @property
    def is_main(self) -> bool:
        """The process that validates and writes (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


SINGLE_PROCESS = Rank()


def current_rank() -> Rank:
    """This process's rank as torchrun sets it in the environment; a world of one without torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE_PROCESS
    return Rank(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def device_of_rank(device: torch.device, rank: Rank) -> torch.device:
    """Each rank on its own GPU of the machine (cuda:LOCAL_RANK); on the CPU, all ranks share it."""
    if rank.distributed and device.type == "cuda" and device.index is None:
        return torch.device("cuda", rank.local_rank)
    return device


@contextmanager
def process_group(rank: Rank, device: torch.device) -> Iterator[None]:
    """The process group of a run of several processes (NCCL between GPUs, gloo on the CPU), for the block."""
    if not rank.distributed or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank.rank, world_size=rank.world)
    try:
        yield
    finally:
        dist.destroy_process_group()


def share(value: object, rank: Rank) -> object:
    """Rank 0's ``value`` on every rank (the others' arguments are ignored)."""
    if not rank.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def mean_over_ranks(value: torch.Tensor, rank: Rank) -> torch.Tensor:
    """The mean of ``value`` over all ranks (a training loss, say), on every rank."""
    if not rank.distributed:
        return value
    total = value.clone()
    dist.all_reduce(total)
    return total / rank.world


def sum_over_ranks(values: torch.Tensor, rank: Rank) -> torch.Tensor:
    """The sum of ``values`` over all ranks, on every rank, differentiable: the gradient of a loss computed from the
    global sum reaches every rank's share, so that with DistributedDataParallel's averaging of the gradients a
    batch-level loss (the soft Challenge metric) trains as one process on the global batch would."""
    if not rank.distributed:
        return values
    from torch.distributed.nn.functional import all_reduce  # the autograd-aware collective

    return all_reduce(values)


def wait_for_all(rank: Rank) -> None:
    """Block until every rank has come here (while rank 0 validates and writes, say)."""
    if rank.distributed:
        dist.barrier()
