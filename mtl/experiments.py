"""Experiment bookkeeping for the notebooks: a setting (an *arm*) trained once per seed, each seed's dev score per
task with the per-example counts the paired bootstrap resamples, comparisons under the one noise rule
(mtl.figures.compare), the choice rule, the words a report uses for them, and each arm's JSON record.

A notebook shows the idea it teaches (what is trained, and why); `Experiments` keeps the accounting:

    exp = Experiments(dev_data)                        # {task: (inputs, labels)}: every arm is scored on these
    exp.run("uniform", make_model, train_data, config, seeds=(0, 1, 2))
    exp.run("decay 0.8", make_model, train_data, dataclasses.replace(config, layer_decay=0.8))
    exp.versus("decay 0.8", "uniform")                 # {task: comparison}, mtl.figures' noise rule
    exp.choose("uniform", ["decay 0.8"])               # the reference unless a candidate is better by the rule
    exp.arms                                           # {label: JSON record}, every one with split "dev"

With a RunCache (mtl/cache.py), every seed of `run` first looks for the same run trained before and replays it (its
dev scores, history and, where kept, its weights) instead of training it: `replayed` counts those, for the report's
closing section.

Arms trained elsewhere (a probe, two models per seed, another decoding of the same models) enter through `record`,
with the scores `score` returns; an arm that no seed changes (a probe fitted by a convex solver on fixed rows) enters
as one score with deterministic=True, and comparisons with it take the trained arm's seed noise alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mtl.cache import RunCache
from mtl.figures import (
    better,
    bootstrap_statistic,
    compare,
    compare_fixed,
    compare_once,
    paired_bootstrap,
    seed_summary,
    verdict,
)
from mtl.prediction import evaluate, evaluate_with_counts
from mtl.tasks import REGISTRY
from mtl.training import train


def headline(task: str, metrics: dict) -> str:
    """The metric a task is compared on: its registry entry's, else accuracy where there is one, else entity F1."""
    if task in REGISTRY and REGISTRY[task].metric in metrics:
        return REGISTRY[task].metric
    return "accuracy" if "accuracy" in metrics else "f1"


class Experiments:
    """Every arm of a notebook, scored on one fixed set of dev examples per task, so that any two arms can be
    compared example by example.

    pooled_std: {task: the std of one run pooled over many arms of the setting}; comparisons use it where it is
    larger than the two arms' own (three tight seeds must not understate the noise).
    """

    def __init__(
        self, dev_data: dict, pooled_std: dict | None = None, decoding: str = "viterbi", cache: RunCache | None = None
    ):
        self.dev_data = dev_data
        self.cache = cache
        self.replayed: list[dict] = []  # one {"arm", "seed", "trained"} per run replayed from the cache
        self.pooled_std = dict(pooled_std or {})
        self.decoding = decoding
        self.arms: dict[str, dict] = {}  # label -> JSON record
        self.counts: dict[str, dict] = {}  # label -> task -> per-example counts, summed over the seeds
        self.models: dict[str, list] = {}  # label -> the trained models, one per seed (kept when asked)
        self.histories: dict[str, list] = {}  # label -> mtl.train's history, one per seed

    # --- scoring and recording ------------------------------------------------------------------------------------

    def score(self, model, tasks=None, decoding: str | None = None) -> dict:
        """{task: (metrics, per-example counts)} of a model on the dev examples of its tasks (or of `tasks`)."""
        decoding = decoding or self.decoding
        return {
            t: evaluate_with_counts(model, t, *self.dev_data[t], decoding=decoding)
            for t in (tasks or model.tasks)
            if t in self.dev_data
        }

    def record(self, label: str, scores: list[dict], histories=None, models=None, **extra) -> dict:
        """Enter an arm: scores holds one `score` result per seed. histories: mtl.train's history per seed (steps
        per task, seconds and, where the run was evaluated during training, its dev curve). extra: further JSON
        figures of the arm (e.g. trainable parameters)."""
        tasks = list(scores[0])
        names = {t: headline(t, scores[0][t][0]) for t in tasks}
        record = {
            "split": "dev",
            "metric": names,
            "scores": {t: seed_summary([s[t][0][names[t]] for s in scores]) for t in tasks},
        }
        if histories:
            record["steps"] = {t: [h["task_steps"][t] for h in histories] for t in histories[0]["task_steps"]}
            record["seconds"] = round(float(np.mean([h["seconds"] for h in histories])), 1)
            if all(h.get("eval") for h in histories):
                record["curve"] = curve(histories, names)
        self.arms[label] = record | extra
        self.counts[label] = {t: sum(s[t][1] for s in scores) for t in tasks}
        self.histories[label] = list(histories or [])
        if models is not None:
            self.models[label] = list(models)
        return self.arms[label]

    def run(self, label: str, make_model, train_data, config, seeds=(0, 1, 2), steps=None, curve=False,
            keep=False, **extra) -> dict:  # fmt: skip
        """Train a fresh model per seed (make_model(seed)) on train_data with config and that seed, score it on dev
        after its last step, and record the arm. train_data: {task: (inputs, labels)}, or seed -> such a dict where
        the seed also draws the data (a few labelled examples per class). steps: a step count, or seed -> step count
        where it depends on the
        seed (e.g. the steps a task had in the joint run of that seed); config's own by default. curve: also score dev
        before the first step and every config.eval_every steps (metrics only: the per-example counts are the last
        step's). keep: keep the models (they are dropped otherwise, to spare memory)."""
        scores, histories, models = [], [], []
        for seed in seeds:
            n = steps(seed) if callable(steps) else (steps or config.steps)
            run_config = dataclasses.replace(config, seed=seed, steps=max(1, int(n)))
            model = make_model(seed)
            dev = {t: self.dev_data[t] for t in model.tasks if t in self.dev_data}
            data = train_data(seed) if callable(train_data) else train_data
            key = self.cache and self.cache.key(model, data, dev, run_config, self.decoding, curve)
            entry = self.cache and self.cache.load(key, model if keep else None)
            if entry:  # trained before by this code on these rows: its figures, not a second training
                model.unfreeze().freeze(*run_config.freeze).eval()  # as the trained run left it
                self.replayed.append({"arm": label, "seed": seed, "trained": entry["trained"]})
                score, history = entry["scores"], entry["history"]
            else:
                start = {t: evaluate(model, t, *dev[t], decoding=self.decoding) for t in dev} if curve else None
                history = train(model, data, run_config, dev_data=dev if curve else None)
                if curve:  # step 0: the model before training, its heads at their random start
                    history["eval"].insert(0, {"step": 0, **start})
                score = self.score(model)
                if self.cache:
                    self.cache.save(key, score, history, model if keep else None)
            scores.append(score)
            histories.append(history)
            models.append(model)
        return self.record(label, scores, histories, models if keep else None, **extra)

    # --- reading ---------------------------------------------------------------------------------------------------

    def values(self, label: str, task: str) -> list[float]:
        """An arm's dev figure for a task, one per seed."""
        return self.arms[label]["scores"][task]["values"]

    def mean(self, label: str) -> float:
        """An arm's mean dev score over its tasks (the figure a ranking of one-seed runs reads)."""
        return float(np.mean([s["mean"] for s in self.arms[label]["scores"].values()]))

    def pool(self, labels, tasks=None) -> dict:
        """{task: the std of one run pooled over the arms' seeds (root mean square of their stds)}, and never less
        than one dev example's share of the score (100 / examples): three seeds that land within an example of each
        other (96.0, 96.2, 96.2 on 500 rows) measure the metric's resolution, not the spread of further runs."""
        tasks = tasks or [
            t for t in self.arms[labels[0]]["scores"] if all(t in self.arms[a]["scores"] for a in labels)
        ]
        stds = {
            t: [self.arms[a]["scores"][t]["std"] for a in labels if self.arms[a]["scores"][t]["n"] > 1] for t in tasks
        }
        resolution = {t: 100 / len(self.counts[labels[0]][t]) for t in stds}
        return {t: round(max(float(np.sqrt(np.mean(np.square(s)))), resolution[t]), 2)
                for t, s in stds.items() if s}  # fmt: skip

    # --- comparing and choosing ------------------------------------------------------------------------------------

    def versus(self, a: str, b: str, tasks=None, pooled: bool = True) -> dict:
        """Arm a minus arm b on every task both have (or on `tasks`), by the noise rule: {task: comparison}. Against
        a deterministic arm the seed noise is the trained arm's (or the pooled std, if larger: mtl.figures'
        compare_fixed); two deterministic arms differ by the paired bootstrap alone (compare_once)."""
        shared = [t for t in self.arms[a]["scores"] if t in self.arms[b]["scores"] and (tasks is None or t in tasks)]
        fixed = [bool(self.arms[x].get("deterministic")) for x in (a, b)]
        found = {}
        for t in shared:
            floor = self.pooled_std.get(t) if pooled else None
            values, counts = (self.values(a, t), self.values(b, t)), (self.counts[a][t], self.counts[b][t])
            if all(fixed):
                found[t] = compare_once(values[0][0], values[1][0], paired_bootstrap(*counts))
            elif fixed[1]:
                found[t] = compare_fixed(values[0], values[1][0], *counts, pooled_std=floor)
            elif fixed[0]:  # b minus a, turned round
                found[t] = turned(compare_fixed(values[1], values[0][0], counts[1], counts[0], pooled_std=floor))
            else:
                found[t] = compare(*values, *counts, pooled_std=floor)
        return found

    def choose(self, reference: str, candidates) -> tuple[str, dict]:
        """The choice rule: the reference, unless a candidate is better on some task by a finding and worse on none
        by a finding (mtl.figures.better); among such candidates the best mean dev score. Returns the label chosen
        and {candidate: its comparison against the reference}."""
        against = {c: self.versus(c, reference) for c in candidates if c != reference}
        winners = [c for c, comparison in against.items() if better(comparison)]
        return (max(winners, key=self.mean) if winners else reference), against

    def last_two(self, label: str) -> dict:
        """{task: the arm's last dev evaluation minus the one before}, across its seeds. The seed spread is the
        whole noise here (the pooled std where it is larger): the curve keeps no per-example counts, so the bootstrap
        cannot be applied, and mtl.figures.verdict words the result "beyond seed noise" or "within seed noise"."""
        points = self.arms[label]["curve"]
        before, last = points[-2], points[-1]
        return {t: compare(last["dev"][t], before["dev"][t], pooled_std=self.pooled_std.get(t))
                | {"steps": [before["step"], last["step"]]} for t in last["dev"]}  # fmt: skip


def per_class(data: dict, k: int, seed: int) -> dict:
    """A draw of k labelled rows per class of each task (every row of a class that has fewer), by the seed: the
    training data of an arm with only a few labels. data: {task: (inputs, labels)} of sentence tasks."""
    rng, drawn = np.random.default_rng(seed), {}
    for task, (inputs, labels) in data.items():
        rows = [int(i) for label in sorted(set(labels))
                for i in rng.permutation([j for j, y in enumerate(labels) if y == label])[:k]]  # fmt: skip
        drawn[task] = ([inputs[i] for i in rows], [labels[i] for i in rows])
    return drawn


def turned(comparison: dict) -> dict:
    """A comparison of a minus b as one of b minus a: the difference and its bootstrap interval change sign."""
    interval = comparison["bootstrap_95"]
    return comparison | {"difference": -comparison["difference"], "n": comparison["n"][::-1],
                         "bootstrap_95": interval and [-interval[1], -interval[0]]}  # fmt: skip


def expected_calibration_error(confidences, correct, bins: int = 10) -> float:
    """How far a classifier's confidence is from its accuracy, x100: the predictions are put in `bins` equal-width
    bins of confidence (the probability of the predicted label), and the gaps |accuracy - mean confidence| of the
    bins are averaged, each weighted by its share of the predictions (Guo et al. 2017, "On Calibration of Modern
    Neural Networks"). 0 is perfectly calibrated."""
    confidences, correct = np.asarray(confidences, float), np.asarray(correct, float)
    which = np.minimum((confidences * bins).astype(int), bins - 1)  # a confidence of 1.0 belongs to the top bin
    gaps = [abs(correct[which == b].mean() - confidences[which == b].mean()) * np.mean(which == b)
            for b in range(bins) if np.any(which == b)]  # fmt: skip
    return round(100 * float(np.sum(gaps)), 2)


def confidence_and_correct(model, task: str, inputs: list, labels: list) -> np.ndarray:
    """(examples, 2): each example's confidence (the probability of the label predicted for a sentence task) and
    whether that label is right (1.0 or 0.0): what a calibration error is computed and resampled from."""
    predicted = [p[task] for p in model.predict(inputs, tasks=[task])]
    return np.array([[p["score"], p["label"] == gold] for p, gold in zip(predicted, labels)], dtype=float)


def compare_calibration(runs_a: list, runs_b: list, pooled_std: float | None = None) -> dict:
    """Arm a's expected calibration error minus arm b's, by the noise rule: the seeds' spread, and a paired bootstrap
    over the examples of the mean over seeds (the same resample for every run of both arms). runs_a, runs_b: one
    confidence_and_correct array per seed, on the same examples; a single array is a deterministic arm (a probe)."""
    a, b = np.stack(runs_a, axis=1), np.stack(runs_b, axis=1)  # (examples, seeds, 2)

    def mean_error(runs, _):
        return np.mean([expected_calibration_error(runs[:, s, 0], runs[:, s, 1]) for s in range(runs.shape[1])])

    interval = bootstrap_statistic(mean_error, a, b, gold=np.zeros(len(a)))
    errors_a, errors_b = ([expected_calibration_error(*run.T) for run in runs] for runs in (runs_a, runs_b))
    if len(runs_b) == 1:
        return compare_fixed(errors_a, errors_b[0], pooled_std=pooled_std, interval=interval)
    return compare(errors_a, errors_b, pooled_std=pooled_std, interval=interval)


def curve(histories: list[dict], names: dict) -> list[dict]:
    """Each dev evaluation during training: {"step", "dev": {task: [one value per seed]}} (the seeds are evaluated
    at the same steps)."""
    steps = [e["step"] for e in histories[0]["eval"]]
    return [
        {"step": step, "dev": {t: [round(h["eval"][i][t][name], 2) for h in histories] for t, name in names.items()}}
        for i, step in enumerate(steps)
    ]


def plateau(points: list[dict], noise: dict) -> dict:
    """{task: the first step from which no later evaluation moves the dev score by more than noise[task], or None
    when the last evaluation still does}, for the tasks noise names. points: [{"step", "dev": {task: value}}] of one run (e.g.
    scripts/long_run.py's curve); noise: twice one run's seed std, the seed half of the noise rule."""
    found = {}
    for task in [t for t in points[0]["dev"] if t in noise]:
        values = [p["dev"][task] for p in points]
        settled = [i for i in range(len(values) - 1) if all(abs(v - values[i]) <= noise[task] for v in values[i:])]
        found[task] = points[settled[0]]["step"] if settled else None
    return found


def direction(comparison: dict) -> str:
    """{task: comparison} of arm a against arm b in one word for a's side: "better" (ahead on some task by a finding,
    behind on none), "worse" (the reverse), "mixed" (ahead on one task and behind on another) or "within noise"."""
    if better(comparison):
        return "better"
    if better({t: turned(c) for t, c in comparison.items()}):
        return "worse"
    return "mixed" if any(c["finding"] for c in comparison.values()) else "within noise"


def than(comparison: dict, other: str) -> str:
    """`direction` as words about another arm: "better than the probe", "within noise of the probe", ...; where only
    some tasks moved by a finding, it names them: "better than the probe on ner (within noise on sentiment)"."""
    word = direction(comparison)
    if word in ("better", "worse"):
        moved = [t for t, c in comparison.items() if c["finding"]]
        rest = [t for t in comparison if t not in moved]
        return f"{word} than {other}" + (f" on {', '.join(moved)} (within noise on {', '.join(rest)})" if rest else "")
    return {"mixed": f"ahead of {other} on one task and behind on another",
            "within noise": f"within noise of {other}"}[word]  # fmt: skip


def worded(comparison: dict, digits: int = 2) -> str:
    """One task's comparison in words: "+1.23 (finding)" or "-0.40 (within noise)"."""
    return f"{comparison['difference']:+.{digits}f} ({verdict(comparison)})"


def per_task(comparison: dict, digits: int = 2) -> str:
    """A comparison in words, task by task: "ner +1.23 (finding), sentiment -0.40 (within noise)"."""
    return ", ".join(f"{t} {worded(c, digits)}" for t, c in comparison.items())


def with_noise(comparison: dict, digits: int = 2) -> str:
    """A comparison in words with its noise: "ner +1.23 (noise ±0.80, finding)"."""
    return ", ".join(
        f"{t} {c['difference']:+.{digits}f} (noise ±{c['noise']:.{digits}f}, {verdict(c)})"
        for t, c in comparison.items()
    )


def spread(summary: dict, digits: int = 1) -> str:
    """A seed summary in words: "91.2 ± 0.4" (one seed: the value alone)."""
    if summary["n"] == 1:
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"
