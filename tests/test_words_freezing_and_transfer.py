"""mtl/words/freezing_and_transfer.py: report 03's first screen and closing words follow its figures, and can be rebuilt from the
committed JSON alone."""

import json
from pathlib import Path

import pytest

from mtl.words import freezing_and_transfer as words03

ROOT = Path(__file__).resolve().parents[1]


def test_sampling_error_is_half_the_95_percent_binomial_interval_in_points():
    assert words03.sampling_error(90.0, 500) == pytest.approx(2.63, abs=0.005)
    assert words03.sampling_error(50.0, 100) == pytest.approx(9.8, abs=0.005)
    assert words03.sampling_error(100.0, 500) == 0.0


def test_freezing_a_head_is_worded_by_the_sign_and_the_finding():
    assert words03.head_words({"difference": -1.2, "finding": True}) == "costs Task A accuracy"
    assert words03.head_words({"difference": 0.8, "finding": True}) == "gains Task A accuracy"
    assert "within noise" in words03.head_words({"difference": -3.0, "finding": False})


def committed():
    figures = json.loads((ROOT / "reports" / "03_freezing_and_transfer.json").read_text())
    long_run = json.loads((ROOT / "reports" / "long_run.json").read_text())
    notebook = json.loads((ROOT / "notebooks" / "03_freezing_and_transfer.ipynb").read_text())
    shown = [
        "".join(output["data"]["text/markdown"])
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        if "text/markdown" in output.get("data", {})
    ]
    return figures, long_run, "\n".join(shown)


def section_words(figures, long_run):
    """Every section's generated sentences, (text, details) pairs, rebuilt from the JSON as the notebook builds
    them; and section 2's budget clause, which the first screen quotes."""
    roles, arms, settings = figures["roles"], figures["arms"], figures["settings"]
    last_two, steps = figures["convergence"]["last_two"], figures["convergence"]["steps"]
    sizes = settings["sizes"]["train"]
    section_2 = [roles[k] for k in ("reference", "heads_only", "head_frozen", "head_trained")]
    compared = ("probes, mpnet minus MiniLM", "fine-tuned, equal time: mpnet minus MiniLM",
                "fine-tuned, equal steps: mpnet minus MiniLM", "mpnet probe minus fine-tuned MiniLM")  # fmt: skip
    few = figures["few_labels"]["fine_tuned_minus_probe"]
    probes = {label.split(", ")[1].split()[0]: arm for label, arm in arms.items() if label.startswith("probe, ")}
    budget, *convergence = words03.convergence_words(figures["convergence"], arms, section_2, long_run, sizes,
                                                      settings["config"])  # fmt: skip
    return budget, {
        "convergence": convergence,
        "backbone": words03.backbone_words(figures["backbone_frozen"], arms[roles["reference"]],
                                            arms[roles["heads_only"]], arms[roles["probe"]],
                                            settings["config"]["head_lr"], steps, last_two[roles["heads_only"]]),
        "one head": words03.one_head_words(figures["one_head_frozen"], roles["reference"], roles["head_trained"],
                                            last_two[roles["reference"]]),
        "choice": words03.choice_words(figures["model_choice"], {k: figures["model_choice"][k] for k in compared},
                                        arms, roles, steps, settings["seeds"],
                                        figures["whole_network_frozen"]["chance"]),
        "unfreezing": (words03.unfreezing_words(figures["unfreezing"], arms, last_two, roles["reference"], steps,
                                                 list(sizes)), ""),
        "few labels": words03.few_label_words(few, {k: last_two[f"{k} per class"] for k in few}, probes,
                                               arms[roles["probe"]], sizes),
    }  # fmt: skip


def test_every_committed_section_sentence_is_rebuilt_from_the_committed_json():
    figures, long_run, shown = committed()
    _, sections = section_words(figures, long_run)
    for section, (text, more) in sections.items():
        assert text in shown, section
        assert more in shown, section  # "" where a section folds no details


def test_the_committed_first_screen_is_rebuilt_from_the_committed_json():
    figures, long_run, shown = committed()
    budget, _ = section_words(figures, long_run)
    takeaways = words03.Words(figures, long_run, budget).takeaways()
    assert len(takeaways) == 6  # the budget, then one per question the notebook answers
    for short, more in takeaways:
        assert f"- {short}" in shown
        assert more in shown


def test_the_committed_closing_words_are_rebuilt_from_the_committed_json():
    figures, long_run, shown = committed()
    text, more, title = words03.Words(figures, long_run, budget="").tested()
    assert text in shown and more in shown and title in shown


def test_the_committed_results_rows_are_rebuilt_from_the_committed_json():
    figures, long_run, _ = committed()
    assert words03.Words(figures, long_run, budget="").rows() == figures["rows"]


def test_every_seed_that_ends_near_chance_is_named():
    tuned, mini, reference = "mpnet tuned", "MiniLM short", "reference"
    roles = {"minilm": "MiniLM", "mpnet": "mpnet", "mp_tuned": tuned, "mini_steps": mini, "reference": reference}
    c = {"encode_sentences_per_s": {"MiniLM": 300.0, "mpnet": 40.0}, "step_seconds": {"MiniLM": 0.2, "mpnet": 1.2},
         "equal_time_steps": 150, "time_share": 1.0, "equal_time": True, "rule": [], "pick": reference,
         "names": {tuned: "mpnet fine-tuned", mini: "MiniLM, 150 steps", reference: "MiniLM fine-tuned"},
         "MiniLM at mpnet's steps minus MiniLM at the budget": {},
         "mpnet fine-tuned minus its own probe": {}}  # fmt: skip
    arms = {tuned: {"seconds": 90.0, "scores": {"trec": {"values": [20.0, 21.5, 80.0]}}},
            mini: {"seconds": 30.0, "scores": {"trec": {"values": [70.0, 71.0, 72.0]}}},
            reference: {"seconds": 180.0}}  # fmt: skip
    _, text = words03.choice_words(c, {}, arms, roles, 900, (0, 1, 2), {"trec": 16.7})
    said = "2 seeds of mpnet fine-tuned ended near chance on trec (20.0, 21.5; chance 16.7; the other seeds 80.0)"
    assert said in text
    assert "MiniLM, 150 steps ended near chance" not in text


def test_what_a_variant_trains_is_said_from_its_change_to_the_reference():
    same = "every layer but the word embeddings, as the reference"
    assert words03.unfrozen({}, 2e-4, 6) == same
    assert words03.unfrozen({"freeze": ("embeddings",)}, 2e-4, 6) == same
    assert words03.unfrozen({"freeze": ()}, 2e-4, 6) == "every layer, the word embeddings too"
    assert words03.unfrozen({"freeze": ("embeddings", "layer.0", "layer.1", "layer.2", "layer.3")}, 2e-4, 6) == (
        "the top 2 layers only (the word embeddings and the bottom 4 frozen)"
    )
    assert (
        words03.unfrozen({"encoder_lr": 1e-4}, 2e-4, 6) == f"{same}, with the encoder rate lowered from 2e-4 to 1e-4"
    )
    assert words03.unfrozen({"encoder_lr": 5e-4}, 2e-4, 6) == f"{same}, with the encoder rate raised from 2e-4 to 5e-4"
