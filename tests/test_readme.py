"""The README's results table is exactly what scripts/results_table.py makes from reports/*.json (so every key it
reads exists), and its layout section names every tracked top-level entry and every mtl module."""

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
