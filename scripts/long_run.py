"""How long notebook 04's final configuration must train before its dev scores stop moving: one run of many steps,
every task's whole dev split scored at evenly spaced steps, the training loss per task kept. It sizes the budgets of
the converged runs (the next render's); nothing here is scored on test.

Usage: python scripts/long_run.py [--steps N] [--evaluations K] [--seed S] [--temperature T]
Writes REPORTS_DIR/long_run.json: the settings, the machine, and per evaluation the step, each task's dev score and
its training epochs so far. Read two neighbouring evaluations with mtl.figures' noise rule before calling a plateau.
REPORT_PROFILE=quick: a few steps on a few rows, to check that it runs.
"""

import argparse

import numpy as np

import mtl
from mtl.checkpoint import selection_metric
from mtl.report import pick, write_report
from mtl.runtime import machine

FINAL = dict(  # notebook 04's final configuration, but for its length
    batch_size=pick(32, 4), sampling="temperature", head_lr=1e-3, encoder_lr=2e-4, layer_decay=1.0,
    freeze=("embeddings",),
)  # fmt: skip
ROWS = pick(None, 24)


def main(steps: int, evaluations: int, seed: int, temperature: float) -> dict:
    tasks = mtl.declare_tasks()
    train = {t.name: tuple(x[:ROWS] for x in mtl.load_split(t.name, "train")) for t in tasks}
    dev = {t.name: tuple(x[:ROWS] for x in mtl.load_split(t.name, "dev")) for t in tasks}
    config = mtl.TrainConfig(**FINAL, steps=steps, temperature=temperature, eval_every=steps // evaluations, seed=seed)
    model = mtl.MultiTaskModel(mtl.SentenceEncoder(), tasks)
    history = mtl.train(model, train, config, dev_data=dev)
    losses = history["loss"]  # (step, task, value) per task trained at each step
    curve = []
    for evaluation in history["eval"]:
        step = evaluation["step"]
        seen = {t: sum(1 for s, task, _ in losses if s <= step and task == t) for t in train}
        recent = {t: [v for s, task, v in losses if step - 100 < s <= step and task == t] for t in train}
        curve.append(
            {
                "step": step,
                "dev": {t: round(evaluation[t][selection_metric(model.tasks[t])], 2) for t in train},
                "epochs": {t: round(seen[t] * config.batch_size / len(train[t][0]), 2) for t in train},
                "train_loss_last_100_steps": {t: round(float(np.mean(v)), 4) for t, v in recent.items() if v},
            }
        )
    return {
        "split": "dev",
        "settings": {**FINAL, "steps": steps, "temperature": temperature, "seed": seed, "machine": machine()},
        "seconds": round(history["seconds"], 1),
        "task_steps": history["task_steps"],
        "train_rows": {t: len(train[t][0]) for t in train},
        "curve": curve,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=pick(6000, 8))
    parser.add_argument("--evaluations", type=int, default=pick(12, 2))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=2.0)
    args = parser.parse_args()
    figures = main(args.steps, args.evaluations, args.seed, args.temperature)
    write_report("long_run", figures)
    for point in figures["curve"]:
        print(point["step"], point["dev"], point["epochs"])
