"""The measurements that the notebooks, the benchmark and the tests share: timing, STS-B Spearman, agreement with a
reference, how far training moved each encoder layer. One definition each, so a figure means the same wherever it is
quoted."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from mtl.multitask import MultiTaskModel, parameter_group_name
from mtl.runtime import machine


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Fastest wall time of `repeat` calls: the least disturbed by other work on the machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@lru_cache(maxsize=1)
def cpu_bf16_is_faster(margin: float = 1.25) -> bool:
    """Whether this CPU multiplies bf16 matrices at least `margin` times as fast as fp32 ones, timed on a product of
    one encoder layer's shape (best of 5, after a warm-up); training's mixed_precision "auto" asks it. The instructions
    alone do not settle it: with the same avx512_bf16 flag, a 2-core AMD EPYC ran bf16 products 4.2x as fast as fp32
    and trained 1.8x as fast, while a 2-core Xeon without AMX ran them at 0.63x and trained at 0.67x (`make bench`:
    matmul_peak_gflop_per_s and training_precision in reports/benchmark.json of each machine). Without bf16
    instructions autocast would emulate bf16, slowly, so it is not timed."""
    if not {"avx512_bf16", "amx_bf16"} & set(machine()["flags"]):
        return False
    rng = torch.Generator().manual_seed(0)  # its own: drawing from the global RNG would shift the dropout of the
    a, b = torch.randn(1024, 384, generator=rng), torch.randn(384, 1536, generator=rng)  # run that asks first
    seconds = {}
    for dtype in (torch.bfloat16, torch.float32):
        x, y = a.to(dtype), b.to(dtype)
        torch.mm(x, y)  # warm-up: the first product also picks and prepares its kernel
        seconds[dtype] = best_time(lambda: torch.mm(x, y), repeat=5)
    return seconds[torch.bfloat16] * margin <= seconds[torch.float32]


def interleaved_times(
    runs: dict[str, Callable[[], object]], rounds: int = 3, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall time of each run in each of `rounds` rounds in which every run goes once, in turn: a busy moment on the
    machine hits every run alike instead of deciding a ratio, and the rounds show how much one timing moves.
    `warmup` rounds go first and are not kept: a first call pays for caches, thread pools and graphs compiled on
    first use, and would otherwise be a slow round that only the first run's position explains."""
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    seconds = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            seconds[name].append(best_time(fn, repeat=1))
    return seconds


def interleaved_best_times(
    runs: dict[str, Callable[[], object]], rounds: int = 3, warmup: int = 1
) -> dict[str, float]:
    """Fastest wall time of each run over interleaved rounds, after `warmup` rounds not kept (see interleaved_times)."""
    return {name: min(times) for name, times in interleaved_times(runs, rounds, warmup).items()}


def pair_spearman(embeddings: torch.Tensor, gold: np.ndarray) -> float:
    """Spearman x100 between gold pair scores and the cosine of each pair, for embeddings of [first..., second...]
    (the standard STS-B figure)."""
    n = len(gold)
    if len(embeddings) != 2 * n:
        raise ValueError(f"expected {2 * n} embeddings (both sides of {n} pairs), got {len(embeddings)}")
    cosine = F.cosine_similarity(embeddings[:n], embeddings[n:])
    return 100 * float(spearmanr(cosine.numpy(), gold).statistic)


def cosine_to_reference(embeddings: torch.Tensor, reference: torch.Tensor, goal: float = 0.99) -> dict:
    """Per-sentence agreement of embeddings with reference embeddings of the same sentences: the lowest and mean
    cosine, the share below `goal`, the index of the lowest, and the cosines themselves."""
    cosine = F.cosine_similarity(embeddings, reference)
    return {
        "min": cosine.min().item(),
        "mean": cosine.mean().item(),
        "share_below_goal": (cosine < goal).float().mean().item(),
        "argmin": int(cosine.argmin()),
        "cosines": cosine,
    }


def encoder_snapshot(model: MultiTaskModel) -> dict[str, torch.Tensor]:
    """A copy of the encoder's weights, to measure later how far training moved them (`drift`)."""
    return {name: param.detach().clone() for name, param in model.encoder.named_parameters()}


def drift(model: MultiTaskModel, snapshot: dict[str, torch.Tensor]) -> dict[str, float]:
    """How far each encoder group moved from `snapshot`: ||W - W0|| / ||W0|| over the group's weights, by the
    groups of parameter_group_name ("embeddings", "layer.0", ...; the unused pooler left out). What layer-wise rates
    are meant to keep small in the lower layers."""
    moved, size = {}, {}
    for name, param in model.encoder.named_parameters():
        group = parameter_group_name("encoder." + name)
        if group == "pooler":
            continue
        start = snapshot[name].to(param.device)
        moved[group] = moved.get(group, 0.0) + float((param.detach() - start).pow(2).sum())
        size[group] = size.get(group, 0.0) + float(start.pow(2).sum())
    return {group: (moved[group] / size[group]) ** 0.5 for group in moved}


PEAK_RSS = """
import sys
from pathlib import Path
import mtl

def status(field):  # kB, from the kernel's own accounting of this process
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1])

encoder = mtl.SentenceEncoder(sys.argv[2] or None, max_seq_length=int(sys.argv[3]), device="cpu")
sentences = [f"a short sentence, number {i}" for i in range(int(sys.argv[1]))]
Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
before = status("VmRSS")
embeddings = encoder.encode(sentences, batch_size=64)
print(status("VmHWM") - before, embeddings.numel() * 4 // 1024)
"""


def peak_rss_growth(n: int, model=None, max_seq_length: int = 256, env=None) -> tuple[int, int, str]:
    """Encode n short sentences in a fresh Linux process: (peak-RSS growth in kB, output size in kB, its stderr)."""
    command = [sys.executable, "-c", PEAK_RSS, str(n), str(model or ""), str(max_seq_length)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    growth_kb, output_kb = map(int, done.stdout.split())
    return growth_kb, output_kb, done.stderr
