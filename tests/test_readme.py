"""The README's results table is exactly what scripts/results_table.py makes from reports/*.json (so every key it
reads exists), and its layout section names every tracked top-level entry and every mtl module."""

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


def test_the_python_example_runs(tmp_path, monkeypatch):
    """The README's Python block, as a reader would paste it, with the training cut to a few steps on a few rows."""
    import mtl

    block = (ROOT / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]
    assert "mtl.TrainConfig(steps=2200" in block and '"models/joint' in block
    block = block.replace("steps=2200", "steps=2, batch_size=4").replace('"models/joint', f'"{tmp_path}/joint')
    load_split = mtl.load_split
    monkeypatch.setattr(mtl, "load_split", lambda task, split: tuple(part[:8] for part in load_split(task, split)))
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["vectors"].shape == (2, 384)
    assert set(namespace["model"].tasks) == {"question_type", "sentiment", "ner"}
    assert (tmp_path / "joint" / "best" / "config.json").exists()


def test_the_entry_page_is_what_report_index_makes_and_links_every_report(tmp_path):
    # the script as make runs it (it imports its sibling results_table), on a copy of reports/ so nothing is rewritten
    reports = shutil.copytree(ROOT / "reports", tmp_path / "reports")
    subprocess.run([sys.executable, "scripts/report_index.py", "--reports", str(reports)], cwd=ROOT, check=True)
    page = (reports / "index.html").read_text()
    assert (ROOT / "reports" / "index.html").read_text() == page, "run python scripts/report_index.py"
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"href='{notebook.stem}.html'" in page
