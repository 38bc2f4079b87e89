"""The one noise rule and the derived figures: each computed the one way, and able to say "within noise"."""

import numpy as np
import pytest
from seqeval.metrics import f1_score

from mtl import figures

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"], ["B-MISC", "O", "O"]]
PRED = [["B-PER", "I-PER", "O", "O"], ["O", "B-ORG"], ["B-MISC", "B-LOC", "O"]]


def test_entity_counts_give_seqeval_f1():
    counts = figures.entity_counts(GOLD, PRED)
    assert counts.tolist() == [[1, 0, 1], [1, 0, 0], [1, 1, 0]]
    assert figures.metric(counts.sum(0)) == pytest.approx(100 * f1_score(GOLD, PRED))


def test_accuracy_counts_give_accuracy():
    counts = figures.accuracy_counts(["a", "b", "b", "a"], ["a", "b", "a", "a"])
    assert figures.metric(counts.sum(0)) == 75.0


def test_seed_summary_uses_the_sample_std():
    summary = figures.seed_summary([1.0, 2.0, 3.0])
    assert summary == {"mean": 2.0, "std": 1.0, "n": 3, "values": [1.0, 2.0, 3.0]}


def test_bootstrap_interval_holds_zero_for_equal_arms_and_not_for_far_apart_ones():
    rng = np.random.default_rng(0)
    correct = rng.random(500) < 0.8
    same = figures.accuracy_counts(correct, [True] * 500)
    low, high = figures.paired_bootstrap(same, same)
    assert low == high == 0.0
    better = figures.accuracy_counts(correct | (rng.random(500) < 0.5), [True] * 500)
    low, high = figures.paired_bootstrap(better, same)
    assert 0 < low < high


def test_a_finding_needs_both_the_seed_spread_and_the_bootstrap():
    rng = np.random.default_rng(1)
    base = rng.random(400) < 0.8
    counts_a = figures.accuracy_counts(base | (rng.random(400) < 0.3), [True] * 400)
    counts_b = figures.accuracy_counts(base, [True] * 400)
    clear = figures.compare([90.0, 90.2, 89.9], [80.0, 80.3, 80.1], counts_a, counts_b)
    assert clear["finding"] and abs(clear["difference"]) > clear["noise"] and figures.verdict(clear) == "finding"
    noisy_seeds = figures.compare([90.0, 85.0, 95.0], [88.0, 83.0, 93.0], counts_a, counts_b)
    assert not noisy_seeds["finding"] and figures.verdict(noisy_seeds) == "within noise"
    same_examples = figures.compare([90.0, 90.1, 90.2], [89.0, 89.1, 89.2], counts_b, counts_b)
    assert not same_examples["finding"]  # tight seeds, but the evaluation set cannot tell the arms apart
    pooled = figures.compare([90.0, 90.01, 90.02], [89.5, 89.51, 89.52], pooled_std=0.65)
    assert not pooled["finding"] and pooled["seed_noise"] == 1.3


def test_a_comparison_without_counts_to_resample_is_worded_by_the_seed_half_alone():
    seeds_only = figures.compare([90.0, 90.2, 89.9], [80.0, 80.3, 80.1])
    assert seeds_only["finding"] and figures.verdict(seeds_only) == "beyond seed noise"
    assert figures.verdict(figures.compare([90.0, 85.0, 95.0], [88.0, 83.0, 93.0])) == "within seed noise"


def test_a_bootstrap_interval_computed_elsewhere_takes_the_place_of_the_counts():
    given = figures.compare([90.0, 90.2, 89.9], [80.0, 80.3, 80.1], interval=(8.0, 12.0))
    assert given["finding"] and given["bootstrap_95"] == [8.0, 12.0] and given["noise"] == 2.0
    assert figures.verdict(given) == "finding"  # both halves of the rule, as with counts
    across_zero = figures.compare_fixed([90.0, 90.2, 89.9], 80.0, interval=(-1.0, 21.0))
    assert not across_zero["finding"] and across_zero["noise"] == 11.0 and across_zero["n"] == [3, 1]


def test_a_pooled_std_is_a_floor_not_a_replacement():
    noisy_pair = figures.compare([90.0, 86.0, 94.0], [89.0, 85.0, 93.0], pooled_std=0.5)
    assert noisy_pair["seed_std"] == 4.0  # the pair's own spread, larger than the setting's
    assert figures.compare([90.0, 90.01, 90.02], [89.5, 89.51, 89.52], pooled_std=0.65)["seed_std"] == 0.65


def test_a_trained_arm_against_a_deterministic_one():
    rng = np.random.default_rng(2)
    truth = rng.random(500) < 0.85
    counts_trained = figures.accuracy_counts(truth | (rng.random(500) < 0.5), [True] * 500)
    counts_probe = figures.accuracy_counts(truth, [True] * 500)
    clear = figures.compare_fixed([92.0, 92.4, 91.8], 85.0, counts_trained, counts_probe)
    assert clear["finding"] and clear["n"] == [3, 1] and clear["difference"] == 7.07
    inside = figures.compare_fixed([92.0, 86.0, 98.0], 90.0, counts_trained, counts_probe)
    assert not inside["finding"] and inside["seed_noise"] == 12.0
    with pytest.raises(ValueError, match="at least 3 seeds"):
        figures.compare_fixed([1.0, 2.0], 1.0)


def test_fewer_than_three_seeds_is_refused():
    with pytest.raises(ValueError, match="at least 3 seeds"):
        figures.compare([1.0, 2.0], [1.0, 2.0, 3.0])


def test_misread_catches_a_finding_inside_its_noise():
    report = {"levers": {"decay": {"difference": 0.3, "noise": 0.5, "finding": True, "bootstrap_95": [0.1, 0.6]}}}
    assert figures.misread(report) == ["levers.decay: a finding inside its noise (0.3 vs 0.5)"]
    report["levers"]["decay"]["finding"] = False
    assert figures.misread(report) == []


def test_a_deterministic_comparison_reads_the_bootstrap_alone():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    gold = rng.random(300)
    good, noisy = gold + 0.1 * rng.random(300), gold + 2.0 * rng.random(300)
    rho = lambda p, g: 100 * spearmanr(p, g).statistic
    interval = figures.bootstrap_statistic(rho, good, noisy, gold, rounds=200)
    clear = figures.compare_once(rho(good, gold), rho(noisy, gold), interval)
    assert clear["finding"] and clear["bootstrap_95"][0] > 0
    same = figures.compare_once(
        rho(good, gold), rho(good, gold), figures.bootstrap_statistic(rho, good, good, gold, 50)
    )
    assert not same["finding"] and same["difference"] == 0.0


def test_evaluation_counts_reproduce_the_metrics(encoder):
    """The counts the bootstrap resamples sum to the metric evaluate reports, for each kind."""
    import torch

    import mtl

    torch.manual_seed(0)
    model = mtl.MultiTaskModel(encoder, mtl.declare_tasks())
    for task in ("question_type", "ner"):
        inputs, labels = mtl.load_split(task, "dev")
        metrics, counts = mtl.evaluate_with_counts(model, task, inputs[:60], labels[:60])
        headline = "accuracy" if task == "question_type" else "f1"
        assert len(counts) == 60 and figures.metric(counts.sum(0)) == pytest.approx(metrics[headline])
        assert metrics == mtl.evaluate(model, task, inputs[:60], labels[:60])


def test_better_is_ahead_on_a_task_by_a_finding_and_behind_on_none():
    ahead, behind = {"finding": True, "difference": 1.2}, {"finding": True, "difference": -0.8}
    noise_up, noise_down = {"finding": False, "difference": 3.0}, {"finding": False, "difference": -3.0}
    assert figures.better({"sentiment": ahead, "ner": noise_down})
    assert not figures.better({"sentiment": ahead, "ner": behind})  # a finding against it vetoes
    assert not figures.better({"sentiment": noise_up, "ner": noise_up})  # within noise is no evidence either way
    assert not figures.better({})


def test_a_difference_that_only_rounding_separates_from_its_noise_is_not_a_finding():
    # seeds 1, 2, 3 against a fixed 0.58576: the difference 1.41424 exceeds twice the pooled std (1.41421) in the
    # sixth digit, and both are written 1.41
    comparison = figures.compare([1.0, 2.0, 3.0], [0.58576] * 3)
    assert comparison["difference"] == comparison["noise"] == 1.41
    assert not comparison["finding"] and figures.misread({"c": comparison}) == []
    assert figures.compare([1.0, 2.0, 3.0], [0.57] * 3)["finding"]  # 1.43 against 1.41: beyond it as written
