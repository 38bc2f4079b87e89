"""The README's results table is exactly what scripts/results_table.py makes from reports/*.json (so every key it
reads exists), its layout section names every tracked top-level entry and every mtl module, and its Python example
trains notebook 04's final configuration and prints what the README shows."""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_results_table_matches_the_reports():
    result = subprocess.run(
        [sys.executable, "scripts/results_table.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def layout_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Layout", 1)[1].split("```")[1]


def test_layout_names_every_tracked_top_level_entry_and_module():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    layout = layout_section()
    top_level = {f.split("/")[0] + ("/" if "/" in f and not f.startswith(".ci/") else "") for f in files}
    top_level = {".ci/run" if entry == ".ci" else entry for entry in top_level} - {"README.md", ".gitignore"}
    missing = sorted(entry for entry in top_level if entry not in layout)
    assert not missing, f"README layout does not name {missing}"
    modules = sorted(Path(f).name for f in files if f.startswith("mtl/") and f.endswith(".py") and "__init__" not in f)
    assert modules and [m for m in modules if m not in layout] == []


def python_block() -> str:
    return (ROOT / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]


def readme_train_config(block: str) -> dict:
    """The keyword arguments of the README's mtl.TrainConfig(...) call, as written."""
    call = next(
        node
        for node in ast.walk(ast.parse(block))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "TrainConfig"
    )
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}


def final_config(figures: dict) -> dict:
    """The TrainConfig of notebook 04's final runs, as its JSON records it (final.config). A JSON written before
    that key existed records its parts: the comparisons' config (settings.config), the full budget and the decay
    chosen on dev; its eval_every is the notebook's helpers.pick(400, 24), which that JSON does not hold."""
    if "config" in figures["final"]:
        return dict(figures["final"]["config"])
    assert figures["sharing"]["kept"] is None, "a kept lever changes the final runs: re-run 04 to record final.config"
    return {**figures["settings"]["config"], "steps": figures["settings"]["full_steps"],
            "layer_decay": figures["decay"]["chosen"], "eval_every": 400 if figures["settings"]["profile"] == "full" else 24}  # fmt: skip


def test_the_python_example_trains_notebook_04s_final_configuration():
    import mtl

    figures = json.loads((ROOT / "reports" / "04_training_loop.json").read_text())
    written = readme_train_config(python_block())
    assert written.pop("checkpoint_dir") == "models/joint"
    recorded = {k: v for k, v in final_config(figures).items() if k != "checkpoint_dir"}
    assert mtl.TrainConfig(**written) == mtl.TrainConfig(**recorded)
    minutes = f"{figures['final']['seconds_per_run'] / 60:.1f} minutes"
    said = re.search(rf"about {re.escape(minutes)} on the (\w+)", (ROOT / "README.md").read_text())
    assert said, f"the README should say {minutes}, on the machine report 04 ran on"
    ran_on = re.search(r"\| machine \| ([^|]+) \|", (ROOT / "notebooks" / "04_training_loop.ipynb").read_text())
    assert ran_on and said.group(1) in ran_on.group(1), "the machine named is the one report 04 says it ran on"


def shown_output() -> list[str]:
    """The README's ```text block after the Python block: what it prints, `...` standing for what training decides."""
    readme = (ROOT / "README.md").read_text()
    return readme.split("```python\n", 1)[1].split("```text\n", 1)[1].split("```", 1)[0].splitlines()


def test_the_python_example_runs_and_prints_what_the_readme_shows(tmp_path, monkeypatch, capsys):
    """The README's Python block, as a reader would paste it, with the training cut to 2 steps on 8 rows a split."""
    import mtl

    block = python_block()
    assert len(re.findall(r"\bsteps=\d+,", block)) == 1, "one steps= field, whatever notebook 04's budget"
    assert "batch_size=32," in block and '"models/joint' in block
    block = (
        re.sub(r"\bsteps=\d+,", "steps=2,", block)
        .replace("batch_size=32,", "batch_size=4,")
        .replace('"models/joint', f'"{tmp_path}/joint')
    )
    load_split = mtl.load_split
    monkeypatch.setattr(mtl, "load_split", lambda task, split: tuple(part[:8] for part in load_split(task, split)))
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["vectors"].shape == (2, 384)
    assert set(namespace["model"].tasks) == {"question_type", "sentiment", "ner"}
    assert (tmp_path / "joint" / "best" / "config.json").exists()
    printed = capsys.readouterr().out.splitlines()
    expected = shown_output()
    assert len(printed) == len(expected), printed
    for line, shown in zip(printed, expected):
        pattern = ".*".join(re.escape(part) for part in shown.split("..."))
        assert re.fullmatch(pattern, line), f"README shows {shown!r}, the block printed {line!r}"


def test_the_entry_page_is_what_report_index_makes_and_links_every_report(tmp_path):
    # the script as make runs it (it imports its sibling results_table), on a copy of reports/ so nothing is rewritten
    reports = shutil.copytree(ROOT / "reports", tmp_path / "reports")
    subprocess.run([sys.executable, "scripts/report_index.py", "--reports", str(reports)], cwd=ROOT, check=True)
    page = (reports / "index.html").read_text()
    assert (ROOT / "reports" / "index.html").read_text() == page, "run python scripts/report_index.py"
    results = (reports / "RESULTS.html").read_text()
    assert (ROOT / "reports" / "RESULTS.html").read_text() == results, "run python scripts/report_index.py"
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"href='{notebook.stem}.html'" in page


@pytest.mark.parametrize(
    "figure, value, anchor, expected",
    [
        ("joint model: TREC-6 test accuracy", "96.53 ± 0.46", "96.5 (target)", "met"),  # a mean is read by its mean
        ("joint model: SST-2 dev (GLUE) accuracy", "87.39 ± 0.90", "90.0 (target)", "missed"),
        (
            "speed-up, batch 32",
            "1.24x-1.51x over 2 runs (AMD EPYC, 2 cores)",
            "1.50x (goal; peer: OpenVINO)",
            "met in some runs",
        ),
        ("speed-up, batch 128", "1.51x-1.67x over 2 runs", "1.50x (goal)", "met"),
        ("speed-up, batch 128", "1.21x-1.37x over 2 runs", "1.50x (goal)", "missed"),
        ("largest difference to sentence-transformers' embeddings", "2.4e-07", "1.0e-05 (goal, at most)", "met"),
        ("largest difference to sentence-transformers' embeddings", "3.0e-05", "1.0e-05 (goal, at most)", "missed"),
        ("steps", "3,000", "2,000 (target)", "met"),
        ("STS-B Spearman x100", "82.03", "82.03 (published all-MiniLM-L6-v2 (MTEB))", None),  # no goal, no verdict
        ("probe", "90.00", "-", None),
    ],
)
def test_a_goal_or_target_row_says_whether_it_is_met(script, figure, value, anchor, expected):
    """The anchor alone says the direction ("at most"); the figure's label is the case's name."""
    assert script("results_table").verdict(value, anchor) == expected
