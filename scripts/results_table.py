"""Write the results tables from reports/*.json, so no figure in them is typed by hand: every row in
reports/RESULTS.md, and the few headline rows (HEADLINE) in README.md.

A notebook that declares its rows (the "rows" of its JSON, written beside the figures they quote) is shown as it
declares them. For the others, each row below names a figure, the JSON key it comes from, and its anchor: the
published or baseline value it is compared with, itself read from a JSON file; the per-task rows follow the task
registry (mtl.tasks). Rows whose report does not exist yet are left out; a key missing from a full-profile report is
an error, while a quick-profile report (small subsets, fewer variants) simply shows the rows it has.
Usage: python scripts/results_table.py [--check] [--reports DIR] [--readme FILE]
  --check    exit 1 if README.md or RESULTS.md is out of date
  --reports  read the JSON figures from DIR and write RESULTS.md there (default: reports/);
             `REPORT_PROFILE=quick make reports` points it at its scratch folder, and the README copy there
  --readme   the README to update (default: README.md)
"""

import argparse
import json
import re
import sys
from pathlib import Path

from mtl import REGISTRY
from mtl.report import lookup

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

# (notebook report, figure, key path, format, anchor text, anchor key path or None), one row a line
# fmt: off
ROWS = []  # the notebooks and the benchmark declare their own rows

LEVERS = ROOT / "reports" / "fast_path_levers.json"  # one row per OpenVINO lever that ran (scripts/fast_path_levers.py)
SHIPPED_LEVER = "fast path as shipped"
SHIPPED = f"levers.{SHIPPED_LEVER}"
for lever, batches in (json.loads(LEVERS.read_text())["levers"] if LEVERS.exists() else {}).items():
    if "unavailable" in batches or lever in ("sentence-transformers (torch)", SHIPPED_LEVER):
        continue
    for batch in (32, 128):
        ROWS.append(("fast_path_levers", f"int8 fast path, {lever}: speed-up vs sentence-transformers torch, batch {batch}",
                     f"levers.{lever}.batch {batch}.ratio_to_sentence_transformers", "{:.2f}x", "as shipped, same run",
                     f"{SHIPPED}.batch {batch}.ratio_to_sentence_transformers"))
    if lever.startswith("static"):  # the hints leave the graph, hence the embeddings, as shipped
        ROWS.append(("fast_path_levers", f"int8 fast path, {lever}: lowest cosine to fp32 over STS-B test sentences",
                     f"levers.{lever}.batch 32.min_cosine_to_fp32", "{:.3f}", "as shipped",
                     f"{SHIPPED}.batch 32.min_cosine_to_fp32"))
# fmt: on
ROWS.sort(key=lambda row: row[0])  # by notebook, keeping each notebook's order


NUMBER = r"\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?"


def verdict(value: str, anchor: str) -> str | None:
    """'met' or 'missed' for a row read against a goal or a target (its anchor's number), None for any other row. A
    mean ± std is read by its mean (the targets are means); a range over runs is met only if its whole range is, and
    'met in some runs' where the bound falls inside it. An anchor that says "at most" is a bound from above."""
    if not re.search(r"\((?:goal|target)\b", anchor) or not (bound := re.match(NUMBER, anchor)):
        return None
    span = re.match(rf"({NUMBER})x?-({NUMBER})x?\b", value)
    numbers = [float(n.replace(",", "")) for n in (span.groups() if span else re.findall(NUMBER, value)[:1])]
    goal = float(bound.group().replace(",", ""))
    meets = [n <= goal if "at most" in anchor else n >= goal for n in numbers]
    return "met" if all(meets) else "met in some runs" if any(meets) else "missed"


def fmt(value, pattern: str) -> str:
    """A number, or a {task: number} dict as 'a / b' in the dict's order."""
    if isinstance(value, dict):
        return " / ".join(fmt(v, pattern) for v in value.values())
    return pattern.format(value) if isinstance(value, (int, float)) else str(value)


FINE_TUNED_03 = (
    "fine-tuned, configuration chosen on dev, mean ± std over its seeds: TREC-6 test / SST-2 (GLUE dev) accuracy"
)
HEADLINE = {  # the README's rows, by report: at most a dozen, each read against its anchor
    "01_sentence_encoder": ["STS-B Spearman x100", "lowest cosine to fp32 over STS-B test sentences, int8 fast path"],
    "02_multitask_heads": ["predict time, all tasks vs one task (one model)"],
    "03_freezing_and_transfer": [FINE_TUNED_03],
    "04_training_loop": [f"joint model, mean ± std over 3 seeds: {entry.display}" for entry in REGISTRY.values()]
    + ["encoder rates chosen on dev (top rate, layer decay)", "steps per joint training run (the long budget)"],
    "benchmark": [
        f"encode speed-up over the fastest sentence-transformers peer of equal quality, int8 fast path, batch {b}"
        for b in (32, 128)
    ] + ["training sentences/s, mtl.train on every task, bf16, grouped by length over fp32, random batches"],
}  # fmt: skip
TITLES = {
    "01_sentence_encoder": "01 · sentence encoder",
    "02_multitask_heads": "02 · multi-task heads",
    "03_freezing_and_transfer": "03 · freezing and transfer",
    "04_training_loop": "04 · training loop",
    "benchmark": "make bench: speed",
    "fast_path_levers": "the int8 path's runtime settings (scripts/fast_path_levers.py)",
}


def collect(reports: Path = ROOT / "reports") -> list[dict]:
    """Every row, in report order: {"report", "figure", "label", "value", "anchor", "source"}, the source being the
    report's file name (HTML when rendered) and profile; `table` makes it a link."""
    rows = []
    for report in TITLES:
        path = reports / f"{report}.json"
        figures = json.loads(path.read_text()) if path.exists() else {}
        if "rows" in figures:  # declared by the notebook
            source = _source(reports, report, figures["settings"])
            for entry in figures["rows"]:
                named = any(word in entry["figure"].split() for word in ("dev", "test"))  # the label names its split
                split = f" ({entry['split']})" if entry["split"] and not named else ""
                rows.append({"report": report, "figure": entry["figure"], "label": f"{entry['figure']}{split}",
                             "value": entry["value"], "anchor": entry["anchor"], "source": source,
                             "verdict": verdict(entry["value"], entry["anchor"])})  # fmt: skip
            continue
        for _, label, key, pattern, anchor_text, anchor_key in (r for r in ROWS if r[0] == report and figures):
            try:
                value = fmt(lookup(figures, key), pattern)
                anchor = f"{fmt(lookup(figures, anchor_key), pattern)} ({anchor_text})" if anchor_key else "-"
            except KeyError:
                if figures["settings"]["profile"] == "quick":  # a variant the quick profile does not run
                    continue
                raise
            rows.append({"report": report, "figure": label, "label": label, "value": value, "anchor": anchor,
                         "source": _source(reports, report, figures["settings"]),
                         "verdict": verdict(value, anchor)})  # fmt: skip
    return rows


def table(rows: list[dict], folder: str = "") -> str:
    """A markdown table of rows, each linking its report at `folder` + file name (relative to where it is read)."""
    lines = ["| figure | value | anchor | report |", "|---|---:|---|---|"]
    for r in rows:
        file, profile = r["source"]
        link = f"[{r['report']}]({folder}{file}) ({profile} profile)"
        lines.append(f"| {r['label']} | {r['value']} | {anchored(r)} | {link} |")
    return "\n".join(lines)


def anchored(row: dict) -> str:
    """The anchor, with whether a goal or target is met."""
    return f"{row['anchor']}: **{row['verdict']}**" if row.get("verdict") else row["anchor"]


SPLITS = (
    "SST-2's test split is the GLUE dev file (872 sentences; GLUE's test labels are not public): a row named "
    "'SST-2 dev (GLUE)' is a test figure. The dev split every SST-2 choice is made on is 1,000 sentences carved from "
    "the training file, sharing no sentence with what trains."
)


def headline(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["figure"] in HEADLINE.get(r["report"], [])]


def results_page(rows: list[dict]) -> str:
    """reports/RESULTS.md: every figure, one table per report."""
    parts = ["# Results", "", "Every figure the reports quote, generated by `scripts/results_table.py` from `reports/*.json`;",
             "each row says the split it comes from where it is an evaluation (choices are made on dev, test is scored",
             "once). The README shows the headline rows.", "", SPLITS, ""]  # fmt: skip
    for report in dict.fromkeys(r["report"] for r in rows):
        parts += [f"## {TITLES.get(report, report)}", "", table([r for r in rows if r["report"] == report]), ""]
    return "\n".join(parts)


def _source(reports: Path, report: str, settings: dict) -> tuple[str, str]:
    rendered = f"{report}.html" if (reports / f"{report}.html").exists() else f"{report}.json"
    return rendered, settings["profile"]


def updated(readme: str, rows: list[dict]) -> str:
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table(headline(rows), folder='reports/')}\n{END}{tail}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args()
    readme = args.readme.read_text()
    if BEGIN not in readme or END not in readme:
        sys.exit(f"{args.readme}: markers {BEGIN} / {END} not found")
    rows = collect(args.reports)
    outputs = {
        args.readme: updated(readme, rows),
        args.reports / "RESULTS.md": results_page(rows),
    }
    if args.check:
        stale = [str(p) for p, text in outputs.items() if not p.exists() or p.read_text() != text]
        sys.exit(f"out of date: {', '.join(stale)}; run python scripts/results_table.py" if stale else 0)
    for path, text in outputs.items():
        path.write_text(text)
