"""Every committed report's figures agree with each other (a ratio is the quotient of its two figures, a mean the mean
of its values), every figure the README table quotes exists, and a tampered copy is caught."""

import copy
import json
import re
from pathlib import Path

import pytest

from mtl import report
from mtl.figures import comparisons

ROOT = Path(__file__).resolve().parent.parent
REPORTS = sorted((ROOT / "reports").glob("*.json"))


def committed(name: str) -> dict:
    return json.loads((ROOT / "reports" / f"{name}.json").read_text())


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.stem)
def test_committed_report_figures_agree_with_each_other(path):
    figures = json.loads(path.read_text())
    assert report.relations(path.stem, figures) or list(comparisons(figures)), "nothing checked"
    assert report.problems(path.stem, figures) == []


@pytest.mark.parametrize(
    "name, path, value",
    [
        ("01_sentence_encoder", "speed.fp32.speedup_vs_sentence_transformers", 3.285),  # a committed speed-up
        ("01_sentence_encoder", "fast_path.speedup_vs_sentence_transformers", 9.9),
        ("02_multitask_heads", "separate_models_vs_multitask", 1.0),
        (
            "03_freezing_and_transfer",
            "against_reference.same architecture, random weights.question_type.difference",
            0.0,
        ),
        ("benchmark", "encode.this project, int8 (OpenVINO).batch 32.ratio_to_sentence_transformers", 3.5),
        ("benchmark", "fast_path_profile.speedup_bound_if_weight_products_took_no_time", 99.0),
        ("fast_path_levers", "levers.static int8 (NNCF).batch 128.ratio_to_sentence_transformers", 2.0),
    ],
)
def test_a_tampered_figure_is_caught(name, path, value):
    figures = copy.deepcopy(committed(name))
    *parents, key = path.split(".")
    (report.lookup(figures, ".".join(parents)) if parents else figures)[key] = value
    assert report.problems(name, figures)
    with pytest.raises(ValueError, match="not written, its figures disagree"):
        report.write_report(name, figures)


@pytest.mark.parametrize("name", ["03_freezing_and_transfer", "04_training_loop"])
def test_a_difference_within_its_noise_called_a_finding_is_caught(name):
    figures = copy.deepcopy(committed(name))
    _, within = next((p, c) for p, c in comparisons(figures) if abs(c["difference"]) <= c["noise"])
    within["finding"] = True
    assert report.problems(name, figures)
    with pytest.raises(ValueError, match="not written, its figures disagree"):
        report.write_report(name, figures)


def test_a_missing_figure_is_a_problem_not_a_crash():
    figures = committed("02_multitask_heads")
    del figures["predict_seconds"]
    assert "missing" in report.problems("02_multitask_heads", figures)[0]


def test_rounding_is_allowed_for_but_nothing_more():
    figures = {"flops": {"encoder_gflop_per_s": 151.2, "matmul_1024_gflop_per_s": 199.3, "share_of_matmul_peak": 0.76}}
    rows = ["1 task(s)", "1 task(s), int8 encoder"]
    predict = {row: {"seconds": 1.0, "ratio_to_1_task": 1.0} for row in rows}
    predict |= {f"{row}, whitespace words, argmax tags": {"seconds": 1.0, "ratio_to_1_task": 1.0} for row in rows}
    processes = {f"{n} process(es)": {"sentences_per_s": 10.0, "ratio_to_1_process": 1.0} for n in (1, 2)}
    figures.update(encode={}, predict=predict, predict_raw_text_cost={"fp32": 1.0, "int8": 1.0})
    figures["training_processes"] = processes
    stages = {"tokenisation": 0.1631, "OpenVINO graph": 1.9417, "pooling and normalisation": 0.009}
    figures["fast_path_profile"] = {  # 6.855 / (2.1138 - 1.9417 * 0.76): 0.76 may be 0.755..0.765
        "seconds": stages,
        "total_seconds": 2.1137,
        "weight_products_share_of_graph": 0.76,
        "sentence_transformers_seconds": 6.855,
        "speedup_bound_if_weight_products_took_no_time": 10.75,
    }
    assert report.problems("benchmark", figures) == []  # 151.2 / 199.3 = 0.7587, written as 0.76
    figures["fast_path_profile"]["speedup_bound_if_weight_products_took_no_time"] = 11.5  # beyond what 0.76 allows
    assert report.problems("benchmark", figures)
    figures["fast_path_profile"]["speedup_bound_if_weight_products_took_no_time"] = 10.75
    figures["flops"]["share_of_matmul_peak"] = 0.77
    assert report.problems("benchmark", figures)


VERDICT = re.compile(r"([+-]\d+\.(\d+)) (?:points )?\((finding|within noise)\)")


@pytest.mark.parametrize("name", ["03_freezing_and_transfer", "04_training_loop"])
def test_the_prose_calls_a_finding_only_what_the_figures_flag(name):
    """Every "+d.d (finding)" or "(within noise)" the notebook's generated prose quotes (the summary and each
    section's reading) is a comparison in its JSON with that difference, as rounded in the prose, and that flag."""
    notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    flags = [(c["difference"], c["finding"]) for _, c in comparisons(committed(name))]
    quoted = [
        (value, len(decimals), verdict == "finding")
        for cell in notebook["cells"] if cell["cell_type"] == "code"
        for output in cell["outputs"]
        for value, decimals, verdict in VERDICT.findall("".join(output.get("data", {}).get("text/markdown", "")))
    ]  # fmt: skip
    assert len(quoted) > 10
    unmatched = [
        q for q in quoted if not any(f"{d:+.{q[1]}f}" == q[0] and finding == q[2] for d, finding in flags)
    ]  # fmt: skip
    assert unmatched == []
