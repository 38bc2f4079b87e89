"""The reports' headline figures: which profile runs, where the JSON goes, and the relations between figures that
every report must satisfy (a ratio equals the quotient of the two figures it is computed from, a mean equals the mean
of its values). `write_report` refuses a report that breaks one, and the tests check the committed reports with
`problems`, so a figure rebound or mistyped on its way to the JSON cannot reach the README.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from mtl.data import data_dir, write_json

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROFILE = os.environ.get("REPORT_PROFILE", "full")
if PROFILE not in ("full", "quick"):
    raise ValueError(f"REPORT_PROFILE must be 'full' or 'quick', got {PROFILE!r}")
REPORTS_DIR = Path(os.environ.get("REPORTS_DIR", PROJECT_ROOT / "reports"))


def pick(full, quick):
    """The value for the running profile: `full` for the committed reports, `quick` for CI."""
    return quick if PROFILE == "quick" else full


def lookup(figures: dict, path: str):
    """figures["a"]["b"] for the path "a.b"."""
    for key in path.split("."):
        figures = figures[key]
    return figures


def write_report(name: str, figures: dict, rows: list[dict] | None = None) -> Path:
    """Check a report's relations and comparisons, then write its figures to REPORTS_DIR/name.json with the settings
    that produced them. rows: the report's lines for the README and RESULTS tables (see `row`), declared by the
    notebook beside the figures they quote."""
    meta = {
        "profile": PROFILE,
        "data": os.path.relpath(data_dir(), PROJECT_ROOT),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    figures = {**figures, "settings": {**meta, **figures.get("settings", {})}}
    if rows is not None:
        figures["rows"] = rows
    broken = problems(name, figures)
    if broken:
        raise ValueError(f"report {name} not written, its figures disagree: " + "; ".join(broken))
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORTS_DIR / f"{name}.json"
    write_json(path, figures)
    return path


def row(figure: str, value, fmt: str, split: str | None, anchor: str | None = None, anchor_value=None) -> dict:
    """One line of the results tables: a figure in words, its value formatted, the split it comes from ("dev",
    "test" or None for what is not an evaluation), and what it is read against (a number is formatted as the value
    is, text is shown as it is)."""
    shown = anchor_value if isinstance(anchor_value, str) else None
    if anchor is not None and anchor_value is not None and shown is None:
        shown = fmt.format(anchor_value)
    return {"figure": figure, "value": fmt.format(value), "split": split,
            "anchor": f"{shown} ({anchor})" if shown else (anchor or "-")}  # fmt: skip


# ------------------------------------------------------------ relations between figures


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


def _difference(checks, what, recorded, first, second):
    checks.append((what, recorded, first - second, _half_unit(recorded) + _half_unit(first) + _half_unit(second)))


def _ratio_check(figures: dict, checks: list, what: str, path: str, numerator: float, denominator: float) -> None:
    value = lookup(figures, path)
    expected, tolerance = _ratio(value, numerator, denominator)
    checks.append((what, value, expected, tolerance))


def _seeds(checks: list, what: str, summary: dict) -> None:
    """A seed summary's mean and std are those of its values."""
    values = summary["values"]
    checks.append((f"{what} seed mean", summary["mean"], float(np.mean(values)), 0.005 + _half_unit(values[0])))
    if len(values) > 1:
        std = float(np.std(values, ddof=1))
        checks.append((f"{what} seed std", summary["std"], std, 0.005 + 2 * _half_unit(values[0])))


def _encoder_01(figures: dict, checks: list) -> None:
    """Notebook 01: each speed-up is the quotient of its rate and sentence-transformers' in the same rounds."""
    rows = [f"speed.{name}" for name, row in figures["speed"].items() if isinstance(row, dict)]
    for row in [*rows, "fast_path", "per_batch_recipe"]:
        reference = row.split(".")[0]
        st = lookup(figures, f"{reference}.sentence_transformers_sentences_per_s")
        rate = lookup(figures, f"{row}.sentences_per_s")
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
                    f"encode.{engine}.{batch}.ratio_to_sentence_transformers",
                    row["sentences_per_s"],
                    st,
                )
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


RELATIONS = {
    "01_sentence_encoder": [_encoder_01],
    "02_multitask_heads": [_heads_02],
    "fast_path_levers": [_levers],
    "benchmark": [_benchmark, _benchmark_profile],
}


def relations(name: str, figures: dict) -> list[tuple[str, float, float, float]]:
    """(what, recorded value, value recomputed from other figures, tolerance) for every relation of a report."""
    checks = []
    for check in RELATIONS.get(name, []):
        check(figures, checks)
    return checks


def problems(name: str, figures: dict) -> list[str]:
    """Every relation of the report that its figures break, and every comparison whose finding flag disagrees with
    its difference and noise, in words; [] when they all hold."""
    from mtl.figures import misread

    try:
        checks = relations(name, figures)
    except (KeyError, TypeError, ZeroDivisionError) as err:
        return [f"a figure a relation needs is missing or not a number ({type(err).__name__}: {err})"]
    return [
        f"{what}: recorded {value}, recomputed {expected:.6g} (allowed difference {tolerance:.2g})"
        for what, value, expected, tolerance in checks
        if not abs(value - expected) <= tolerance
    ] + misread(figures)
