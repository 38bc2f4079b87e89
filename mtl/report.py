"""The reports' headline figures: which profile runs, where the JSON goes, and the rows a notebook declares for the
results tables. `write_report` refuses a report with a comparison its own figures contradict
(`mtl.figures.misread`): derived figures are computed by mtl.figures, so they agree with their operands by
construction, and tests/test_report.py rechecks the committed ones."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mtl.data import data_dir, write_json
from mtl.figures import misread

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
    """Check a report's comparisons, then write its figures to REPORTS_DIR/name.json with the settings
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
    broken = misread(figures)
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
    if anchor is None or anchor_value is None:
        shown = None
    else:
        shown = anchor_value if isinstance(anchor_value, str) else fmt.format(anchor_value)
    return {"figure": figure, "value": fmt.format(value), "split": split,
            "anchor": f"{shown} ({anchor})" if shown else (anchor or "-")}  # fmt: skip
