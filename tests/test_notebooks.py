"""Every notebook runs top to bottom in the quick profile and writes its headline-figures JSON."""

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_profile(path, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORT_PROFILE", "quick")
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path))  # never overwrite the committed full-run figures
    monkeypatch.setenv("MODELS_DIR", str(tmp_path / "models"))  # nor the trained models
    monkeypatch.setenv("TQDM_DISABLE", "1")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    figures = json.loads((tmp_path / f"{path.stem}.json").read_text())
    assert figures["settings"]["profile"] == "quick"
