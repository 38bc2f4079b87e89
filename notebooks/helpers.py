"""The notebooks' small toolbox: the report profile, how a run was made, tables, showing source, timing, the JSON figures.

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
__all__ += ["PROFILES", "how_this_was_run", "run_cache", "span", "table"]

FULL_SCOPE = "every variant, seed and training budget the notebook measures (the profile of the committed reports)"
PROFILES = {  # what a report's profile means, for the closing section of each report and for reports/index.html
    "full": f"every row of each evaluation split, {FULL_SCOPE}",
    "quick": "a few dozen to a few hundred rows per split and runs of a few steps, to check that the notebooks run "
    "(CI, `REPORT_PROFILE=quick make reports` into build/quick/); its figures are not results",
}

SUMMARY = "**In short**"  # the heading of each report's answer in words; reports/index.html finds the answer by it
MODELS_DIR = Path(os.environ.get("MODELS_DIR", PROJECT_ROOT / "models"))


def banner() -> str:
    """One line for the top of a notebook: which data, profile and machine produced the figures below."""
    where = os.path.relpath(data_dir(), PROJECT_ROOT)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({platform.machine()})"
    return (
        f"data: {where}/ | profile: {PROFILE} | torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} cores, {device}"
    )


SOFTWARE = ("torch", "transformers", "sentence-transformers", "openvino", "onnxruntime", "scikit-learn", "seqeval")


def versions() -> dict:
    """Python's version and that of each package in SOFTWARE that is installed: the figures can depend on any of
    them."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"Python": platform.python_version()}
    for package in SOFTWARE:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def cpu_named(record: dict | None = None) -> str:
    """A machine in a few words, such as "Intel Xeon, 2 threads", for the sentences that quote its speeds: this one,
    or the one a figure's JSON recorded (mtl.runtime.machine())."""
    from mtl.runtime import machine

    record = record or machine()
    return f"{record['cpu'].replace('(R)', '').replace(' Processor', '')}, {record['torch_threads']} threads"


def run_cache():
    """Where the full profile keeps its training runs (mtl/cache.py), so that a render stopped halfway, or run again
    after a change to its prose, replays the runs it already trained: models/runs/, or RUN_CACHE=<folder>;
    RUN_CACHE=off trains every run afresh. The quick profile always trains afresh (its runs take seconds, and CI is
    there to exercise the training)."""
    from mtl.cache import RunCache

    where = os.environ.get("RUN_CACHE", "")
    if PROFILE != "full" or where == "off":
        return None
    return RunCache(Path(where) if where else MODELS_DIR / "runs")


def remembered(what: str, key, compute):
    """A measurement kept beside the run cache (its values/ folder), keyed by `what`, `key`, the package's code and
    the machine: a render that replays cached runs also replays the measurements that sized them (notebook 03 times
    a training step to set mpnet's steps; timed afresh, a replayed render would size, and train, another run). The
    quick profile, and RUN_CACHE=off, measure afresh."""
    import hashlib
    import json

    from mtl.cache import package_digest, where

    cache = run_cache()
    if cache is None:
        return compute()
    ident = json.dumps(
        [what, key, package_digest(), where(torch.device("cuda" if torch.cuda.is_available() else "cpu"))],
        sort_keys=True,
        default=str,
    )
    path = cache.folder / "values" / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.json"
    if path.exists():
        return json.loads(path.read_text())["value"]
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps({"what": what, "key": key, "value": value}, default=str))
    staging.replace(path)  # whole or not at all
    return value


def replays(exp) -> str:
    """How many of an Experiments' training runs this render trained, and how many it replayed from the run cache,
    with when and where those were trained: the figures of a replayed run are its original run's."""
    runs = sum(len(h) for h in exp.histories.values())
    if not exp.replayed:
        return f"all {runs} trained in this render" + ("" if exp.cache else " (no run cache)")
    when = sorted({r["trained"]["at"][:10] for r in exp.replayed})
    where = sorted({r["trained"]["machine"] for r in exp.replayed})
    folder = Path(exp.cache.folder).resolve()
    # a cache outside this checkout (RUN_CACHE, or another worktree's models/runs) is named by what it is, not by a
    # path that only means something on the machine that rendered the report
    shown = (os.path.relpath(folder, PROJECT_ROOT.resolve()) if folder.is_relative_to(PROJECT_ROOT.resolve())
             else "models/runs" if folder.parts[-2:] == ("models", "runs") else "RUN_CACHE")  # fmt: skip
    return (
        f"{runs - len(exp.replayed)} trained in this render, {len(exp.replayed)} replayed from the run cache "
        f"(`{shown}/`: the same code, rows and settings, trained "
        f"{' to '.join(dict.fromkeys([when[0], when[-1]]))} on {'; '.join(where)}; their figures, times included, "
        "are those runs')"
    )


def how_this_was_run(exp=None, rows: str | None = None):
    """The closing section of a report: the data, profile, software and machine that produced its figures, as a table;
    with the notebook's Experiments, also which of its training runs were replayed from the run cache. rows: what the
    full profile scores, where that is not every row of each evaluation split."""
    from mtl.runtime import machine

    where = os.path.relpath(data_dir(), PROJECT_ROOT)
    cpu = machine()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU only"
    return table(
        [
            [
                "profile",
                f"full: {rows}; {FULL_SCOPE}" if rows and PROFILE == "full" else f"{PROFILE}: {PROFILES[PROFILE]}",
            ],
            ["data", f"`{where}/` (the repository's datasets unless DATA_DIR names another copy)"],
            ["software", ", ".join(f"{p} {v}" for p, v in versions().items())],
            ["machine", f"{cpu['cpu']}, {cpu['cores']} cores, {torch.get_num_threads()} torch threads, {device}"],
            ["instruction sets", ", ".join(cpu["flags"]) or "none of those that speed up int8 or bf16"],
        ]
        + ([["training runs", replays(exp)]] if exp is not None else []),
        header=["", ""],
    )


def span(interval, digits: int = 2) -> str:
    """A bootstrap interval [low, high] as text: "5.62 to 8.43"."""
    low, high = interval
    return f"{low:.{digits}f} to {high:.{digits}f}"


def table(rows, header=None):
    """Results as a table in the report: rows of already formatted cells (lists under `header`, or dicts whose keys
    are the header). Shown where it is called; a number should come formatted (rounded) as the prose quotes it."""
    from IPython.display import Markdown, display

    if header is None:
        header = list(rows[0])
        rows = [list(row.values()) for row in rows]

    def cell(value):
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    display(Markdown("\n".join(lines)))


def source(obj):
    """Show an object's source in a notebook, so the reader sees the code the prose talks about."""
    from IPython.display import Code

    return Code(inspect.getsource(inspect.unwrap(obj)), language="python")


class Summary:
    """The answer at the top of a report: placeholders shown where `summary()` is called, which `show` fills in at the
    end, once the figures it quotes exist (Jupyter and nbconvert both redraw the earlier outputs): a few takeaways in
    words, the table of the report's figures, and one figure."""

    def __init__(self):
        from IPython.display import Markdown, display

        self.handles = [
            display(Markdown(text), display_id=True)
            for text in ("*The summary appears here once the notebook has run to its end.*", "", "")
        ]

    def show(self, takeaways: list, rows: list[dict], figure=None) -> None:
        """takeaways: 3-5 sentences in plain words, each a string or a pair (the sentence, its figures and caveats:
        folded under the bullets, one click away); rows: the report's declared rows (`row`), shown as a table."""
        from IPython.display import Markdown

        pairs = [(t, "") if isinstance(t, str) else t for t in takeaways]
        takeaways = [short for short, _ in pairs]
        details = [more for _, more in pairs if more]
        said = " ".join(takeaways + details)
        legend = [  # the verdict words the takeaways use, defined where a reader first meets them
            "*(finding)*: a difference larger than its noise by the project's one rule (`mtl.figures`); *(within "
            "noise)*: one the rule cannot tell from noise, which is not the same as no effect"
        ] * ("(finding" in said or "within noise" in said)
        legend += [
            "*beyond* or *within seed noise*: the rule's seed half alone, for a figure not resampled over examples "
            "(a dev curve's last two evaluations, which keep no per-example results)"
        ] * ("seed noise" in said)
        legend = "\n\n" + "; ".join(legend) + "." if legend else ""
        folded = folded_markdown("\n".join(f"- {t}" for t in details), "Each takeaway's figures and caveats")
        self.handles[0].update(
            Markdown(f"{SUMMARY}\n\n" + "\n".join(f"- {t}" for t in takeaways) + legend + (folded if details else ""))
        )
        lines = ["| figure | value | split | read against |", "|---|---:|---|---|"]
        lines += [f"| {r['figure']} | {r['value']} | {r['split'] or '-'} | {r['anchor']} |" for r in rows]
        self.handles[1].update(Markdown("\n".join(lines)))
        if figure is not None:
            self.handles[2].update(figure)

    def update(self, text) -> None:
        """The answer as one block of text, for a notebook that does not yet call `show`."""
        self.handles[0].update(text)


def folded_markdown(text: str, label: str = "In detail") -> str:
    """Markdown for text one click away: the report's reading column keeps the sentences that answer, and the figures
    and caveats behind them stay a click from where they belong (a `<details>` block, which Jupyter and the HTML
    reports both fold)."""
    return f'\n\n<details class="more"><summary>{label}</summary>\n\n{text}\n\n</details>'


def said(text: str, more: str = "", label: str = "In detail") -> None:
    """Generated prose: `text` shown, `more` (its figures and caveats) folded under it."""
    from IPython.display import Markdown, display

    display(Markdown(text + (folded_markdown(more, label) if more else "")))


def summary() -> Summary:
    """The answer's placeholders; see Summary."""
    return Summary()


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
