"""Every notebook runs top to bottom in the quick profile and writes a headline-figures JSON whose figures agree with
each other; and a fourth task, declared with one registry entry and nothing else, flows through notebooks 02 and 04
(their quick runs have it declared)."""

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_report import PROSE_QUOTES_COMPARISONS, markdown_outputs

from mtl.figures import misread, unbacked

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def execute(path: Path, tmp_path: Path, monkeypatch) -> tuple[dict, nbformat.NotebookNode]:
    """Run a notebook in the quick profile with its JSON and models under tmp_path; return its figures and cells."""
    monkeypatch.setenv("REPORT_PROFILE", "quick")
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path))  # never overwrite the committed full-run figures
    monkeypatch.setenv("MODELS_DIR", str(tmp_path / "models"))  # nor the trained models
    monkeypatch.setenv("TQDM_DISABLE", "1")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    return json.loads((tmp_path / f"{path.stem}.json").read_text()), notebook


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory) -> Path:
    """Where the quick-profile runs below leave their JSON, as `REPORT_PROFILE=quick make reports` leaves it."""
    return tmp_path_factory.mktemp("quick_reports")


FOURTH_TASK = """
register(
    TaskData("topic", "sentence", "topic", dev=Carve(4), test="test", display="topic test accuracy", target=50.0)
)
"""
TOPICS = {
    "sport": "The {} won the match after extra time .",
    "weather": "Heavy {} is expected across the north tonight .",
}
WORDS = ["rain", "team", "snow", "club", "fog", "side", "wind", "squad", "frost", "eleven"]


def write_topic_data(folder: Path) -> None:
    """A small two-class sentence dataset in the repository's TSV format."""
    folder.mkdir()
    (folder / "labels.txt").write_text("".join(f"{label}\n" for label in TOPICS))
    for split, n in (("train", 40), ("test", 20)):
        rows = [
            (template.format(WORDS[(i + k) % len(WORDS)]), k)
            for i in range(n // 2)
            for k, template in enumerate(TOPICS.values())
        ]
        (folder / f"{split}.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{k}\n" for s, k in rows))


def plot_aspect(notebook, cell_start: str) -> float:
    """Width over height of the PNG that the code cell starting with cell_start shows."""
    cell = next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(cell_start))
    png = base64.b64decode(next(o for o in cell.outputs if "image/png" in o.get("data", {}))["data"]["image/png"])
    width, height = struct.unpack(">II", png[16:24])
    return width / height


@pytest.fixture(scope="module")
def fourth_task(tmp_path_factory) -> tuple[Path, Path]:
    """A copy of mtl/ and notebooks/ whose registry holds one more entry (the one change), and a data folder with the
    repository's datasets (linked) and that task's small one: (the copy's root, the data folder)."""
    root = tmp_path_factory.mktemp("fourth_task")
    repo, data = root / "repo", root / "data"
    shutil.copytree(ROOT / "mtl", repo / "mtl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        NOTEBOOK_DIR, repo / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )
    with open(repo / "mtl" / "tasks.py", "a") as tasks_module:
        tasks_module.write(FOURTH_TASK)
    data.mkdir()
    for folder in (ROOT / "data").iterdir():
        if folder.is_dir():
            (data / folder.name).symlink_to(folder)
    write_topic_data(data / "topic")
    return repo, data


def check_the_fourth_task(name: str, figures: dict, notebook) -> None:
    """What a fourth task declared with one registry entry must reach in notebooks 02 and 04."""
    if name == "02_multitask_heads":
        heads = figures["frozen_encoder_heads"]["test"]
        assert set(heads["metrics"]) == {"question_type", "sentiment", "ner", "topic"} and "topic" in heads["baseline"]
        assert "topic_head" in figures["parameters"]
        assert plot_aspect(notebook, "encoder = mtl.SentenceEncoder()") < 1.75  # 4 heads: taller than for 3 (1.9)
    else:
        assert set(figures["tasks"]) == {"question_type", "sentiment", "ner", "topic"}
        assert figures["tasks"]["topic"]["target"] == 50.0
        assert figures["tasks"]["topic"]["metric"] == "topic test accuracy"
        assert plot_aspect(notebook, "import helpers") > 3.7  # the summary's panel per task: 4 wider than 3 (3.1)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    shown = [o.get("text", "") + o.get("data", {}).get("text/markdown", "") for o in outputs]
    assert any("topic" in text for text in shown)  # the tables list it
    assert not [o for o in outputs if o.output_type == "error"]


# Notebooks 02 and 04 run once, with the fourth task declared: one run checks both that the notebook runs and that a
# new task flows through it (each run costs a minute or two, and make test has a budget).
WITH_A_FOURTH_TASK = {"02_multitask_heads", "04_training_loop"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_profile(path, tmp_path, monkeypatch, quick_reports, fourth_task):
    data, fourth = "data", path.stem in WITH_A_FOURTH_TASK  # the repository's own datasets, no setup
    if fourth:
        repo, data_dir = fourth_task
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
        monkeypatch.setenv("DATA_DIR", str(data_dir))
        path, data = repo / "notebooks" / path.name, os.path.relpath(data_dir, repo)
    figures, notebook = execute(path, tmp_path, monkeypatch)
    assert figures["settings"]["profile"] == "quick"
    assert figures["settings"]["data"] == data
    assert misread(figures) == []
    if path.stem in PROSE_QUOTES_COMPARISONS:  # a sentence the quick run writes too is checked before any full render
        assert unbacked(markdown_outputs(notebook), figures) == []
    if fourth:
        check_the_fourth_task(path.stem, figures, notebook)
    shutil.copy(tmp_path / f"{path.stem}.json", quick_reports)


def test_the_results_table_reads_quick_profile_reports(quick_reports, tmp_path):
    """What `make reports` runs after the notebooks, on the quick runs' JSON: the table lists the rows they have."""
    if len(list(quick_reports.glob("*.json"))) < len(NOTEBOOKS):
        pytest.skip("needs every notebook's quick run (the test above)")
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    command = [sys.executable, "scripts/results_table.py", "--reports", str(quick_reports), "--readme", str(readme)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    results = (quick_reports / "RESULTS.md").read_text().splitlines()
    rows = [line for line in results if line.endswith("(quick profile) |")]
    assert {path.stem for path in NOTEBOOKS} <= {row.split("[")[1].split("]")[0] for row in rows}
    assert "(quick profile) |" in readme.read_text()  # the headline rows, in the README copy
    assert "(quick profile)" not in (ROOT / "README.md").read_text()  # the committed README is left as it was


def test_reports_fold_code_inputs_except_tagged_cells():
    """The HTML a reader opens shows prose and outputs; code inputs sit in closed toggles unless tagged show-code."""
    from nbconvert import HTMLExporter

    notebook = nbformat.read(NOTEBOOK_DIR / "02_multitask_heads.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    code[1].metadata["tags"] = ["show-code"]
    exporter = HTMLExporter(template_file=str(NOTEBOOK_DIR / "templates" / "report.html.j2"))
    html, _ = exporter.from_notebook_node(notebook)
    assert html.count('<details class="code-fold">') == len(code) - 1
    assert html.count("jp-OutputArea-output") >= sum(len(cell.outputs) > 0 for cell in code)  # outputs stay


TEST_SPLIT = re.compile(r"""load_split\([^()]*["']test["']|evaluate\w*\([^()]*test_data""")


def closing_test_section(notebook) -> int:
    """The index of the markdown cell that opens a notebook's test section: a heading naming the test split."""
    for i, cell in enumerate(notebook.cells):
        heading = cell.source.splitlines()[0] if cell.cell_type == "markdown" and cell.source else ""
        if heading.startswith("## ") and re.search(r"\btest\b", heading, re.IGNORECASE):
            return i
    return len(notebook.cells)


@pytest.mark.parametrize(
    "path",
    NOTEBOOKS,
    ids=lambda p: p.stem,
)
def test_no_task_is_scored_on_test_before_the_closing_section(path):
    """Dev chooses, test reports: a task's test split is read only from the section that scores it once."""
    notebook = nbformat.read(path, as_version=4)
    early = [cell.source for cell in notebook.cells[: closing_test_section(notebook)] if cell.cell_type == "code"]
    assert [line for source in early for line in source.splitlines() if TEST_SPLIT.search(line)] == []
    assert closing_test_section(notebook) < len(notebook.cells) or not any(
        TEST_SPLIT.search(c.source) for c in notebook.cells
    )


def test_the_rule_sees_an_early_test_read():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell('x = mtl.load_split("sentiment", "test")'),
        nbformat.v4.new_markdown_cell("## 8. Test, once"),
    ]
    early = [c.source for c in notebook.cells[: closing_test_section(notebook)] if c.cell_type == "code"]
    assert any(TEST_SPLIT.search(line) for source in early for line in source.splitlines())


def test_the_closing_section_names_the_version_of_each_package_figures_depend_on(monkeypatch):
    import platform

    import torch

    monkeypatch.syspath_prepend(str(NOTEBOOK_DIR))
    import helpers

    found = helpers.versions()
    assert found["Python"] == platform.python_version() and found["torch"] == torch.__version__
    assert {"transformers", "sentence-transformers", "openvino", "onnxruntime"} <= set(found)
    monkeypatch.setattr(helpers, "SOFTWARE", ("torch", "not-a-package"))
    assert set(helpers.versions()) == {"Python", "torch"}  # a package that is not installed is left out


def test_a_machine_is_named_in_a_few_words_and_the_verdict_words_are_defined_under_the_takeaways(monkeypatch):
    monkeypatch.syspath_prepend(str(NOTEBOOK_DIR))
    import helpers

    assert helpers.cpu_named({"cpu": "Intel(R) Xeon(R) Processor", "torch_threads": 2}) == "Intel Xeon, 2 threads"
    shown = []

    class Handle:
        def update(self, content):
            shown.append(getattr(content, "data", content))

    answer = helpers.Summary.__new__(helpers.Summary)
    answer.handles = [Handle(), Handle(), Handle()]
    answer.show(["a +1.0 (finding)", "b +2.0 (beyond seed noise)"], [])
    assert "*(finding)*:" in shown[0] and "*beyond* or *within seed noise*:" in shown[0]
    answer.show(["plain words, no verdict"], [])
    assert shown[2] == f"{helpers.SUMMARY}\n\n- plain words, no verdict"  # no legend where no verdict word is used
    answer.show([("the answer", "its figures, +1.0 (finding)"), "a second answer"], [])
    short, folded = shown[4].split('<details class="more">')
    assert short.startswith(f"{helpers.SUMMARY}\n\n- the answer\n- a second answer\n\n*(finding)*:")
    assert "\n\n- its figures, +1.0 (finding)\n\n</details>" in folded  # the caveats one click away, as a list


def test_the_closing_section_says_which_training_runs_were_replayed_from_the_run_cache(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from mtl.cache import RunCache

    monkeypatch.syspath_prepend(str(NOTEBOOK_DIR))
    import helpers

    trained = {"at": "2026-12-03 18:00", "machine": "Intel(R) Xeon(R) Processor, 2 cores"}
    fresh = SimpleNamespace(histories={"a": [{}, {}], "probe": []}, replayed=[], cache=None)
    assert helpers.replays(fresh) == "all 2 trained in this render (no run cache)"
    cache = RunCache(helpers.PROJECT_ROOT / "models" / "runs")
    replayed = SimpleNamespace(histories={"a": [{}, {}, {}]}, replayed=[{"arm": "a", "seed": 0, "trained": trained}],
                               cache=cache)  # fmt: skip
    said = helpers.replays(replayed)
    assert said.startswith("2 trained in this render, 1 replayed from the run cache (`models/runs/`")
    assert "trained 2026-12-03 on Intel(R) Xeon(R) Processor, 2 cores" in said
    monkeypatch.setattr(helpers, "PROFILE", "quick")
    assert helpers.run_cache() is None  # the quick profile trains afresh
    monkeypatch.setattr(helpers, "PROFILE", "full")
    monkeypatch.setenv("RUN_CACHE", str(tmp_path))
    assert helpers.run_cache().folder == tmp_path
    monkeypatch.setenv("RUN_CACHE", "off")
    assert helpers.run_cache() is None
