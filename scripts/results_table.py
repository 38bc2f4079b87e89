"""Rewrite the results table in README.md from reports/*.json, so no figure in it is typed by hand.

Each row names a figure, the JSON key it comes from, and its anchor: the published or baseline value it is
compared with, itself read from a JSON file. Rows whose report does not exist yet are left out.
Usage: python scripts/results_table.py [--check]   (--check: exit 1 if README.md is out of date)
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

# (notebook report, figure, key path, format, anchor text, anchor key path or None)
ROWS = [
    ("01_sentence_encoder", "STS-B test, Spearman x100", "stsb_test_spearman", "{:.2f}",
     "published all-MiniLM-L6-v2 (MTEB)", "stsb_test_spearman_published"),
    ("01_sentence_encoder", "STS-B dev, Spearman x100", "stsb_dev_spearman", "{:.2f}", None, None),
    ("01_sentence_encoder", "max abs difference vs sentence-transformers (STS-B test)", "parity_max_abs_diff", "{:.1e}",
     "goal", "parity_goal"),
    ("01_sentence_encoder", "encode, sentences/s (STS-B test, batch 32)", "encode_sentences_per_s", "{:.0f}",
     "sentence-transformers, same run", "sentence_transformers_sentences_per_s"),
    ("01_sentence_encoder", "encode speed-up vs sentence-transformers", "encode_speedup_vs_sentence_transformers", "{:.2f}x",
     "goal", "speedup_goal"),
    ("02_multitask_heads", "frozen encoder + fitted head: TREC-6 test accuracy", "frozen_encoder_heads_test.question_type.accuracy", "{:.1f}",
     "majority class", "majority_class_test.question_type"),
    ("02_multitask_heads", "frozen encoder + fitted head: SST-2 dev accuracy", "frozen_encoder_heads_test.sentiment.accuracy", "{:.1f}",
     "majority class", "majority_class_test.sentiment"),
    ("02_multitask_heads", "frozen encoder + fitted head: CoNLL-2003 test entity F1", "frozen_encoder_heads_test.ner.f1", "{:.1f}",
     "all 'O' tags", "majority_class_test.ner"),
    ("02_multitask_heads", "predict time, 3 tasks vs 1 task (one model)", "predict_all_tasks_vs_one_task", "{:.2f}x",
     "3 separate models vs one", "separate_models_vs_multitask"),
]
for task, metric in [("question_type", "TREC-6 test accuracy"), ("sentiment", "SST-2 dev accuracy"), ("ner", "CoNLL-2003 test entity F1")]:
    ROWS += [
        ("04_training_loop", f"joint model: {metric}", f"tasks.{task}.test_metric", "{:.2f}", "target", f"tasks.{task}.target"),
        ("04_training_loop", f"linear probe on frozen embeddings: {metric}", f"tasks.{task}.linear_probe", "{:.2f}",
         "joint model", f"tasks.{task}.test_metric"),
        ("04_training_loop", f"same model, this task alone, same steps: {metric}", f"tasks.{task}.single_task", "{:.2f}",
         "joint model", f"tasks.{task}.test_metric"),
    ]
ROWS += [
    ("04_training_loop", "uniform encoder rate: mean of the three test metrics", "llrd_vs_uniform.uniform_mean_test_metric", "{:.2f}",
     "layer-wise decay 0.9", "llrd_vs_uniform.llrd_mean_test_metric"),
    ("04_training_loop", "joint training, minutes on this machine", "training_minutes", "{:.1f}", None, None),
]


def lookup(figures: dict, path: str):
    for key in path.split("."):
        figures = figures[key]
    return figures


def fmt(value, pattern: str) -> str:
    return pattern.format(value) if isinstance(value, (int, float)) else str(value)


def table() -> str:
    lines = ["| figure | value | anchor | report |", "|---|---:|---|---|"]
    for report, label, key, pattern, anchor_text, anchor_key in ROWS:
        path = ROOT / "reports" / f"{report}.json"
        if not path.exists():
            continue
        figures = json.loads(path.read_text())
        anchor = f"{fmt(lookup(figures, anchor_key), pattern)} ({anchor_text})" if anchor_key else "-"
        settings = figures["settings"]
        source = f"[{report}](reports/{report}.html) ({settings['profile']} profile{', DEMO data' if settings['demo_data'] else ''})"
        lines.append(f"| {label} | {fmt(lookup(figures, key), pattern)} | {anchor} | {source} |")
    return "\n".join(lines)


def updated(readme: str) -> str:
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    if BEGIN not in readme or END not in readme:
        sys.exit(f"{readme_path}: markers {BEGIN} / {END} not found")
    new = updated(readme)
    if "--check" in sys.argv[1:]:
        sys.exit(0 if new == readme else f"{readme_path}: results table is out of date; run python scripts/results_table.py")
    readme_path.write_text(new)
