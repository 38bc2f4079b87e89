"""Write reports/index.html, the page a reader who opens reports/ lands on, and reports/RESULTS.html, RESULTS.md as a
page. The index says what the walkthrough is, lists the four reports in reading order with the minutes each takes to
read and the first takeaway of each report's "In short" (read from its rendered output), shows the headline table
(the README's rows, each goal marked met or missed), one figure from a report, and what a report's profile means;
nothing on it is typed by hand except the two opening sentences.

Usage: python scripts/report_index.py [--reports DIR]   (`make reports` and `make bench` run it)
"""

import argparse
import html
import importlib.util
import json
import math
import re
from pathlib import Path

import mistune
import nbformat
from results_table import SPLITS, anchored, collect, headline

ROOT = Path(__file__).resolve().parent.parent
# what each profile means, from the notebooks' toolbox (a file, not a package: loaded by path)
_spec = importlib.util.spec_from_file_location("helpers", ROOT / "notebooks" / "helpers.py")
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
PROFILES, SUMMARY = _helpers.PROFILES, _helpers.SUMMARY

MARKDOWN = mistune.create_markdown(plugins=["table"])
WORDS_PER_MINUTE = 200  # prose, tables and printed outputs; folded code and folded prose are not counted
FOLDED = re.compile(r"<details\b.*?</details>", re.S)  # what a reader opens only on a click
TAKEAWAYS = 1  # the first of each report's "In short" bullets, its main answer: all four fit one screen
FIGURE_FROM = "02_multitask_heads"  # the report whose first figure the index shows: the walkthrough in one picture
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5;
       color: #222; }
h1 { margin-bottom: 0.2rem; font-size: 1.7rem; } .lead { color: #333; margin-top: 0.4rem; }
h2 { font-size: 1.2rem; margin-top: 1.8rem; }
.wide { width: min(64rem, 96vw); margin-left: 50%; transform: translateX(-50%); }
table { border-collapse: collapse; font-size: 0.8rem; }
td, th { border-bottom: 1px solid #e5e5e5; padding: 0.25rem 0.5rem; vertical-align: top; text-align: left; }
ol.reading > li { margin-bottom: 0.6rem; } ol.reading ul { margin: 0.2rem 0; padding-left: 1.1rem; } .meta { color: #666; font-size: 0.85rem; }
figure { margin: 0.5rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: #333; }
"""


def visible_text(notebook: nbformat.NotebookNode) -> str:
    """What a reader of the HTML report reads: markdown cells and every text output, less what is folded (code
    inputs, and the <details> blocks that keep figures and caveats one click away)."""
    parts = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            parts.append(output.get("text", "") or data.get("text/markdown", "") or "")
    return FOLDED.sub("", "\n".join(parts))


def minutes_to_read(notebook: nbformat.NotebookNode) -> int:
    return max(1, math.ceil(len(visible_text(notebook).split()) / WORDS_PER_MINUTE))


def title(notebook: nbformat.NotebookNode) -> str:
    first = next(c.source for c in notebook.cells if c.cell_type == "markdown")
    return first.splitlines()[0].lstrip("# ").strip()


def opening(notebook: nbformat.NotebookNode) -> str:
    """The report's opening paragraph after its title, cut to its first two sentences."""
    first = next(c.source for c in notebook.cells if c.cell_type == "markdown")
    paragraph = first.split("\n\n")[1] if "\n\n" in first else first
    sentences = paragraph.replace("\n", " ").split(". ")
    return ". ".join(sentences[:2]).rstrip(".") + "."


def takeaways(notebook: nbformat.NotebookNode) -> list[str]:
    """The report's answer in words: the bullets of its "In short" summary, as this run's outputs wrote them (not
    the detail folded under them)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/markdown", "")
            text = "".join(text) if isinstance(text, list) else text
            if text.startswith(SUMMARY):
                return [line[2:] for line in FOLDED.sub("", text).splitlines() if line.startswith("- ")]
    return []


def first_sentence(text: str) -> str:
    """A takeaway's first sentence: the answer itself, so that all four reports fit the index's first screen."""
    return re.split(r"(?<=[.!?])\s+(?=[A-Z*])", text, maxsplit=1)[0]


def headline_table(rows: list[dict]) -> str:
    """The headline rows for a reading column: the report as a short link, each goal or target marked met or missed."""
    lines = ["| figure | value | read against | from |", "|---|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['value']} | {anchored(r)} | [{source(r)}]({r['source'][0]}) |")
    return "\n".join(lines)


def first_figure(notebook: nbformat.NotebookNode) -> tuple[str, str] | None:
    """The report's Figure 1: its PNG (base64) and caption."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                caption = cell.metadata.get("caption", "")
                return output["data"]["image/png"], caption if isinstance(caption, str) else caption[0]
    return None


def inline(text: str) -> str:
    """Markdown for inside a paragraph: the rendered HTML without its <p>."""
    return MARKDOWN(text).strip().removeprefix("<p>").removesuffix("</p>")


def notebooks() -> list[Path]:
    """The reports in reading order: the notebooks' numbers."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def source(row: dict) -> str:
    """Where a headline row comes from, as the table's last column names it."""
    return f"report {row['report'][:2]}" if row["report"][:2].isdigit() else f"{row['report']}.json"


def tally(rows: list[dict]) -> str:
    """The headline table's goals and targets in one sentence: how many are met, met in some runs, or missed, with
    the ones not met named, so that a reader learns which from the first screen (the table sits below it)."""
    verdicts = [r["verdict"] for r in rows if r["verdict"]]
    counts = {v: verdicts.count(v) for v in ("met", "met in some runs", "missed") if v in verdicts}
    if not counts:
        return "The headline table below holds no goal or target yet."
    said = ", ".join(f"{n} {v}" for v, n in counts.items())
    named = []
    for v in ("missed", "met in some runs"):
        # rows that differ only after their last comma (batch 32, batch 128) are named once, their endings joined
        groups: dict[tuple[str, str], list[str]] = {}
        for r in rows:
            if r["verdict"] == v:
                head, _, tail = r["label"].rsplit(": ", 1)[-1].rpartition(", ")
                groups.setdefault((head, source(r)), []).append(tail)
        if groups:
            named.append(f"{v.capitalize()}: " + "; ".join(
                f"{head + ', ' if head else ''}{' and '.join(tails)} ({where})" for (head, where), tails in groups.items()
            ))  # fmt: skip
    return (
        f"Of the {len(verdicts)} goals and targets in the headline table below: {said}"
        + "".join(f". {line}" for line in named)
        + ". The table names the source of each."
    )


def page(reports: Path) -> str:
    rows = collect(reports)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>Sentence transformers and multi-task learning: the reports</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Sentence transformers and multi-task learning, built and measured</h1>",
        "<p class='lead'>A sentence encoder built from a pretrained transformer, grown into one model that answers three "
        "tasks (question type, sentiment, named entities) from a single encoder pass, then trained and measured choice "
        "by choice on public datasets. Four reports, read in order, each open with their answer in words; every "
        "figure comes from code in the report's own run.</p>",
        "<h2>The reports, in reading order, and what each found</h2>",
        f"<p>{tally(headline(rows))}</p>",
        "<ol class='reading'>",
    ]
    for notebook_path in notebooks():
        stem, notebook = notebook_path.stem, nbformat.read(notebook_path, as_version=4)
        figures = reports / f"{stem}.json"
        profile = json.loads(figures.read_text())["settings"]["profile"] if figures.exists() else "not run"
        answer = [first_sentence(line) for line in takeaways(notebook)[:TAKEAWAYS]]
        found = "<ul>" + "".join(f"<li>{inline(line)}</li>" for line in answer) + "</ul>"
        parts.append(
            f"<li><a href='{stem}.html'><strong>{html.escape(title(notebook))}</strong></a> "
            f"<span class='meta'>· {minutes_to_read(notebook)} minutes to read · "
            f"<a href='#profiles'>{profile} profile</a></span>"
            f"{found if answer else '<br>' + inline(opening(notebook))}</li>"
        )
    parts += [
        "</ol>",
        "<p class='meta'>How to read the takeaways: <em>(finding)</em> marks a difference bigger than its noise, both "
        "the spread between seeds and a resampling of the evaluation examples; <em>(within noise)</em> one that is "
        "not, which is not the same as no effect. Choices are made on dev splits; test is scored once per final "
        "configuration. A <a href='#profiles'>full profile</a> run scores every evaluation row with every variant and "
        "seed the report describes.</p>",
        f"<p class='meta'>Minutes to read: the words of a report's prose, tables and printed outputs at "
        f"{WORDS_PER_MINUTE} a minute; its code, and the detail folded under its sentences, are not counted.</p>",
        "<h2>Headline figures</h2>",
        MARKDOWN(headline_table(headline(rows))),
        "<p class='meta'>Every figure with the split it comes from: <a href='RESULTS.html'>RESULTS.html</a> "
        "(<a href='RESULTS.md'>RESULTS.md</a>). A difference is a finding only when it exceeds both twice the seed "
        f"spread and a 95% paired bootstrap interval; choices are made on dev, test is scored once. {SPLITS}</p>",
    ]
    source = ROOT / "notebooks" / f"{FIGURE_FROM}.ipynb"
    figure = first_figure(nbformat.read(source, as_version=4)) if source.exists() else None
    if figure:
        png, caption = figure
        alt = html.escape(caption, quote=True)
        parts += [
            "<h2>One figure</h2>",
            "<figure class='wide'>",
            f"<img src='data:image/png;base64,{png}' alt='{alt}'>",
            f"<figcaption>From <a href='{FIGURE_FROM}.html#figure-1'>report {FIGURE_FROM[:2]}, Figure 1</a>: "
            f"{inline(caption)}</figcaption>",
            "</figure>",
        ]
    parts += ["<h2 id='profiles'>What a profile is</h2>", "<ul>"]
    parts += [f"<li><strong>{name}</strong>: {MARKDOWN(text).strip()[3:-4]}</li>" for name, text in PROFILES.items()]
    parts += ["</ul>", "<p class='meta'>The machine each report ran on is in its closing section, “How this was run”, "
              "and in its JSON (<code>settings</code>).</p>", "</body></html>"]  # fmt: skip
    return "\n".join(parts)


def results_page(reports: Path) -> str:
    """reports/RESULTS.md as a page, so a browser shows it as a table rather than as raw text."""
    text = (
        (reports / "RESULTS.md").read_text() if (reports / "RESULTS.md").exists() else "# Results\n\nNot written yet."
    )
    return "\n".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Results: every figure the reports quote</title>",
        f"<style>{STYLE} body {{ max-width: 70rem; }}</style></head><body>",
        "<p class='meta'><a href='index.html'>All reports</a></p>",
        MARKDOWN(text),
        "</body></html>",
    ])  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    (args.reports / "index.html").write_text(page(args.reports))
    (args.reports / "RESULTS.html").write_text(results_page(args.reports))
    print(f"wrote {args.reports / 'index.html'} and {args.reports / 'RESULTS.html'}")
