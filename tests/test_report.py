"""Every committed report's figures agree with each other (a ratio is the quotient of its two figures, a mean the mean
of its values), every figure the README table quotes exists, and a tampered copy is caught."""

import copy
import json
from pathlib import Path

import pytest

from mtl import report
from mtl.figures import QUOTED, comparisons, misread, unbacked

ROOT = Path(__file__).resolve().parent.parent
REPORTS = sorted((ROOT / "reports").glob("*.json"))


def committed(name: str) -> dict:
    return json.loads((ROOT / "reports" / f"{name}.json").read_text())


# The notebooks compute every derived figure with mtl.figures (ratio, seed_summary, compare), so a figure agrees with
# its operands by construction. These relations recheck the committed JSON of the reports that quote derived figures
# outside a comparison, within the rounding each written figure allows.


def _half_unit(x: float) -> float:
    """Half a unit in the last decimal written: how far rounding may have moved x."""
    text = repr(float(x))
    if "e" in text:
        return abs(x) * 1e-12
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals


def _ratio(ratio: float, numerator: float, denominator: float) -> tuple[float, float]:
    """The quotient, and the tolerance that the rounding of all three figures allows."""
    quotient = numerator / denominator
    return quotient, _half_unit(ratio) + abs(quotient) * (
        _half_unit(numerator) / abs(numerator) + _half_unit(denominator) / abs(denominator)
    )


def _at(figures: dict, path):
    """report.lookup for "a.b", or the keys themselves where a key holds a dot (a peer row names its version)."""
    return report.lookup(figures, path) if isinstance(path, str) else _walk(figures, path)


def _walk(figures, keys: tuple):
    for key in keys:
        figures = figures[key]
    return figures


def _ratio_check(figures: dict, checks: list, what: str, path, numerator: float, denominator: float) -> None:
    value = _at(figures, path)
    expected, tolerance = _ratio(value, numerator, denominator)
    checks.append((what, value, expected, tolerance))


def _encoder_01(figures: dict, checks: list) -> None:
    """Notebook 01: each speed-up is the quotient of its rate and sentence-transformers' in the same rounds."""
    rows = [f"speed.{name}" for name, row in figures["speed"].items() if isinstance(row, dict)]
    for row in [*rows, "fast_path", "per_batch_recipe"]:
        reference = row.split(".")[0]
        st = report.lookup(figures, f"{reference}.sentence_transformers_sentences_per_s")
        rate = report.lookup(figures, f"{row}.sentences_per_s")
        _ratio_check(figures, checks, f"{row} speed-up", f"{row}.speedup_vs_sentence_transformers", rate, st)


def _heads_02(figures: dict, checks: list) -> None:
    """Notebook 02: the predict-time ratios."""
    seconds = figures["predict_seconds"]
    _ratio_check(
        figures,
        checks,
        "all tasks vs one",
        "predict_all_tasks_vs_one_task",
        seconds["one model, all tasks"],
        seconds["one model, one task"],
    )
    _ratio_check(
        figures,
        checks,
        "separate vs one model",
        "separate_models_vs_multitask",
        seconds["separate single-task models"],
        seconds["one model, all tasks"],
    )
    if "predict_token_task_vs_one_task" in figures:  # reports rendered before the token task's own ratio lack it
        _ratio_check(
            figures,
            checks,
            "token task alone vs one",
            "predict_token_task_vs_one_task",
            seconds["one model, the token task alone"],
            seconds["one model, one task"],
        )


def _levers(figures: dict, checks: list) -> None:
    """The fast path's levers: each ratio against sentence-transformers timed in the same rounds."""
    for lever, batches in figures["levers"].items():
        for batch, row in batches.items():
            if batch != "unavailable":
                _ratio_check(
                    figures,
                    checks,
                    f"{lever}, {batch}",
                    f"levers.{lever}.{batch}.ratio_to_sentence_transformers",
                    row["sentences_per_s"],
                    row["sentence_transformers_sentences_per_s"],
                )


def _benchmark(figures: dict, checks: list) -> None:
    """make bench: every ratio against its reference row (encode, predict, raw-text cost, training processes)."""
    for engine, batches in figures["encode"].items():
        for batch, row in batches.items():
            if batch != "unavailable":
                st = figures["encode"]["sentence-transformers (torch)"][batch]["sentences_per_s"]
                _ratio_check(
                    figures,
                    checks,
                    f"{engine} {batch}",
                    ("encode", engine, batch, "ratio_to_sentence_transformers"),
                    row["sentences_per_s"],
                    st,
                )
    _per_run(figures, checks)
    one = figures["predict"]["1 task(s)"]["seconds"]
    for row_name, row in figures["predict"].items():
        _ratio_check(
            figures, checks, f"predict {row_name}", f"predict.{row_name}.ratio_to_1_task", row["seconds"], one
        )
    n = max(int(row.split()[0]) for row in figures["predict"] if row.endswith("task(s)"))
    for engine, row in (("fp32", f"{n} task(s)"), ("int8", f"{n} task(s), int8 encoder")):
        before = figures["predict"][f"{row}, whitespace words, argmax tags"]["seconds"]
        _ratio_check(
            figures,
            checks,
            f"raw text {engine}",
            f"predict_raw_text_cost.{engine}",
            figures["predict"][row]["seconds"],
            before,
        )
    one_process = figures["training_processes"]["1 process(es)"]["sentences_per_s"]
    for row_name, row in figures["training_processes"].items():
        _ratio_check(
            figures,
            checks,
            f"training {row_name}",
            f"training_processes.{row_name}.ratio_to_1_process",
            row["sentences_per_s"],
            one_process,
        )


def _per_run(figures: dict, checks: list) -> None:
    """make bench: each run's ratios against the same run's reference: every encode row against sentence-transformers,
    the fast path against the fastest peer it names, each training row against fp32 with random batches; and each
    training row's share of the matmul peak in its dtype."""
    encode = figures["encode"]
    for engine, batches in encode.items():
        for batch, row in batches.items():
            if batch != "unavailable":
                for run, speed in enumerate(row["sentences_per_s_by_run"]):
                    st = encode["sentence-transformers (torch)"][batch]["sentences_per_s_by_run"][run]
                    path = ("encode", engine, batch, "ratio_to_sentence_transformers_by_run")
                    _ratio_run(figures, checks, path, run, speed, st)
    for batch, versus in figures["peers_vs_fast_path"].items():
        fast = encode["this project, int8 (OpenVINO)"][batch]["sentences_per_s_by_run"]
        for label in ("equal_quality", "any_quality"):
            for run, peer in enumerate(versus[label]["fastest_peer_by_run"]):
                peer_speed = encode[peer][batch]["sentences_per_s_by_run"][run]
                _ratio_run(
                    figures, checks, f"peers_vs_fast_path.{batch}.{label}.ratio_by_run", run, fast[run], peer_speed
                )
    precision = figures["training_precision"]
    reference = precision["rows"]["fp32, random batches"]
    for name, row in precision["rows"].items():
        path = f"training_precision.rows.{name}"
        _ratio_check(
            figures, checks, name, f"{path}.ratio_to_fp32_random", row["sentences_per_s"], reference["sentences_per_s"]
        )
        for run, speed in enumerate(row["sentences_per_s_by_run"]):
            base = reference["sentences_per_s_by_run"][run]
            _ratio_run(figures, checks, f"{path}.ratio_to_fp32_random_by_run", run, speed, base)
        dtype = name.split(",")[0]
        peak = precision["matmul_peak_gflop_per_s"][dtype]
        _ratio_check(
            figures, checks, f"{name} share", f"{path}.share_of_{dtype}_matmul_peak", row["training_gflop_per_s"], peak
        )


def _ratio_run(figures: dict, checks: list, path, run: int, numerator: float, denominator: float) -> None:
    value = _at(figures, path)[run]
    expected, tolerance = _ratio(value, numerator, denominator)
    checks.append((f"{path}[{run}]", value, expected, tolerance))


def _benchmark_profile(figures: dict, checks: list) -> None:
    """make bench: the fast-path profile's stages add up, its bound follows from them, and the FLOP share."""
    profile = figures["fast_path_profile"]
    total = sum(profile["seconds"].values())
    stages_error = sum(_half_unit(t) for t in profile["seconds"].values())  # each stage's rounding
    checks.append(("fast path stages", profile["total_seconds"], total,
                   _half_unit(profile["total_seconds"]) + stages_error))  # fmt: skip
    graph, share = profile["seconds"]["OpenVINO graph"], profile["weight_products_share_of_graph"]
    rest, st = total - graph * share, profile["sentence_transformers_seconds"]
    rest_error = stages_error + graph * _half_unit(share) + share * _half_unit(graph)
    bound = profile["speedup_bound_if_weight_products_took_no_time"]
    tolerance = _half_unit(bound) + st / rest * (_half_unit(st) / st + rest_error / rest)
    checks.append(("fast path bound", bound, st / rest, tolerance))
    flops = figures["flops"]
    _ratio_check(
        figures,
        checks,
        "share of matmul peak",
        "flops.share_of_matmul_peak",
        flops["encoder_gflop_per_s"],
        flops["matmul_1024_gflop_per_s"],
    )


def _long_run(figures: dict, checks: list) -> None:
    """scripts/long_run.py: the last evaluation's epochs per task are its steps on that task times the batch size over
    the task's training rows (the run ends at an evaluation)."""
    last = figures["curve"][-1]
    checks.append(("the last evaluation's step", last["step"], figures["settings"]["steps"], 0))
    for task, steps in figures["task_steps"].items():
        epochs = steps * figures["settings"]["batch_size"] / figures["train_rows"][task]
        checks.append((f"{task} epochs", last["epochs"][task], epochs, _half_unit(last["epochs"][task])))


RELATIONS = {
    "01_sentence_encoder": [_encoder_01],
    "02_multitask_heads": [_heads_02],
    "fast_path_levers": [_levers],
    "benchmark": [_benchmark, _benchmark_profile],
    "long_run": [_long_run],
}


def relations(name: str, figures: dict) -> list[tuple[str, float, float, float]]:
    """(what, recorded value, value recomputed from other figures, tolerance) for every relation of a report."""
    checks = []
    for check in RELATIONS.get(name, []):
        check(figures, checks)
    return checks


def relation_problems(name: str, figures: dict) -> list[str]:
    """Every relation of a committed report that its figures break, in words, and every misread comparison."""
    try:
        checks = relations(name, figures)
    except (KeyError, TypeError, ZeroDivisionError) as err:
        return [f"a figure a relation needs is missing or not a number ({type(err).__name__}: {err})"]
    return [
        f"{what}: recorded {value}, recomputed {expected:.6g} (allowed difference {tolerance:.2g})"
        for what, value, expected, tolerance in checks
        if not abs(value - expected) <= tolerance
    ] + misread(figures)


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.stem)
def test_committed_report_figures_agree_with_each_other(path):
    figures = json.loads(path.read_text())
    assert relations(path.stem, figures) or list(comparisons(figures)), "nothing checked"
    assert relation_problems(path.stem, figures) == []


@pytest.mark.parametrize(
    "name, path, value",
    [
        ("01_sentence_encoder", "speed.fp32.speedup_vs_sentence_transformers", 3.285),  # a committed speed-up
        ("01_sentence_encoder", "fast_path.speedup_vs_sentence_transformers", 9.9),
        ("02_multitask_heads", "separate_models_vs_multitask", 1.0),
        ("benchmark", "encode.this project, int8 (OpenVINO).batch 32.ratio_to_sentence_transformers", 3.5),
        ("benchmark", "fast_path_profile.speedup_bound_if_weight_products_took_no_time", 99.0),
        ("benchmark", "peers_vs_fast_path.batch 32.equal_quality.ratio_by_run", [2.0, 2.0]),
        ("benchmark", "training_precision.rows.bf16, grouped by length.ratio_to_fp32_random", 9.9),
        ("benchmark", "training_precision.rows.bf16, grouped by length.share_of_bf16_matmul_peak", 0.9),
        ("long_run", "task_steps.ner", 100),
        ("fast_path_levers", "levers.static int8 (NNCF).batch 128.ratio_to_sentence_transformers", 2.0),
    ],
)
def test_a_tampered_figure_is_caught(name, path, value):
    figures = copy.deepcopy(committed(name))
    *parents, key = path.split(".")
    (report.lookup(figures, ".".join(parents)) if parents else figures)[key] = value
    assert relation_problems(name, figures)


def test_a_finding_of_report_03_tampered_to_no_difference_is_caught():
    """Whichever version of notebook 03 wrote the committed JSON (its comparisons are named by the arms it ran): its
    first finding, its difference set to zero, is a finding inside its noise."""
    figures = copy.deepcopy(committed("03_freezing_and_transfer"))
    _, finding = next((p, c) for p, c in comparisons(figures) if c["finding"])
    finding["difference"] = 0.0
    assert relation_problems("03_freezing_and_transfer", figures)


@pytest.mark.parametrize("name", ["03_freezing_and_transfer", "04_training_loop"])
def test_a_difference_within_its_noise_called_a_finding_is_caught(name):
    figures = copy.deepcopy(committed(name))
    _, within = next((p, c) for p, c in comparisons(figures) if abs(c["difference"]) <= c["noise"])
    within["finding"] = True
    assert misread(figures)
    with pytest.raises(ValueError, match="not written, its figures disagree"):
        report.write_report(name, figures)


def test_a_missing_figure_is_a_problem_not_a_crash():
    figures = committed("02_multitask_heads")
    del figures["predict_seconds"]
    assert "missing" in relation_problems("02_multitask_heads", figures)[0]


def test_rounding_is_allowed_for_but_nothing_more():
    figures = {"flops": {"encoder_gflop_per_s": 151.2, "matmul_1024_gflop_per_s": 199.3, "share_of_matmul_peak": 0.76}}
    rows = ["1 task(s)", "1 task(s), int8 encoder"]
    predict = {row: {"seconds": 1.0, "ratio_to_1_task": 1.0} for row in rows}
    predict |= {f"{row}, whitespace words, argmax tags": {"seconds": 1.0, "ratio_to_1_task": 1.0} for row in rows}
    processes = {f"{n} process(es)": {"sentences_per_s": 10.0, "ratio_to_1_process": 1.0} for n in (1, 2)}
    figures.update(encode={}, predict=predict, predict_raw_text_cost={"fp32": 1.0, "int8": 1.0})
    figures["training_processes"] = processes
    reference = {
        "sentences_per_s": 10.0,
        "sentences_per_s_by_run": [10.0],
        "ratio_to_fp32_random": 1.0,
        "ratio_to_fp32_random_by_run": [1.0],
        "training_gflop_per_s": 5.0,
        "share_of_fp32_matmul_peak": 0.5,
    }
    figures["training_precision"] = {
        "rows": {"fp32, random batches": reference},
        "matmul_peak_gflop_per_s": {"fp32": 10.0},
    }
    figures["peers_vs_fast_path"] = {}
    stages = {"tokenisation": 0.1631, "OpenVINO graph": 1.9417, "pooling and normalisation": 0.009}
    figures["fast_path_profile"] = {  # 6.855 / (2.1138 - 1.9417 * 0.76): 0.76 may be 0.755..0.765
        "seconds": stages,
        "total_seconds": 2.1137,
        "weight_products_share_of_graph": 0.76,
        "sentence_transformers_seconds": 6.855,
        "speedup_bound_if_weight_products_took_no_time": 10.75,
    }
    assert relation_problems("benchmark", figures) == []  # 151.2 / 199.3 = 0.7587, written as 0.76
    figures["fast_path_profile"]["speedup_bound_if_weight_products_took_no_time"] = 11.5  # beyond what 0.76 allows
    assert relation_problems("benchmark", figures)
    figures["fast_path_profile"]["speedup_bound_if_weight_products_took_no_time"] = 10.75
    figures["flops"]["share_of_matmul_peak"] = 0.77
    assert relation_problems("benchmark", figures)
    figures["flops"]["share_of_matmul_peak"] = 0.76
    reference["share_of_fp32_matmul_peak"] = 0.6  # a training row's share of the matmul peak, per run (issue 40)
    assert relation_problems("benchmark", figures)
    reference["share_of_fp32_matmul_peak"], reference["ratio_to_fp32_random_by_run"] = 0.5, [1.1]
    assert relation_problems("benchmark", figures)


# The notebooks whose generated prose quotes comparisons by their verdicts ("+1.8 (finding)"): each must be in the JSON.
PROSE_QUOTES_COMPARISONS = ("03_freezing_and_transfer", "04_training_loop")


def markdown_outputs(notebook) -> list[str]:
    """The generated prose of a notebook: every Markdown output of its code cells (the summary, each reading)."""
    return ["".join(output.get("data", {}).get("text/markdown", "")) for cell in notebook["cells"]
            if cell["cell_type"] == "code" for output in cell.get("outputs", [])]  # fmt: skip


@pytest.mark.parametrize("name", PROSE_QUOTES_COMPARISONS)
def test_the_prose_calls_a_finding_only_what_the_figures_flag(name):
    """Every "+d.d (finding)", "(within noise)", "(beyond seed noise)" or "(within seed noise)" the notebook's
    generated prose quotes is a comparison in its committed JSON with that difference, as rounded in the prose, and
    that flag (the quick profile's run is checked the same way, in test_notebooks)."""
    notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    if not any(cell.get("outputs") for cell in notebook["cells"]):
        pytest.skip("the notebook has not been executed since it was rewritten: its committed JSON is the previous "
                    "version's, and the next full render (make reports) writes both")  # fmt: skip
    texts = markdown_outputs(notebook)
    assert sum(len(QUOTED.findall(t)) for t in texts) > 10
    assert unbacked(texts, committed(name)) == []


def test_a_quoted_verdict_without_its_comparison_is_caught():
    figures = {"a": {"x": {"difference": 1.8, "noise": 1.2, "finding": True}},
               "b": {"difference": -0.3, "noise": 1.5, "finding": False, "bootstrap_95": None}}  # fmt: skip
    assert unbacked(["sentiment +1.8 (finding), question_type -0.3 (within seed noise)"], figures) == []
    assert unbacked(["sentiment +1.80 (finding)"], figures) == []  # the rounding the prose chose
    assert unbacked(["MiniLM at 131 steps: -4.2 (finding)"], figures) == ["-4.2 (finding)"]  # never written
    assert unbacked(["sentiment +1.8 (within noise)"], figures) == ["+1.8 (within noise)"]  # the wrong flag


def strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.stem)
def test_no_committed_figure_names_a_path_of_the_machine_that_made_it(path):
    """A user's checkout has no path of the machine that rendered it: paths in the figures are relative, or named
    by their setting."""
    assert [s for s in strings(json.loads(path.read_text())) if Path(s).is_absolute()] == []


def test_report_04_words_each_rate_comparison_alone_against_jointly_by_its_flags():
    """multi_task_and_rates.alone_vs_jointly says "cannot tell" exactly where both comparisons are within noise, and
    otherwise whether the verdicts (and, for findings, the signs) agree."""
    figures = committed("04_training_loop")
    words = figures["multi_task_and_rates"]["alone_vs_jointly"]
    assert words and set(words) == set(figures["multi_task_and_rates"]["tasks"])
    for task, said in words.items():
        alone = figures["multi_task_and_rates"]["alone_candidate_minus_reference"][task]
        jointly = figures["rates"]["candidate_minus_reference"][task]
        if not (alone["finding"] or jointly["finding"]):
            assert said == "within noise in both: cannot tell"
        else:
            agree = alone["finding"] == jointly["finding"] and (
                not alone["finding"] or alone["difference"] * jointly["difference"] > 0
            )
            assert said == ("the same verdict" if agree else "a different verdict")


def test_report_04_gives_the_rows_each_probe_was_fitted_on():
    figures = committed("04_training_loop")
    for task, entry in figures["tasks"].items():
        size = figures["settings"]["train_sizes"][task]
        assert 0 < entry["linear_probe_rows"] <= size
    assert figures["tasks"]["ner"]["linear_probe_rows"] < figures["settings"]["train_sizes"]["ner"]  # PROBE_ROWS
