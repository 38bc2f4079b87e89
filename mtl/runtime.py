"""What every long job shares: a progress bar that report rendering can silence, the machine a figure was measured on
(a speed figure means little without the CPU and its instruction sets), and a test hook that kills the process at a
chosen point of a checkpoint save or resume."""

from __future__ import annotations

import os
import platform
import signal
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm


def progress(iterable, desc: str, show: bool = True, **kwargs):
    """A tqdm progress bar, unless it is not wanted here or TQDM_DISABLE is set (as when rendering reports)."""
    return tqdm(iterable, desc=desc, disable=not show or bool(os.environ.get("TQDM_DISABLE")), **kwargs)


def machine() -> dict:
    """The CPU the figures were measured on, with the instruction sets that decide int8 and bf16 speed."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "flags": [f for f in wanted if f in flags],
    }


def kill_point(name: str) -> None:
    """A point where a kill must lose nothing already saved: every file a checkpoint save writes, every rename, and
    each stage of a resume call this with a name such as "last: moved aside". A process whose environment has
    MTL_KILL_AT=<that name> SIGKILLs itself the first time it passes it (saying so on stderr), which is how the tests
    kill a training run in every window of `MultiTaskModel.save` without racing it. Without the variable: nothing."""
    if os.environ.get("MTL_KILL_AT") == name:
        print(f"kill_point: SIGKILL at {name!r}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
