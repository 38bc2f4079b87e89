"""Tasks: what the model knows of one (`Task`), and the project's registry of the tasks it trains (`TaskData`).

Adding a task to the project is one `register(TaskData(...))` call here: its data folder, how its dev split is made,
the split it reports on, its headline metric, a display name and a target. The notebooks, the benchmark and the
results table iterate over `REGISTRY`; nothing else names a task.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
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
    """A dev split held out of train: `rows` rows (at most 10% of train) drawn at random with `seed`, and every
    training row equal to a held-out row dropped from train, so that dev shares no text with training.

    whole: draw dev only from rows that lie inside no other row (as whole words), of `min_words` words or more, and
    drop from train every row that lies inside a held-out row. For SST-2, whose training rows are sub-phrases of the
    same reviews, this makes dev a set of whole sentences whose parts were never trained on.
    """

    rows: int
    seed: int = 0
    whole: bool = False
    min_words: int = 0


@dataclass(frozen=True)
class TaskData:
    """One registry entry: a task of this project and where its data comes from.

    Splits are "train", "dev" (model selection) and "test" (reported). `dev` is a file name in the folder, or a
    Carve of train when the dataset has no usable dev file; `test` names the file the reported figures come from.
    """

    name: str
    kind: str
    folder: str
    dev: str | Carve
    test: str
    display: str  # the reported figure in words, e.g. "TREC-6 test accuracy"
    target: float | None = None  # the joint model's goal on the reported metric (notebook 04)
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
# and selects models on 1,000 whole sentences carved from its 67,349 training rows (see Carve).
# Targets: what the joint model's 3-seed test mean should reach, TREC-6 96.5, SST-2 90.0 (the 6-layer, 384-wide
# MiniLM fine-tuned alone reaches 91.5, microsoft/unilm's MiniLM README), CoNLL-2003 88.0 (this encoder alone reached
# 87.6 after 3 epochs here). Notebook 04 says which are met and measures what holds back each one missed.
register(
    TaskData(
        "question_type", "sentence", "trec", dev=Carve(500), test="test", display="TREC-6 test accuracy", target=96.5
    )
)
register(
    TaskData(
        "sentiment",
        "sentence",
        "sst2",
        dev=Carve(1000, whole=True, min_words=8),
        test="dev",
        display="SST-2 dev (GLUE) accuracy",
        target=90.0,
    )
)
register(
    TaskData("ner", "token", "conll2003", dev="dev", test="test", display="CoNLL-2003 test entity F1", target=88.0)
)


def declare_tasks(root: Path | None = None) -> list[Task]:
    """The registered tasks, with label names read from the data folder."""
    root = Path(root or data_dir())
    return [Task(e.name, e.kind, read_labels(root / e.folder / "labels.txt")) for e in REGISTRY.values()]


def load_split(task: str, split: str, root: Path | None = None) -> tuple[list, list]:
    """(inputs, labels) of one task's split: sentences and label names, or word lists and tag lists."""
    if task not in REGISTRY:
        raise ValueError(f"unknown task {task!r}; registered: {list(REGISTRY)}")
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split must be 'train', 'dev' or 'test', got {split!r}")
    entry, kind = REGISTRY[task], KINDS[REGISTRY[task].kind]
    folder = Path(root or data_dir()) / entry.folder
    labels = read_labels(folder / "labels.txt")
    if split == "test":
        return kind.read(folder, entry.test, labels)
    if not isinstance(entry.dev, Carve):
        return kind.read(folder, entry.dev if split == "dev" else "train", labels)
    inputs, targets = kind.read(folder, "train", labels)
    dev, train = carve(tuple(kind.text(x) for x in inputs), entry.dev)
    keep = dev if split == "dev" else train
    return [inputs[i] for i in keep], [targets[i] for i in keep]


@lru_cache(maxsize=4)  # train and dev of one task are read in turn: carve its rows once
def carve(texts: tuple[str, ...], rule: Carve) -> tuple[list[int], list[int]]:
    """(dev row indices, train row indices) of a Carve of `texts`; see Carve for the rule."""
    if rule.whole:  # only runs of min_words or more words can equal a candidate: the others are not generated
        inside_another = {span for text in set(texts) for span in _spans(text, rule.min_words) if span != text}
        repeated = {text for text, n in Counter(texts).items() if n > 1}
        candidates = [
            i
            for i, text in enumerate(texts)
            if text not in inside_another and text not in repeated and len(text.split()) >= rule.min_words
        ]
    else:
        candidates = list(range(len(texts)))
    n_dev = min(rule.rows, len(texts) // 10, len(candidates))
    dev = sorted(candidates[i] for i in np.random.default_rng(rule.seed).permutation(len(candidates))[:n_dev])
    held_out = {span for i in dev for span in _spans(texts[i])} if rule.whole else {texts[i] for i in dev}
    chosen = set(dev)
    return dev, [i for i, text in enumerate(texts) if i not in chosen and text not in held_out]


def _spans(text: str, min_words: int = 1) -> set[str]:
    """Every run of `min_words` or more whole words in `text`, itself included."""
    words = text.split()
    n = len(words)
    return {" ".join(words[a:b]) for a in range(n) for b in range(a + max(min_words, 1), n + 1)}
