"""Write reports/index.html: the page a reader who opens reports/ lands on. It links the four reports, each with the
summary its notebook generated at the top of its last run (or, for a notebook without one, its opening paragraph),
and the speed table of `make bench`, so nothing on it is typed by hand.

Usage: python scripts/report_index.py [--reports DIR]   (`make reports` and `make bench` run it)
"""

import argparse
import html
import json
from pathlib import Path

import mistune
import nbformat
from results_table import collect, table

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = mistune.create_markdown(plugins=["table"])
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5;
       color: #222; }
h1 { margin-bottom: 0.2rem; } .lead { color: #555; margin-top: 0; }
section { border-top: 1px solid #ddd; padding-top: 0.5rem; margin-top: 1.5rem; }
table { border-collapse: collapse; font-size: 0.9rem; } td, th { border-bottom: 1px solid #eee; padding: 0.2rem 0.5rem; }
.meta { color: #777; font-size: 0.85rem; }
"""


def summary(notebook: Path) -> str:
    """The markdown the notebook's summary cell showed in its last run, else its first paragraph after the title."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/markdown")
            if text:
                return text
    opening = next(c.source for c in nb.cells if c.cell_type == "markdown")
    return opening.split("\n\n")[1] if "\n\n" in opening else opening


def title(notebook: Path) -> str:
    first = next(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown")
    return first.splitlines()[0].lstrip("# ").strip()


def page(reports: Path) -> str:
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Sentence transformers and multi-task learning</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Sentence transformers and multi-task learning, built and measured</h1>",
        "<p class='lead'>Four reports on one tested package. Under each title, the report's own summary from its last "
        "run; every figure, with the split it comes from, is in <a href='RESULTS.md'>RESULTS.md</a>.</p>",
    ]
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        stem = notebook.stem
        figures = reports / f"{stem}.json"
        profile = json.loads(figures.read_text())["settings"]["profile"] if figures.exists() else "not run"
        link = f"<a href='{stem}.html'>{html.escape(title(notebook))}</a>"
        parts += [f"<section><h2>{link}</h2>", MARKDOWN(summary(notebook)),
                  f"<p class='meta'>{profile} profile · <a href='{stem}.html'>read the report</a></p></section>"]  # fmt: skip
    bench = [row for row in collect(reports) if row["report"] == "benchmark"]
    if bench:
        speed = [row for row in bench if "speed-up" in row["figure"] or "lowest cosine" in row["figure"]]
        parts += ["<section><h2>Speed (make bench)</h2>", MARKDOWN(table(speed)),
                  "<p class='meta'>The machine and every setting are in benchmark.json.</p></section>"]  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    (args.reports / "index.html").write_text(page(args.reports))
    print(f"wrote {args.reports / 'index.html'}")
