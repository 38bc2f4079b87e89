"""notebooks/report03.py: report 03's first screen and closing words follow its figures, and can be rebuilt from the
committed JSON alone."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "notebooks"))
import report03  # noqa: E402


def test_sampling_error_is_half_the_95_percent_binomial_interval_in_points():
    assert report03.sampling_error(90.0, 500) == pytest.approx(2.63, abs=0.005)
    assert report03.sampling_error(50.0, 100) == pytest.approx(9.8, abs=0.005)
    assert report03.sampling_error(100.0, 500) == 0.0


def test_freezing_a_head_is_worded_by_the_sign_and_the_finding():
    assert report03.head_words({"difference": -1.2, "finding": True}) == "costs Task A accuracy"
    assert report03.head_words({"difference": 0.8, "finding": True}) == "gains Task A accuracy"
    assert "within noise" in report03.head_words({"difference": -3.0, "finding": False})


def committed():
    figures = json.loads((ROOT / "reports" / "03_freezing_and_transfer.json").read_text())
    if "roles" not in figures:
        pytest.skip("the committed report 03 predates the roles its words are built from")
    long_run = json.loads((ROOT / "reports" / "long_run.json").read_text())
    notebook = json.loads((ROOT / "notebooks" / "03_freezing_and_transfer.ipynb").read_text())
    shown = [
        "".join(output["data"]["text/markdown"])
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        if "text/markdown" in output.get("data", {})
    ]
    return report03.Words(figures, long_run, budget="(not quoted here)"), "\n".join(shown)


def test_the_committed_first_screen_is_rebuilt_from_the_committed_json():
    words, shown = committed()
    takeaways = words.takeaways()
    assert len(takeaways) == 5
    for short, more in takeaways:
        assert f"- {short}" in shown
        # the last takeaway's caveats end with the budget, a sentence of section 2 passed in, not rebuilt here
        assert more.split("\n")[0].split(" **Budget**")[0] in shown


def test_the_committed_closing_words_are_rebuilt_from_the_committed_json():
    words, shown = committed()
    text, more, title = words.tested()
    assert text in shown and more in shown and title in shown
