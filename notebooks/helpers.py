"""The notebooks' small toolbox: the report profile, the banner, showing source, timing and the JSON figures.

The model itself is the `mtl` package; this file holds only what the four notebooks share around it.
"""

import inspect
import os
import platform
import random
from pathlib import Path

import numpy as np
import torch

from mtl.data import data_dir
from mtl.measure import best_time, interleaved_best_times
from mtl.report import PROFILE, PROJECT_ROOT, pick, row, write_report
from mtl.runtime import progress

__all__ = ["PROFILE", "MODELS_DIR", "banner", "best_time", "interleaved_best_times", "pick", "progress", "source"]
__all__ += ["check", "describe", "rounded", "row", "seed_everything", "summary", "write_report"]

MODELS_DIR = Path(os.environ.get("MODELS_DIR", PROJECT_ROOT / "models"))


def banner() -> str:
    """One line for the top of a notebook: which data, profile and machine produced the figures below."""
    where = os.path.relpath(data_dir(), PROJECT_ROOT)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({platform.machine()})"
    return (
        f"data: {where}/ | profile: {PROFILE} | torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} cores, {device}"
    )


def source(obj):
    """Show an object's source in a notebook, so the reader sees the code the prose talks about."""
    from IPython.display import Code

    return Code(inspect.getsource(inspect.unwrap(obj)), language="python")


def summary():
    """The answer at the top of a report: a placeholder shown where this is called, which `.update(text)` fills in at
    the end, once the figures it quotes exist (Jupyter and nbconvert both redraw the earlier output)."""
    from IPython.display import Markdown, display

    return display(Markdown("*The summary appears here once the notebook has run to its end.*"), display_id=True)


def seed_everything(seed: int = 0) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def describe(prediction: dict) -> str:
    """One `predict` result in a line: `task=label (score)` for sentence tasks, `[text]TYPE score` per entity."""
    shown = []
    for task, value in prediction.items():
        if isinstance(value, list):  # entities
            value = " ".join(f"[{e['text']}]{e['label']} {e['score']:.2f}" for e in value) or "-"
        else:
            value = f"{value['label']} ({value['score']:.2f})"
        shown.append(f"{task}={value}")
    return "  ".join(shown)


def check(prediction: dict, expected: dict) -> list[str]:
    """What a reader expects of a sample (a label, or the set of (text, type) entities) against what the model said."""
    marks = []
    for task, want in expected.items():
        got = prediction[task]
        got = {(e["text"], e["label"]) for e in got} if isinstance(got, list) else got["label"]
        marks.append(
            f"{task} {'right' if got == want else f'WRONG (expected {sorted(want) if isinstance(want, set) else want})'}"
        )
    return marks


def rounded(value, digits: int = 4):
    """Predictions with scores rounded: padding in a batch moves a softmax in its 7th digit."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    return [rounded(v, digits) for v in value] if isinstance(value, list) else value
