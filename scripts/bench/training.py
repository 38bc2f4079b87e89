"""Training speed: mtl.train's sentences/s in fp32 and bf16, with random or length-grouped batches, each as a share of
the matmul peak in its dtype measured in the same rounds; fine-tuning against heads on cached embeddings; 1 and 2
processes."""

import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import torch

import mtl
from bench.common import REPEAT, interleaved_runs, seconds_of, value_range
from bench.profiling import encoder_flops
from mtl.measure import best_time
from mtl.report import PROJECT_ROOT, pick
from mtl.training import start_run, token_counts

PRECISIONS = {  # row: (TrainConfig.mixed_precision, TrainConfig.group_by_length)
    "fp32, random batches": ("no", False),
    "fp32, grouped by length": ("no", True),
    "bf16, random batches": ("bf16", False),
    "bf16, grouped by length": ("bf16", True),
}
REFERENCE, HEADLINE = "fp32, random batches", "bf16, grouped by length"
MATMUL = 1024  # the peak's matrix size


def training_data() -> dict:
    """{task: (inputs, labels)}: the first training rows of every registered task."""
    rows = pick(2000, 96)
    return {t.name: tuple(part[:rows] for part in mtl.load_split(t.name, "train")) for t in mtl.declare_tasks()}


def config_for(mixed_precision: str, group_by_length: bool) -> mtl.TrainConfig:
    steps = pick(10, 1) * len(mtl.declare_tasks())  # round robin: the same number of steps on every task
    return mtl.TrainConfig(steps=steps, batch_size=pick(32, 8), sampling="round_robin", eval_every=10**9,
                           mixed_precision=mixed_precision, group_by_length=group_by_length)  # fmt: skip


@cache
def untrained_model() -> mtl.MultiTaskModel:
    torch.manual_seed(0)
    return mtl.MultiTaskModel(mtl.SentenceEncoder(device="cpu"), mtl.declare_tasks())


def fresh_model() -> mtl.MultiTaskModel:
    """The same untrained model for every run: a copy of one built once (training changes the weights)."""
    return copy.deepcopy(untrained_model())


def tokens_processed(data: dict, config: mtl.TrainConfig) -> dict:
    """The batches a run with `config` trains on, replayed from the same seeds: rows, tokens, and padded batches as
    (rows, padded length), what the matmuls actually compute on."""
    model = fresh_model()
    run = start_run(model, data, config)
    batches, real = [], 0
    for step in range(config.steps):
        task = run.schedule[step]
        inputs, _ = run.streams[task].next()
        lengths = token_counts(model, task, inputs)
        batches.append((len(lengths), max(lengths)))
        real += sum(lengths)
    return {"rows": sum(n for n, _ in batches), "tokens": real, "padded_tokens": sum(n * t for n, t in batches),
            "batches": batches, "encoder_config": model.encoder.backbone.config}  # fmt: skip


def precision_rows(n_runs: int) -> dict:
    """Each PRECISIONS row: sentences/s of mtl.train (its own clock: the steps, not the one-off token counting that
    grouping does before the first), per run; training FLOPs (3x the forward pass's matmul FLOPs, forward plus
    backward, over the padded tokens actually processed) per second as a share of the matmul peak in the row's
    dtype; the ratio to fp32 with random batches, per run. Every row and both peaks go once per interleaved round."""
    data = training_data()
    configs = {row: config_for(*settings) for row, settings in PRECISIONS.items()}

    def train_seconds(config):
        return lambda: mtl.train(fresh_model(), data, config)["seconds"]

    runs = {row: train_seconds(config) for row, config in configs.items()}
    pair = torch.randn(MATMUL, MATMUL), torch.randn(MATMUL, MATMUL)
    matrices = {"fp32": pair, "bf16": [m.bfloat16() for m in pair]}
    for dtype, (a, b) in matrices.items():  # ten products a call, as short as a peak needs
        runs[f"matmul peak, {dtype}"] = seconds_of(lambda a=a, b=b: [a @ b for _ in range(10)])
    times = interleaved_runs(runs, n_runs)
    peaks = {
        dtype: 10 * 2 * MATMUL**3 / min(min(r) for r in times[f"matmul peak, {dtype}"]) / 1e9 for dtype in matrices
    }
    rows = {}
    for row, config in configs.items():
        processed = tokens_processed(data, config)
        flops = 3 * encoder_flops(processed.pop("encoder_config"), processed.pop("batches"))
        best = min(min(r) for r in times[row])
        dtype = "bf16" if config.mixed_precision == "bf16" else "fp32"
        rows[row] = {
            "sentences_per_s": round(processed["rows"] / best, 1),
            "sentences_per_s_by_run": [round(processed["rows"] / min(r), 1) for r in times[row]],
            "padded_share_of_tokens": round(1 - processed["tokens"] / processed["padded_tokens"], 3),
            **processed,
            "training_gflop_per_s": round(flops / best / 1e9, 1),
            f"share_of_{dtype}_matmul_peak": round(flops / best / 1e9 / peaks[dtype], 3),
        }
    for row in rows.values():
        row["ratio_to_fp32_random"] = round(row["sentences_per_s"] / rows[REFERENCE]["sentences_per_s"], 2)
        ratios = [a / b for a, b in zip(row["sentences_per_s_by_run"], rows[REFERENCE]["sentences_per_s_by_run"])]
        row["ratio_to_fp32_random_by_run"] = [round(r, 2) for r in ratios]
    return {
        "rows": rows,
        "matmul_peak_gflop_per_s": {dtype: round(peak, 1) for dtype, peak in peaks.items()},
        "steps": configs[REFERENCE].steps,
        "batch_size": configs[REFERENCE].batch_size,
        f"{HEADLINE} vs {REFERENCE}": {"ratio_range": value_range(rows[HEADLINE]["ratio_to_fp32_random_by_run"])},
    }


def training_rows(sentences, labels) -> dict:
    """Training throughput: one fine-tuning step (forward, backward, AdamW) vs heads-only epochs on cached embeddings."""
    task = next(t for t in mtl.declare_tasks() if t.name == "sentiment")
    torch.manual_seed(0)
    model = mtl.MultiTaskModel(mtl.SentenceEncoder(device="cpu"), [task])
    config = mtl.TrainConfig(steps=pick(20, 3), batch_size=32, eval_every=10**9)
    history = mtl.train(model, {task.name: (sentences, labels)}, config)
    encoder = mtl.SentenceEncoder(device="cpu")
    start = time.perf_counter()
    features, label_ids = mtl.cached_features(encoder, task, sentences, labels)
    caching = time.perf_counter() - start
    head = mtl.MultiTaskModel(encoder, [task]).heads[task.name]
    epochs = pick(20, 2)
    head_seconds = best_time(lambda: mtl.fit_head(head, features, label_ids, epochs=epochs), repeat=1)
    return {
        "fine_tuning_sentences_per_s": round(history["examples"] / history["seconds"], 1),
        "fine_tuning_precision": history["mixed_precision"],  # TrainConfig's default, "auto"
        "cached_heads_sentences_per_s": round(epochs * len(sentences) / head_seconds, 1),
        "embedding_cache_sentences_per_s": round(len(sentences) / caching, 1),
        "repeat": REPEAT,
    }


def process_rows() -> dict:
    """Training sentences/s of scripts/train.py on 1 and 2 processes (torchrun, gloo on CPU), the same global batches;
    the cores are split between the processes."""
    rows = {}
    for n in (1, 2):
        launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"] if n > 1 else []
        args = ["--tasks", "sentiment", "--train-rows", str(pick(2000, 96)), "--dev-rows", "0", "--batch-size", "32"]
        args += ["--steps", str(pick(20, 3)), "--freeze", "embeddings"]
        with tempfile.TemporaryDirectory() as folder:
            history_path = Path(folder) / "history.json"
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, torch.get_num_threads() // n)), "TQDM_DISABLE": "1"}
            script = str(PROJECT_ROOT / "scripts" / "train.py")
            done = subprocess.run(
                [sys.executable, *launcher, script, *args, "--history", str(history_path)],
                env=env, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode:
                raise RuntimeError(f"scripts/train.py on {n} process(es) failed:\n{done.stderr[-2000:]}")
            history = json.loads(history_path.read_text())
        rows[f"{n} process(es)"] = {"sentences_per_s": round(history["examples"] / history["seconds"], 1)}
    for row in rows.values():
        row["ratio_to_1_process"] = round(row["sentences_per_s"] / rows["1 process(es)"]["sentences_per_s"], 3)
    return rows
