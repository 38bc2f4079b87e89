"""What every long job shares: a progress bar that report rendering can silence, and the machine a figure was
measured on (a speed figure means little without the CPU and its instruction sets)."""

from __future__ import annotations

import os
import platform
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
