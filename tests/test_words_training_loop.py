"""mtl/words/training_loop.py: the sentences report 04 writes about its final models follow the figures they are given."""

import json
from pathlib import Path

import pytest

from mtl.words import training_loop as words04


def comparison(difference, noise, seed_noise, interval, finding=False):
    return {"difference": difference, "noise": noise, "seed_noise": seed_noise, "bootstrap_95": interval,
            "finding": finding}  # fmt: skip


def test_a_difference_is_told_apart_from_a_size_only_by_both_halves_of_the_rule():
    small = comparison(-0.17, 0.68, 0.66, (-0.6, 0.3))
    assert words04.told_apart(small, -2.15)  # 1.98 from -2.15, beyond both noises, and the interval excludes it
    assert not words04.told_apart(small, -0.5)  # inside the interval
    wide = comparison(-0.73, 2.66, 2.66, (-1.9, 0.5))
    assert not words04.told_apart(wide, -2.61)  # the interval excludes it, the seed noise does not
    assert not words04.told_apart(comparison(-0.17, 0.68, 0.66, None), -2.15)  # no bootstrap: cannot tell apart
    loose = comparison(-0.17, 0.68, 0.66, (-2.5, 0.3))
    assert not words04.told_apart(loose, -2.15)  # the noises exclude -2.15, the interval does not


def final(dev, test, alone_dev, sharing, steps=827, rows=14041, task="ner"):
    return words04.Final(
        arms={"final": {"scores": {task: {"mean": dev, "std": 0.3, "n": 3}}, "steps": {task: [steps] * 3}},
              "alone": {"scores": {task: {"mean": alone_dev, "std": 0.3, "n": 3}}}},
        arm="final", joint="final", alone={task: "alone"}, test={task: {"mean": test, "std": 0.4, "values": [test] * 3}},
        test_rows={task: 3453}, sharing={task: sharing}, moving={task: comparison(0.3, 0.68, 0.68, None)},
        pooled_std={task: 0.34}, steps=3000, batch_size=32, sizes={task: rows}, capitalised={"ner": (95.0, 10.0)},
        uncased=False,
    )  # fmt: skip


def test_a_ruled_out_sharing_cost_is_not_blamed_and_an_offset_the_probe_shares_is_not_put_on_the_models():
    f = final(90.82, 85.85, 90.99, comparison(-0.17, 0.68, 0.66, (-0.6, 0.3)))
    said = f.miss_sentence("ner")
    assert "ruled out as the whole cause" in said and "an estimated 86.0" in said  # 90.99 - 4.97
    assert "score 90.82 on this project's dev draw and 4.97 less on the reported split" in said
    assert "above the target" not in said  # a dev score is never set against a test target
    assert "not measured: a budget shown to be converged (1.9 epochs" in said  # 827 x 32 / 14,041
    f.probe = {"ner": {"dev": 67.47, "test": 60.5}}
    said = f.miss_sentence("ner")
    assert "the frozen-encoder probe moves the same way (67.47 to 60.50, -6.97), so the offset is not peculiar" in said
    f.probe, f.converged = {"ner": {"dev": 60.0, "test": 61.0}}, True
    said = f.miss_sentence("ner")
    assert "moves the other way (60.00 to 61.00, +1.00)" in said and "not peculiar" not in said
    assert "not measured" not in said


def test_the_case_lever_is_said_with_what_it_rules_out():
    f = final(90.82, 85.85, 90.99, comparison(-0.17, 0.68, 0.66, (-0.6, 0.3)))
    f.uncased, f.shapes = True, {"ner": comparison(0.34, 1.26, 1.0, (-0.2, 0.68))}
    assert (
        "a cased encoder (a case feature given to the head moved dev F1 +0.3 (within noise) in shorter runs"
        in f.miss_sentence("ner")
    )
    # 2.15 is outside both noises
    assert "ruling out a gain as large as the miss from that feature)" in f.miss_sentence("ner")
    f.shapes = {"ner": comparison(0.34, 2.5, 2.5, (-1.0, 2.4))}
    assert "not ruling out a gain as large as the miss from that feature)" in f.miss_sentence("ner")
    f.shapes_settings = {"steps": 600, "dev_rows": {"ner": 3250}}
    assert "95% of the dev entity words start with a capital against 10% of the others" in f.why_missed("ner")
    assert "so a gain as large as the miss from that feature is not ruled out" in f.why_missed("ner")


def test_a_sharing_cost_within_noise_is_not_ruled_out_and_the_budget_is_named():
    f = final(85.2, 87.39, 85.93, comparison(-0.73, 2.66, 2.66, (-1.9, 0.5)), steps=1660, rows=55359,
              task="sentiment")  # fmt: skip
    said = f.miss_sentence("sentiment")
    assert "score 85.20 on this project's dev draw and 2.19 more on the reported split" in said
    assert "not ruled out as the whole cause (joint minus alone -0.73, noise ±2.66, as wide as the miss)" in said
    assert "though at the point estimates the task trained alone would also fall short, at an estimated 88.1" in said
    # the published figure stands beside the estimate, not as its explanation (another checkpoint, another recipe)
    assert "published: 91.5, MiniLM-L6xH384, an encoder of this size, fine-tuned on SST-2 alone, 3.4 above" in said
    assert "point to" not in said
    narrow = final(85.2, 87.39, 85.93, comparison(-1.5, 1.6, 1.6, (-2.8, 0.1)), steps=1660, rows=55359,
                   task="sentiment").miss_sentence("sentiment")  # fmt: skip
    assert "noise ±1.60)" in narrow and "as wide as the miss" not in narrow  # 1.60 is narrower than the 2.61 miss
    assert "1.0 epochs" in said  # 1,660 updates of 32 rows over 55,359 rows
    assert f.missed() == ["sentiment"] and not f.met("sentiment")


def test_a_measured_sharing_cost_is_named_as_one():
    said = final(86.0, 85.0, 89.0, comparison(-3.0, 1.0, 0.8, (-4.0, -2.0), finding=True)).miss_sentence("ner")
    assert "sharing the encoder costs it -3.0 (finding)" in said


@pytest.mark.parametrize("mean, words", [
    (96.53, "met by its mean, 0.03 above, less than one of its 500 test examples, 0.20 points; 1 of 3 seeds below; "
            "within the test set's sampling error (±1.6), so met only nominally"),
    (96.35, "missed by its mean, 0.15 below, less than one of its 500 test examples, 0.20 points; 1 of 3 seeds below; "
            "within the test set's sampling error (±1.6), so missed only nominally"),
    # one example's worth: the clause is left out
    (96.3, "missed by its mean, 0.20 below; 1 of 3 seeds below; within the test set's sampling error (±1.7), so "
           "missed only nominally"),
    # beyond one seed std but within the test set's sampling error: still nominal
    (97.5, "met, within the test set's sampling error (±1.4), so met only nominally"),
    (95.0, "missed, within the test set's sampling error (±1.9), so missed only nominally"),
    (99.5, "met"), (92.0, "missed")])  # fmt: skip
def test_a_target_within_one_seed_std_is_met_or_missed_only_by_its_mean(mean, words):
    f = final(90.0, mean, 90.0, comparison(0.0, 1.0, 1.0, (-1.0, 1.0)), task="question_type")
    f.test["question_type"].update(std=0.46, values=[96.0, 96.6, 97.0])
    f.test_rows["question_type"] = 500
    assert f.met_words("question_type") == words


def test_the_longer_run_is_said_without_a_same_rows_clause_when_no_task_is_scored_on_every_row():
    f = final(90.82, 85.85, 90.99, comparison(-0.17, 0.68, 0.66, (-0.6, 0.3)))
    f.long_run, f.stops = {"settings": {"steps": 6000}, "curve": [{"dev": {"ner": 91.5}}]}, {"ner": 4000}
    said = f.why_missed("ner")
    assert "it ends 0.68 above the final models' dev mean, but it is one seed on other rows, so no direction" in said
    assert "(one seed can land" not in said  # no task is scored on every row: nothing to show it by
    f.same_rows = ["ner"]
    assert "it ends 0.68 above the final models' dev mean (one seed, scored on the same rows)" in f.why_missed("ner")


def test_section_7_lists_each_miss_with_one_measurement_a_line():
    f = final(90.82, 85.85, 90.99, comparison(-0.17, 0.68, 0.66, (-0.6, 0.3)))
    lines = f.misses().splitlines()
    assert lines[0] == "Missed, with what was measured about each:" and lines[1] == ""
    assert lines[2] == "- **CoNLL-2003 test entity F1**, 85.85 against 88.0, short by 2.15:"
    assert lines[3].startswith("  - The final models score 90.82 on this project's dev draw") and all(
        line.startswith("  - ") and line.endswith(".") for line in lines[3:]
    )
    assert final(90.0, 90.0, 90.0, comparison(0.0, 1.0, 1.0, (-1.0, 1.0))).misses() == "Every target is met."


def test_the_committed_takeaways_section_3_and_rows_are_rebuilt_from_the_committed_json():
    root = Path(__file__).resolve().parents[1]
    figures = json.loads((root / "reports" / "04_training_loop.json").read_text())
    notebook = json.loads((root / "notebooks" / "04_training_loop.ipynb").read_text())
    shown = "\n".join("".join(output["data"]["text/markdown"]) for cell in notebook["cells"]
                      for output in cell.get("outputs", []) if "text/markdown" in output.get("data", {}))  # fmt: skip
    takeaways = words04.rates_takeaways(figures)
    assert len(takeaways) == 3
    for text in takeaways:
        assert f"- {text}" in shown
    grid, seeds = len(figures["rates"]["grid_ranking"]), len(figures["settings"]["seeds"])
    assert words04.convergence_words(figures["rates"], figures["convergence"], grid, seeds) in shown
    assert words04.rows(figures) == figures["rows"]
    final = words04.Final.from_figures(figures)
    assert f"- {final.takeaway()}" in shown  # the first screen's first bullet, with each miss
    assert final.misses() in shown  # section 7
    assert final.figures() == {k: v for k, v in figures["misses"].items() if k in final.missed()}


def test_a_learning_rate_is_written_as_people_write_it():
    assert words04.lr(2e-4) == "2e-4"
    assert words04.lr(1e-3) == "1e-3"
    assert words04.lr(5e-5) == "5e-5"
    assert words04.lr(1.5e-4) == "1.5e-4"  # two settings a digit apart never share a label


def test_capitalised_shares_are_counted_inside_and_outside_entities():
    words = [["Paris", "is", "in", "France"], ["the", "UN", "met"]]
    tags = [["B-LOC", "O", "O", "B-LOC"], ["O", "B-ORG", "O"]]
    assert words04.capitalised((words, tags)) == (100.0, 0.0)
    assert words04.capitalised(([["Ok", "paris"]], [["O", "B-LOC"]])) == (0.0, 100.0)


def test_final_is_rebuilt_from_the_record_it_writes_to_the_json():
    f = final(90.82, 85.85, 90.99, comparison(-0.17, 0.68, 0.66, (-0.6, 0.3)))
    f.uncased, f.probe, f.stops = True, {"ner": {"dev": 67.47, "test": 60.5}}, {"ner": 4000}
    f.shapes, f.shapes_settings = (
        {"ner": comparison(0.34, 1.26, 1.0, (-0.2, 0.68))},
        {"steps": 600, "dev_rows": {"ner": 3250}},
    )
    f.long_run = {"settings": {"steps": 6000, "seed": 0}, "curve": [{"dev": {"ner": 80.0}}, {"dev": {"ner": 91.5}}]}
    figures = {"arms": f.arms, "final": {"arm": f.arm, "config": {"batch_size": f.batch_size}},
               "tasks": {"ner": {"final": f.test["ner"]}}, "sharing": {"joint_minus_alone": f.sharing},
               "convergence": {"final_last_two": f.moving, "steps": f.steps, "converged": f.converged},
               "settings": {"train_sizes": f.sizes}, "misses": {"word_shapes_for_ner": {"minus_none": f.shapes}},
               "targets": f.record()}  # fmt: skip
    again = words04.Final.from_figures(json.loads(json.dumps(figures)))  # tuples come back as lists
    assert "it ends 0.68 above the final models' dev mean" in f.why_missed("ner")
    assert (again.takeaway(), again.misses(), again.figures()) == (f.takeaway(), f.misses(), f.figures())


def rates_and_convergence(stops):
    effect = {n: comparison(-0.1, 1.0, 1.0, (-1.0, 0.8)) for n in stops}
    setting = {"encoder_lr": 2e-4, "layer_decay": 1.0}
    rates = {"candidate_minus_reference": effect, "grid_sign_kept": [], "chosen": setting, "reference": setting,
             "candidate": {"encoder_lr": 4e-4, "layer_decay": 0.8}, "grid_winner_kept": False, "mean_dev_lead": -0.1,
             "pooled_seed_std": {n: 0.5 for n in stops}}  # fmt: skip
    convergence = {"steps": 3000, "reference_still_moving": [], "candidate_still_rising": {}, "converged": False,
                   "pair_minutes": 68.15, "long_run": {"settings": {**setting, "steps": 6000}, "stops_at": stops}}  # fmt: skip
    return rates, convergence


def test_section_3_says_which_tasks_the_longer_run_never_settles_and_what_a_longer_budget_would_cost():
    said = words04.convergence_words(*rates_and_convergence({"question_type": 4500, "ner": None}), 9, 3)
    assert "question_type at step 4,500 (tolerance ±1.00), ner never within the run (tolerance ±1.00)" in said
    assert "3,000 steps is short of where it stops on question_type (step 4,500); it never stops on ner." in said
    assert "it would take about 102 minutes, at least (the longer run never stops on ner)" in said  # 68.15 x 1.5
    said = words04.convergence_words(*rates_and_convergence({"question_type": 2000, "ner": 2500}), 9, 3)
    assert "3,000 steps is past each." in said and "it would take" not in said
