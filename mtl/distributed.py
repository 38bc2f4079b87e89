"""Data-parallel training across processes with plain torch.distributed: what `train` needs to run unchanged under
`torchrun --nproc_per_node N` (or `accelerate launch`, which starts the same process group).

Every process builds the same task schedule and the same batches (both fixed by the seed), takes its share of each
batch (rows rank, rank + N, ...), and sums its loss over that share divided by the number of targets in the whole
batch; summing the gradients over processes then gives exactly the gradient of the batch mean that one process would
compute. Gradients are summed explicitly after backward, one all-reduce per parameter, rather than by wrapping the
model in DistributedDataParallel: a step trains one task, so most heads get no gradient, which DDP would treat as an
error unless told to search the graph every step, and the explicit loop keeps the arithmetic in view.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(this process's rank, number of processes): (0, 1) unless a process group is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def start_from_environment() -> None:
    """Join the process group that torchrun / accelerate launch describe in the environment (WORLD_SIZE, RANK, ...);
    gloo on CPU, nccl on CUDA, this process ending with its launcher (`die_with_launcher`). Does nothing for a single
    process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        die_with_launcher()
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def die_with_launcher() -> None:
    """Have Linux SIGKILL this process when the process that started it dies (prctl PR_SET_PDEATHSIG).

    torchrun starts each worker in a session of its own, so killing the launcher, or its process group, leaves the
    workers running as orphans: they go on training and rewriting last/ while a resumed run reads it, and the resumed
    processes can then read different checkpoints. With this, a worker lives no longer than its launcher. Not covered:
    a launcher that dies before this call (while the worker still imports torch; seconds on a busy machine) leaves
    the worker orphaned already, and its parent then reads the same before and after the call below, so it goes on;
    it does not join the process group, though, whose store lived in the launcher: it waits in init_process_group
    until the timeout, training nothing. (Checking for pid 1 instead would stop every worker of a torchrun that is
    itself pid 1, as in a container.) Elsewhere than Linux: nothing."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    PR_SET_PDEATHSIG = 1
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)


def device_for_this_process() -> torch.device:
    """cuda:<local rank> when CUDA is present, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def share(items: list, rank: int, n_procs: int) -> list:
    """This process's rows of a batch: rank, rank + n_procs, ..."""
    return items[rank::n_procs]


def sum_over_processes(values: torch.Tensor) -> torch.Tensor:
    """values summed over every process (a no-op for one process)."""
    if world()[1] > 1:
        dist.all_reduce(values)
    return values


def sum_gradients(params: list[torch.nn.Parameter]) -> None:
    """Sum the gradients of `params` over processes; a parameter without a gradient here (an empty share) counts as 0.
    Every process passes the same list, so the all-reduces pair up."""
    if world()[1] == 1:
        return
    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
        dist.all_reduce(param.grad)


def gather(obj) -> list:
    """obj from every process, in rank order ([obj] for one process)."""
    n_procs = world()[1]
    if n_procs == 1:
        return [obj]
    gathered = [None] * n_procs
    dist.all_gather_object(gathered, obj)
    return gathered


def from_first_process(obj):
    """Process 0's obj, in every process (obj itself for one process): what one process decides for all."""
    if world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()
