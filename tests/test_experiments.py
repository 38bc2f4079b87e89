"""The notebooks' experiment bookkeeping: an arm records each seed's dev figure and the summed per-example counts,
comparisons follow the noise rule, the choice rule keeps the reference unless a candidate is better on some task and
worse on none, a dev curve starts at step 0, and the records are JSON."""

import dataclasses
import json

import numpy as np
import pytest

import mtl
from mtl import experiments
from mtl.figures import accuracy_counts

GOLD = [i % 2 for i in range(400)]


def scored(correct: dict) -> dict:
    """One seed's `score` result for sentence tasks: {task: (metrics, counts)}, the first `correct[task]` of the 400
    dev examples right."""
    result = {}
    for task, n in correct.items():
        predicted = [g if i < n else 1 - g for i, g in enumerate(GOLD)]
        counts = accuracy_counts(GOLD, predicted)
        result[task] = ({"accuracy": 100 * n / len(GOLD), "macro_f1": 0.0}, counts)
    return result


def arm(exp, label, question_type, sentiment):
    """An arm of three seeds: the number of examples each seed gets right, per task."""
    return exp.record(label, [scored({"question_type": q, "sentiment": s}) for q, s in zip(question_type, sentiment)])


def test_an_arm_records_each_seed_and_sums_the_counts():
    exp = experiments.Experiments(dev_data={})
    record = arm(exp, "a", [360, 364, 368], [300, 300, 300])
    assert record["split"] == "dev" and record["metric"] == {"question_type": "accuracy", "sentiment": "accuracy"}
    assert record["scores"]["question_type"]["values"] == [90.0, 91.0, 92.0]
    assert record["scores"]["question_type"]["mean"] == 91.0 and record["scores"]["question_type"]["std"] == 1.0
    assert exp.counts["a"]["question_type"].sum(axis=0).tolist() == [1092, 1200]  # right, total over the 3 seeds
    assert exp.values("a", "sentiment") == [75.0, 75.0, 75.0]
    json.dumps(exp.arms)  # the report's JSON takes the records as they are


def test_versus_follows_the_noise_rule_and_the_pooled_std():
    exp = experiments.Experiments(dev_data={})
    arm(exp, "reference", [300, 301, 302], [300, 302, 304])
    arm(exp, "better", [360, 361, 362], [301, 303, 305])
    comparison = exp.versus("better", "reference")
    assert comparison["question_type"]["finding"] and comparison["question_type"]["difference"] == 15.0
    assert not comparison["sentiment"]["finding"]  # +0.25 with seeds 0.5 apart
    exp.pooled_std = {"question_type": 10.0}  # a setting whose runs spread by 10 points: 15 is inside its noise
    assert not exp.versus("better", "reference")["question_type"]["finding"]
    assert exp.versus("better", "reference", pooled=False)["question_type"]["finding"]


def test_the_choice_rule_keeps_the_reference_unless_a_candidate_is_better_and_worse_nowhere():
    exp = experiments.Experiments(dev_data={})
    arm(exp, "reference", [300, 301, 302], [300, 301, 302])
    arm(exp, "same", [300, 302, 301], [301, 300, 302])
    arm(exp, "trade", [360, 361, 362], [240, 241, 242])  # better on one task, worse on the other
    assert exp.choose("reference", ["same", "trade"])[0] == "reference"
    arm(exp, "better", [340, 341, 342], [300, 301, 302])
    arm(exp, "best", [360, 361, 362], [301, 302, 300])
    chosen, against = exp.choose("reference", ["same", "trade", "better", "best", "reference"])
    assert chosen == "best" and set(against) == {"same", "trade", "better", "best"}
    assert experiments.per_task(against["trade"]).startswith("question_type +15.00 (finding), sentiment -15.00")
    assert experiments.worded(against["same"]["sentiment"], 1) == "+0.0 (within noise)"


def test_pool_is_the_root_mean_square_of_the_arms_stds_and_skips_one_seed_arms():
    exp = experiments.Experiments(dev_data={})
    arm(exp, "a", [360, 364, 368], [300, 300, 300])  # question_type std 1.0
    arm(exp, "b", [360, 372, 384], [300, 300, 300])  # std 3.0
    exp.record("one seed", [scored({"question_type": 200, "sentiment": 100})])
    pooled = exp.pool(["a", "b", "one seed"])
    assert pooled["question_type"] == pytest.approx(np.sqrt((1 + 9) / 2), abs=0.01)
    assert pooled["sentiment"] == 0.25  # identical seeds: one example of the 400, the score's resolution
    assert exp.mean("one seed") == pytest.approx((50.0 + 25.0) / 2)


def test_a_curve_that_still_rises_is_moving_and_a_flat_one_is_not():
    def history(values):
        evals = [{"step": 10 * i, "question_type": {"accuracy": v}} for i, v in enumerate(values)]
        return {"eval": evals, "task_steps": {"question_type": 20}, "seconds": 1.0}

    exp = experiments.Experiments(dev_data={})
    rising = [history([50, 70, 80 + seed]) for seed in range(3)]
    flat = [history([50, 80 + seed, 80.5 + seed]) for seed in range(3)]
    for label, histories in (("rising", rising), ("flat", flat)):
        exp.record(label, [scored({"question_type": 320})] * 3, histories)
    assert exp.arms["rising"]["curve"][0] == {"step": 0, "dev": {"question_type": [50.0, 50.0, 50.0]}}
    assert exp.last_two("rising")["question_type"]["finding"]
    moved = exp.last_two("flat")["question_type"]
    assert not moved["finding"] and moved["steps"] == [10, 20] and moved["bootstrap_95"] is None
    exp.pooled_std = {"question_type": 6.0}  # a setting noisier than these three seeds: the floor applies
    assert not exp.last_two("rising")["question_type"]["finding"]


def test_plateau_is_the_first_step_after_which_the_score_stays_within_the_noise():
    points = [{"step": s, "dev": {"ner": v, "sentiment": w}} for s, v, w in
              [(100, 70, 80), (200, 85, 84), (300, 86.5, 88), (400, 86, 90), (500, 86.8, 92)]]  # fmt: skip
    assert experiments.plateau(points, {"ner": 1.0, "sentiment": 1.0}) == {"ner": 200 + 100, "sentiment": None}
    assert experiments.plateau(points, {"ner": 2.0, "sentiment": 12.0}) == {"ner": 200, "sentiment": 100}


def test_run_trains_each_seed_with_its_steps_and_scores_dev_from_step_0(sentiment_runs):
    data, make_model = sentiment_runs
    exp = experiments.Experiments(dev_data=data)
    config = mtl.TrainConfig(steps=99, batch_size=4, eval_every=2, head_lr=1e-2, warmup_ratio=0.0)
    record = exp.run("alone", make_model, data, config, seeds=(0, 1, 2), steps=lambda seed: 2 + 2 * seed, curve=True)
    assert record["steps"] == {"sentiment": [2, 4, 6]}
    assert [p["step"] for p in record["curve"]][:2] == [0, 2]  # the untrained model first
    assert record["scores"]["sentiment"]["n"] == 3 and exp.counts["alone"]["sentiment"].shape == (8, 2)
    assert "alone" not in exp.models  # not kept unless asked
    plain = exp.run("plain", make_model, data, dataclasses.replace(config, steps=2), seeds=(0,), keep=True)
    assert "curve" not in plain and len(exp.models["plain"]) == 1
    assert exp.histories["plain"][0]["eval"] == []  # no dev evaluation during training when no curve is asked for


def test_a_deterministic_arm_is_compared_by_the_trained_arms_seed_noise_and_two_by_the_bootstrap_alone():
    exp = experiments.Experiments(dev_data={})
    arm(exp, "trained", [360, 364, 368], [300, 300, 300])  # question_type 91.0 ± 1.0
    exp.record("probe", [scored({"question_type": 340, "sentiment": 300})], deterministic=True)  # 85.0
    exp.record("other probe", [scored({"question_type": 300, "sentiment": 300})], deterministic=True)  # 75.0
    ahead = exp.versus("trained", "probe")["question_type"]
    assert ahead["difference"] == 6.0 and ahead["seed_std"] == 1.0 and ahead["n"] == [3, 1] and ahead["finding"]
    behind = exp.versus("probe", "trained")["question_type"]  # the same comparison, turned round
    assert behind["difference"] == -6.0 and behind["n"] == [1, 3] and behind["finding"]
    assert behind["bootstrap_95"] == [-ahead["bootstrap_95"][1], -ahead["bootstrap_95"][0]]
    exp.pooled_std = {"question_type": 4.0}  # the setting's runs spread by 4: 6 points is inside twice that
    assert not exp.versus("trained", "probe")["question_type"]["finding"]
    probes = exp.versus("probe", "other probe")["question_type"]  # no seeds: the bootstrap alone, whatever the floor
    assert probes["difference"] == 10.0 and probes["seed_noise"] == 0.0 and probes["finding"]
    assert not exp.versus("probe", "other probe")["sentiment"]["finding"]  # the same predictions


def test_run_draws_each_seeds_data_where_train_data_is_a_function_of_the_seed():
    sentiment = mtl.Task("sentiment", "sentence", ["negative", "positive"])
    texts = ["a wonderful film", "dull and lifeless", "brilliant acting", "a tedious mess"]
    data = {"sentiment": (texts, ["positive", "negative"] * 2)}
    drawn = []

    def draw(seed):
        drawn.append(seed)
        return {"sentiment": (texts[: 2 + seed], data["sentiment"][1][: 2 + seed])}

    exp = experiments.Experiments(dev_data=data)
    config = mtl.TrainConfig(steps=1, batch_size=4, warmup_ratio=0.0)
    exp.run("few", lambda seed: mtl.MultiTaskModel(mtl.SentenceEncoder(device="cpu"), [sentiment]), draw, config)
    assert drawn == [0, 1, 2] and exp.arms["few"]["scores"]["sentiment"]["n"] == 3


def test_the_expected_calibration_error_is_the_weighted_gap_between_confidence_and_accuracy():
    assert experiments.expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == 0.0  # 90% sure, 90% right
    assert experiments.expected_calibration_error([1.0] * 4, [False] * 4) == 100.0  # sure and always wrong
    # half the predictions at 0.55 and all right (gap 0.45), half at 0.95 and half right (gap 0.45)
    confidences, correct = [0.55] * 4 + [0.95] * 4, [True] * 4 + [True, False] * 2
    assert experiments.expected_calibration_error(confidences, correct) == 45.0
    assert experiments.expected_calibration_error(confidences, correct, bins=1) == 0.0  # one bin: 75% vs 0.75


def test_direction_says_which_side_a_comparison_falls_on():
    exp = experiments.Experiments(dev_data={})
    arm(exp, "reference", [300, 301, 302], [300, 301, 302])
    arm(exp, "ahead", [340, 341, 342], [300, 302, 301])  # ahead on one task, within noise on the other
    arm(exp, "trade", [360, 361, 362], [240, 241, 242])
    assert experiments.direction(exp.versus("ahead", "reference")) == "better"
    assert experiments.direction(exp.versus("reference", "ahead")) == "worse"
    assert experiments.direction(exp.versus("trade", "reference")) == "mixed"
    assert experiments.direction(exp.versus("reference", "reference")) == "within noise"
    tasks = list(exp.arms["ahead"]["scores"])  # the arm moved by a finding on the first task only
    assert experiments.than(exp.versus("ahead", "reference"), "the probe") == (
        f"better than the probe on {tasks[0]} (within noise on {tasks[1]})"
    )
    assert experiments.than(exp.versus("trade", "ahead"), "it").startswith("ahead of it")
    arm(exp, "both", [340, 341, 342], [340, 341, 342])
    assert experiments.than(exp.versus("both", "reference"), "the probe") == "better than the probe"
    assert experiments.than(exp.versus("trade", "reference"), "it").startswith("ahead of it on one task and behind")


def test_per_class_draws_k_rows_of_each_class_and_the_seed_decides_which():
    data = {"sentiment": ([f"s{i}" for i in range(20)], ["positive"] * 17 + ["negative"] * 3)}
    drawn = experiments.per_class(data, 4, seed=0)["sentiment"]
    assert sorted(drawn[1]) == ["negative"] * 3 + ["positive"] * 4  # a class with fewer rows gives them all
    assert all(data["sentiment"][1][int(text[1:])] == label for text, label in zip(*drawn))  # rows stay paired
    assert drawn == experiments.per_class(data, 4, seed=0)["sentiment"]
    assert drawn != experiments.per_class(data, 4, seed=1)["sentiment"]


def test_calibration_errors_are_compared_by_the_seeds_and_a_bootstrap_over_the_examples():
    rng = np.random.default_rng(0)

    def run(confidence, accuracy, n=400):  # every prediction at one confidence, `accuracy` of them right
        return np.column_stack([np.full(n, confidence + rng.normal(0, 0.005)), rng.random(n) < accuracy])

    calibrated = [run(0.8, 0.8) for _ in range(3)]
    overconfident = [run(0.99, 0.8) for _ in range(3)]
    worse = experiments.compare_calibration(overconfident, calibrated)
    assert worse["difference"] > 15 and worse["finding"] and worse["bootstrap_95"][0] > 0
    same = experiments.compare_calibration(calibrated, [run(0.8, 0.8) for _ in range(3)])
    assert not same["finding"] and same["bootstrap_95"][0] < 0 < same["bootstrap_95"][1]
    probe = experiments.compare_calibration(overconfident, [calibrated[0]])  # a deterministic arm: one run
    assert probe["n"] == [3, 1] and probe["finding"]
