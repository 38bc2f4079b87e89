"""What the benchmark's parts share: goals, batch sizes, row names, and the interleaved rounds every timing runs in."""

import time
from collections.abc import Callable

from mtl.report import pick

GOALS = {
    "speedup_vs_sentence_transformers": 3.0,
    "speedup_vs_best_equal_quality_peer": 1.5,  # issue 42: the fast path against the fastest peer as good as fp32
    "spearman_within_fp32": 0.5,
    "min_cosine_per_sentence": 0.99,
    "predict_raw_text_cost_at_most": 1.10,  # predict on raw text within 10% of the previous predict
    "training_bf16_grouped_vs_fp32_random": 3.0,  # issue 40: on a CPU with bf16 instructions
}
BATCH_SIZES = (32, 128)
ROUNDS = pick(2, 1)  # timed rounds in each run, after one warm-up round (--runs repeats whole runs)
REPEAT = pick(5, 1)  # best-of for the one-engine measurements (profile stages, matmul peaks)
ST = "sentence-transformers (torch)"  # the project's pinned sentence-transformers, in this process
FP32 = "this project, fp32 (torch)"  # the reference for every row's per-sentence cosine
FAST = "this project, int8 (OpenVINO)"  # the fast path: SentenceEncoder(precision="int8")
PER_BATCH = "int8, one activation scale per batch (ONNX Runtime)"  # as sentence-transformers' int8 ONNX export


def seconds_of(fn: Callable[[], object]) -> Callable[[], float]:
    """A run that times itself: fn's wall time."""

    def timed() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return timed


def interleaved_runs(runs: dict, n_runs: int, rounds: int = ROUNDS) -> dict:
    """{key: [[seconds of each timed round] for each run]}. `runs` maps a key to a callable that returns its own
    seconds (a worker process times itself, so the pipe to it costs its row nothing). Each run is a warm-up round,
    not kept, then `rounds` rounds in which every key goes once, in turn: a busy moment on the machine hits every
    row alike instead of deciding a ratio. Repeating whole runs shows how far a ratio moves between runs."""
    times = {key: [] for key in runs}
    for _ in range(n_runs):
        for fn in runs.values():  # warm-up: caches, thread pools, graphs compiled on first use
            fn()
        kept = {key: [] for key in runs}
        for _ in range(rounds):
            for key, fn in runs.items():
                kept[key].append(fn())
        for key in runs:
            times[key].append(kept[key])
    return times


def spread(rounds: list[float]) -> float:
    """How far a timing moved across the rounds of one run: (slowest - fastest) / fastest."""
    return (max(rounds) - min(rounds)) / min(rounds)


def value_range(values: list[float], digits: int = 2) -> list[float]:
    return [round(min(values), digits), round(max(values), digits)]
