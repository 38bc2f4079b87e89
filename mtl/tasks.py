"""Tasks: what the model knows of one (`Task`), and the project's registry of the tasks it trains (`TaskData`).

Adding a task to the project is one `register(TaskData(...))` call here: its data folder, how its dev split is made,
the split it reports on, its headline metric, a display name and a target. The notebooks, the benchmark and the
results table iterate over `REGISTRY`; nothing else names a task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtl.data import data_dir, read_labels
from mtl.kinds import KINDS


@dataclass(frozen=True)
class Task:
    """A task as the model sees it: a name, a kind and label names. The model code never names a task."""

    name: str
    kind: str  # "sentence": one label per sentence; "token": one label per word (see mtl.kinds)
    labels: tuple[str, ...]

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name!r}: kind must be one of {sorted(KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "labels", tuple(self.labels))


@dataclass(frozen=True)
class Carve:
    """A dev split held out of train: a fixed random `rows` (at most 10% of train), drawn with `seed`."""

    rows: int
    seed: int = 0


@dataclass(frozen=True)
class TaskData:
    """One registry entry: a task of this project and where its data comes from.

    Splits are "train", "dev" (model selection) and "test" (reported). `dev` is a file name in the folder, or a
    Carve of train when the dataset has no usable dev file; `test` names the file the reported figures come from.
    `train_rows` reads only the first rows of the training file (None: all of it).
    """

    name: str
    kind: str
    folder: str
    dev: str | Carve
    test: str
    display: str  # the reported figure in words, e.g. "TREC-6 test accuracy"
    target: float | None = None  # the joint model's goal on the reported metric (notebook 04)
    train_rows: int | None = None
    metric: str = ""  # the headline metric; "" = the kind's (accuracy for sentences, entity F1 for tokens)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name!r}: kind must be one of {sorted(KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "metric", self.metric or KINDS[self.kind].headline_metric)


REGISTRY: dict[str, TaskData] = {}


def register(entry: TaskData) -> TaskData:
    if entry.name in REGISTRY:
        raise ValueError(f"task {entry.name!r} is registered already")
    REGISTRY[entry.name] = entry
    return entry


# TREC has no dev file; SST-2's test labels are not public, so SST-2 reports on the GLUE dev file, as is customary,
# and selects models on 1,000 rows carved from train. The data folder holds all 67,349 SST-2 training rows; the
# registry reads the first 20,000 (notebook 04 measures reading all of them as a lever).
# Targets: near what each task reaches alone, TREC-6 97.0 (3 epochs alone on this machine), SST-2 89.5
# (published 6-layer MiniLM figures are 91 to 92), CoNLL-2003 87.0 (small encoders with enough steps).
register(
    TaskData(
        "question_type", "sentence", "trec", dev=Carve(500), test="test", display="TREC-6 test accuracy", target=97.0
    )
)
register(
    TaskData(
        "sentiment",
        "sentence",
        "sst2",
        dev=Carve(1000),
        test="dev",
        display="SST-2 dev (GLUE) accuracy",
        target=89.5,
        train_rows=20_000,
    )
)
register(
    TaskData("ner", "token", "conll2003", dev="dev", test="test", display="CoNLL-2003 test entity F1", target=87.0)
)


def declare_tasks(root: Path | None = None) -> list[Task]:
    """The registered tasks, with label names read from the data folder."""
    root = Path(root or data_dir())
    return [Task(e.name, e.kind, read_labels(root / e.folder / "labels.txt")) for e in REGISTRY.values()]


def load_split(task: str, split: str, root: Path | None = None, all_rows: bool = False) -> tuple[list, list]:
    """(inputs, labels) of one task's split: sentences and label names, or word lists and tag lists.

    all_rows: read the whole training file, ignoring the registry's `train_rows` (a carved dev split is then drawn
    from all of it)."""
    if task not in REGISTRY:
        raise ValueError(f"unknown task {task!r}; registered: {list(REGISTRY)}")
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split must be 'train', 'dev' or 'test', got {split!r}")
    entry, kind = REGISTRY[task], KINDS[REGISTRY[task].kind]
    train_rows = None if all_rows else entry.train_rows
    folder = Path(root or data_dir()) / entry.folder
    labels = read_labels(folder / "labels.txt")
    if split == "test":
        return kind.read(folder, entry.test, labels)
    if not isinstance(entry.dev, Carve):
        return kind.read(
            folder, entry.dev if split == "dev" else "train", labels, None if split == "dev" else train_rows
        )
    inputs, targets = kind.read(folder, "train", labels, train_rows)
    n_dev = min(entry.dev.rows, len(inputs) // 10)
    dev = set(np.random.default_rng(entry.dev.seed).permutation(len(inputs))[:n_dev].tolist())
    keep = [i for i in range(len(inputs)) if (i in dev) == (split == "dev")]
    return [inputs[i] for i in keep], [targets[i] for i in keep]
