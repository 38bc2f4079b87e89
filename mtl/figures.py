"""Derived figures, computed in one place so that a derived figure cannot disagree with its operands: a ratio, a seed
summary, and the comparison of two arms under the project's one noise rule.

The noise rule. A difference between two arms (two settings, each trained with several seeds and scored on the same
evaluation examples) is a finding only when it exceeds both
  - the seed spread: twice the standard deviation of one run, pooled over the arms (at least 3 seeds per arm; a
    caller whose arm has an implausibly small 3-seed std passes the std pooled over every arm of the same setting), and
  - the evaluation set's sampling error: the 95% interval of a paired bootstrap over the examples excludes zero.
Everything else is "within noise".

The bootstrap resamples examples, not runs: each arm's evidence is a table of additive counts per example (correct
and total for accuracy; true positives, false positives and false negatives for entity F1), so a resample is a
weighted sum and the metric is computed from the sums exactly as on the whole set.
"""

from __future__ import annotations

import re

import numpy as np

BOOTSTRAP_ROUNDS = 2000
LEVEL = 0.95


def ratio(numerator: float, denominator: float, digits: int = 2) -> float:
    """numerator / denominator, rounded for the report (the unrounded operands are what the report keeps beside it)."""
    return round(numerator / denominator, digits)


def seed_summary(values, digits: int = 2) -> dict:
    """{"mean", "std" (sample std, ddof 1), "n", "values"} of one arm's per-seed figures."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("a seed summary needs at least one value")
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": round(float(np.mean(values)), digits), "std": round(std, digits), "n": len(values),
            "values": [round(v, digits) for v in values]}  # fmt: skip


def accuracy_counts(gold: list, predicted: list) -> np.ndarray:
    """Per example: (correct, 1). The metric of summed counts is accuracy x100."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    return np.array([[float(g == p), 1.0] for g, p in zip(gold, predicted)]).reshape(-1, 2)


def entity_counts(gold: list[list[str]], predicted: list[list[str]]) -> np.ndarray:
    """Per sentence: (true positives, false positives, false negatives) of its entities, read from IOB2 tags as
    seqeval reads them. The metric of summed counts is seqeval's micro entity F1 x100."""
    from seqeval.metrics.sequence_labeling import get_entities

    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    rows = []
    for g, p in zip(gold, predicted):
        truth, found = set(get_entities(list(g))), set(get_entities(list(p)))
        rows.append([len(truth & found), len(found - truth), len(truth - found)])
    return np.array(rows, dtype=float).reshape(-1, 3)


def metric(counts: np.ndarray) -> np.ndarray:
    """Accuracy or F1 x100 from summed counts (the last axis): 2 columns are (correct, total), 3 are (tp, fp, fn)."""
    if counts.shape[-1] == 2:
        return 100 * counts[..., 0] / np.maximum(counts[..., 1], 1e-12)
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    return 100 * 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12)


def paired_bootstrap(counts_a: np.ndarray, counts_b: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0):
    """The 95% interval (low, high) of metric(a) - metric(b) over resamples of the examples, the same resample for
    both arms (they were scored on the same examples)."""
    counts_a, counts_b = np.asarray(counts_a, float), np.asarray(counts_b, float)
    if counts_a.shape != counts_b.shape:
        raise ValueError(f"the arms were scored on different examples: {counts_a.shape} vs {counts_b.shape}")
    n = len(counts_a)
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=rounds)  # each row: one resample
    return _interval(metric(weights @ counts_a) - metric(weights @ counts_b))


def bootstrap_statistic(statistic, predictions_a, predictions_b, gold, rounds: int = 1000, seed: int = 0):
    """The 95% interval of statistic(a) - statistic(b) over paired resamples of the examples, for a statistic that is
    not a sum of per-example counts (e.g. the Spearman correlation of STS-B pair similarities with the gold scores).
    statistic(predictions, gold) takes arrays indexed by example."""
    predictions_a, predictions_b, gold = map(np.asarray, (predictions_a, predictions_b, gold))
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(rounds):
        idx = rng.integers(0, len(gold), len(gold))
        differences.append(statistic(predictions_a[idx], gold[idx]) - statistic(predictions_b[idx], gold[idx]))
    return _interval(differences)


def _interval(differences) -> tuple[float, float]:
    """The central LEVEL interval of bootstrap differences."""
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return float(low), float(high)


def compare_once(value_a: float, value_b: float, interval: tuple[float, float], digits: int = 2) -> dict:
    """Two deterministic arms (no training, so no seeds: e.g. two pooling modes of one pretrained model) under the
    noise rule: only the evaluation set's sampling error applies, as a paired bootstrap interval."""
    low, high = interval
    difference, noise = value_a - value_b, (high - low) / 2
    return {"difference": round(difference, digits), "seed_std": None, "n": [1, 1], "seed_noise": 0.0,
            "bootstrap_95": [round(low, digits), round(high, digits)], "noise": round(noise, digits),
            "finding": bool(beyond(difference, noise, digits) and (low > 0 or high < 0))}  # fmt: skip


def compare(
    values_a, values_b, counts_a=None, counts_b=None, pooled_std: float | None = None, digits: int = 2, interval=None
) -> dict:
    """Arm A against arm B under the noise rule: the difference of the seed means, its noise and whether it is a
    finding.

    values_a, values_b: each arm's figure per seed (3 or more). counts_a, counts_b: each arm's per-example counts
    (summed over its seeds, or of one representative run) on the same evaluation examples, for the bootstrap; without
    them only the seed spread is checked, and the result says so. pooled_std: the std of one run pooled over every arm
    of the setting; the larger of it and the two arms' own pooled std is used, so that three tight seeds cannot
    understate the noise. interval: the bootstrap's 95% interval of the difference, where it is resampled otherwise
    than from counts (bootstrap_statistic, for a figure that is not a sum over examples), in place of the counts.
    """
    a, b = seed_summary(values_a, 6), seed_summary(values_b, 6)
    if min(a["n"], b["n"]) < 3:
        raise ValueError(f"the noise rule needs at least 3 seeds per arm, got {a['n']} and {b['n']}")
    std = max(float(np.sqrt((a["std"] ** 2 + b["std"] ** 2) / 2)), pooled_std or 0.0)
    return _judge(a["mean"] - b["mean"], std, [a["n"], b["n"]], counts_a, counts_b, digits, interval)


def compare_fixed(
    values, fixed: float, counts=None, fixed_counts=None, pooled_std: float | None = None, digits=2, interval=None
):
    """A trained arm (3 or more seeds) against a deterministic one (the same figure whatever the seed: a probe fitted
    by a convex solver, an untrained model): the seed noise is the trained arm's own std, or pooled_std if larger.
    interval: as for compare."""
    a = seed_summary(values, 6)
    if a["n"] < 3:
        raise ValueError(f"the noise rule needs at least 3 seeds for the trained arm, got {a['n']}")
    return _judge(
        a["mean"] - float(fixed), max(a["std"], pooled_std or 0.0), [a["n"], 1], counts, fixed_counts, digits, interval
    )


def _judge(difference: float, std: float, n: list, counts_a, counts_b, digits: int, interval=None) -> dict:
    """The rule itself: beyond twice the seed std, and a paired bootstrap interval (from the counts, or given) that
    excludes zero."""
    seed_noise = 2 * std
    result = {"difference": round(difference, digits), "seed_std": round(std, digits), "n": n,
              "seed_noise": round(seed_noise, digits)}  # fmt: skip
    beyond_seeds = beyond(difference, seed_noise, digits)
    if counts_a is None and interval is None:
        result |= {"bootstrap_95": None, "noise": round(seed_noise, digits), "finding": bool(beyond_seeds)}
        return result
    low, high = interval if interval is not None else paired_bootstrap(counts_a, counts_b)
    outside = low > 0 or high < 0
    noise = max(seed_noise, (high - low) / 2)
    result |= {"bootstrap_95": [round(low, digits), round(high, digits)], "noise": round(noise, digits),
               "finding": bool(beyond(difference, noise, digits) and beyond_seeds and outside)}  # fmt: skip
    return result


def beyond(difference: float, noise: float, digits: int) -> bool:
    """Whether a difference exceeds its noise as both are written (rounded to `digits`): a difference that only
    rounding separates from its noise is not called a finding, so the flag agrees with the figures a reader sees."""
    return abs(round(difference, digits)) > round(noise, digits)


def comparisons(node, path: str = ""):
    """(path, comparison) for every comparison in a report's figures: a dict with "difference", "noise" and
    "finding", at any depth."""
    if isinstance(node, dict):
        if {"difference", "noise", "finding"} <= node.keys():
            yield path, node
        for key, value in node.items():
            yield from comparisons(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from comparisons(value, f"{path}[{i}]")


def misread(figures) -> list[str]:
    """Every comparison in a report's figures whose flag disagrees with its difference and noise: a finding inside
    its noise, or a difference beyond its noise not flagged. [] when none."""
    found = []
    for path, c in comparisons(figures):
        beyond = abs(c["difference"]) > c["noise"]
        if c["finding"] and not beyond:
            found.append(f"{path}: a finding inside its noise ({c['difference']} vs {c['noise']})")
        if beyond and not c["finding"] and c.get("bootstrap_95") is None:
            found.append(f"{path}: beyond its seed noise but not flagged ({c['difference']} vs {c['noise']})")
    return found


# How generated prose quotes a comparison: its difference, then the verdict() words ("+1.8 (finding)")
QUOTED = re.compile(r"([+-]\d+\.(\d+)) (?:points )?\((finding|within noise|beyond seed noise|within seed noise)\)")


def unbacked(texts, figures) -> list[str]:
    """Every verdict the texts quote that no comparison in the figures backs: none with that difference, as rounded
    in the text, and that flag. A sentence quoting a comparison the notebook computed but never wrote to its JSON is
    caught here: in the committed report, and in the quick profile's run where that run writes the sentence too. []
    when every quote is backed."""
    flags = [(c["difference"], c["finding"]) for _, c in comparisons(figures)]
    return [
        f"{value} ({words})"
        for text in texts
        for value, decimals, words in QUOTED.findall(text)
        if not any(f"{d:+.{len(decimals)}f}" == value and finding == (words in ("finding", "beyond seed noise"))
                   for d, finding in flags)
    ]  # fmt: skip


def verdict(comparison: dict) -> str:
    """The words a report uses for a comparison: "finding" or "within noise"; where the figure was not resampled over
    examples (a dev curve's evaluations, a calibration error), only the seed half of the rule was applied, and the
    words say so: "beyond seed noise" or "within seed noise"."""
    if "bootstrap_95" in comparison and comparison["bootstrap_95"] is None:
        return "beyond seed noise" if comparison["finding"] else "within seed noise"
    return "finding" if comparison["finding"] else "within noise"


def better(comparison: dict) -> bool:
    """The choice rule notebooks 03 and 04 pick an arm by: {task: a comparison of this arm against the other}, and the
    arm is better when it is ahead on some task by a finding and behind on none by a finding (within-noise
    differences count neither way)."""
    ahead = any(c["finding"] and c["difference"] > 0 for c in comparison.values())
    behind = any(c["finding"] and c["difference"] < 0 for c in comparison.values())
    return ahead and not behind
