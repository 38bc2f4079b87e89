"""What the training-speed levers cost in quality: bf16 autocast against fp32, batches grouped by token count against
random batches, and one lever for the uncased encoder's NER (word shapes). Each arm trains the three tasks jointly
at notebook 04's settings, 3 seeds, and is scored on dev; every pair is read by the noise rule (mtl.figures.compare).

Speed is not measured here (other processes may share the cores while this runs): `make bench` times the same
settings in interleaved rounds. Each run's dev figures are kept in build/training_levers/, so an interrupted run goes
on where it stopped; `--arms` runs only some arms. Writes REPORTS_DIR/training_levers.json.
REPORT_PROFILE=quick: a few steps on a few rows, to check that it runs.
"""

import argparse
import json
import time

import numpy as np
import torch

import mtl
from mtl.checkpoint import selection_metric
from mtl.figures import compare, seed_summary, verdict
from mtl.report import PROFILE, PROJECT_ROOT, pick, write_report
from mtl.runtime import machine

SETTINGS = dict(  # notebook 04's joint runs, with its chosen uniform encoder rate
    steps=pick(600, 4), batch_size=pick(32, 4), sampling="temperature", temperature=2.0, head_lr=1e-3,
    encoder_lr=2e-4, layer_decay=1.0, freeze=("embeddings",), eval_every=10**9,
)  # fmt: skip
ARMS = {  # arm -> (TrainConfig fields, MultiTaskModel options)
    "fp32": ({"mixed_precision": "no"}, {}),
    "bf16": ({"mixed_precision": "bf16"}, {}),
    "bf16, random batches": ({"mixed_precision": "bf16", "group_by_length": False}, {}),
    "bf16, word shapes": ({"mixed_precision": "bf16"}, {"word_shapes": True}),
}
PAIRS = {  # question -> (arm, against)
    "bf16 autocast against fp32": ("bf16", "fp32"),
    "batches grouped by length against random batches": ("bf16", "bf16, random batches"),
    "word shapes for NER against none": ("bf16, word shapes", "bf16"),
}
SEEDS = pick((0, 1, 2), (0, 1, 2))
ROWS = pick(None, 24)  # training and dev rows per task (None: all)
RUNS = PROJECT_ROOT / "build" / "training_levers" / PROFILE


def data(split: str) -> dict:
    return {t.name: tuple(x[:ROWS] for x in mtl.load_split(t.name, split)) for t in mtl.declare_tasks()}


def run(arm: str, seed: int, train: dict, dev: dict) -> dict:
    """One arm, one seed: train, then each task's dev metric and its per-example counts."""
    path = RUNS / f"{arm.replace(', ', '_').replace(' ', '-')}_seed{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    fields, options = ARMS[arm]
    torch.manual_seed(seed)
    model = mtl.MultiTaskModel(mtl.SentenceEncoder(), mtl.declare_tasks(), **options)
    history = mtl.train(model, train, mtl.TrainConfig(**SETTINGS, **fields, seed=seed))
    result = {"seconds": round(history["seconds"], 1), "task_steps": history["task_steps"], "dev": {}}
    for task, (inputs, labels) in dev.items():
        metrics, counts = mtl.evaluate_with_counts(model, task, inputs, labels)
        result["dev"][task] = {"value": metrics[selection_metric(model.tasks[task])], "counts": counts.tolist()}
    RUNS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    arms = parser.parse_args().arms
    train, dev = data("train"), data("dev")
    started = time.perf_counter()
    runs = {arm: [] for arm in arms}
    for seed in SEEDS:  # seeds outermost, so that whatever shares the machine meanwhile falls on every arm alike
        for arm in arms:
            runs[arm].append(run(arm, seed, train, dev))
    tasks = list(dev)
    per_arm = {arm: {t: [r["dev"][t]["value"] for r in rs] for t in tasks} for arm, rs in runs.items()}
    pooled = {t: float(np.sqrt(np.mean([np.var(v[t], ddof=1) for v in per_arm.values()]))) for t in tasks}
    figures = {
        "split": "dev",
        "arms": {
            arm: {
                **{t: seed_summary(per_arm[arm][t]) for t in tasks},
                "task_steps": runs[arm][0]["task_steps"],
                "wall_seconds_per_run": [r["seconds"] for r in runs[arm]],
            }
            for arm in arms
        },
        "pooled_seed_std": {t: round(s, 2) for t, s in pooled.items()},
        "comparisons": {},
    }
    for question, (a, b) in PAIRS.items():
        if a in runs and b in runs:
            figures["comparisons"][question] = {
                t: compare(
                    per_arm[a][t],
                    per_arm[b][t],
                    np.sum([r["dev"][t]["counts"] for r in runs[a]], axis=0),
                    np.sum([r["dev"][t]["counts"] for r in runs[b]], axis=0),
                    pooled_std=pooled[t],
                )
                for t in tasks
            }
    figures["settings"] = {
        **{k: v for k, v in SETTINGS.items() if k != "eval_every"},
        "seeds": list(SEEDS),
        "train_rows": {t: len(x[0]) for t, x in train.items()},
        "dev_rows": {t: len(x[0]) for t, x in dev.items()},
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = write_report("training_levers", figures)
    for question, by_task in figures["comparisons"].items():
        read = ", ".join(f"{t} {c['difference']:+.2f} ({verdict(c)})" for t, c in by_task.items())
        print(f"{question}: {read}")
    print(f"wrote {path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path}")


if __name__ == "__main__":
    main()
