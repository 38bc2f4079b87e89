"""The task registry: every registered task's splits read cleanly, carved dev splits are fixed and disjoint, and a
new task is one entry."""

import pytest

import mtl
from mtl import tasks
from mtl.data import read_labelled_sentences, read_labels

SIZES = {  # (train, dev, test) rows the committed reports were made with
    "question_type": (4952, 500, 500),
    "sentiment": (19000, 1000, 872),
    "ner": (14041, 3250, 3453),
}


@pytest.mark.parametrize("name", list(mtl.REGISTRY))
def test_every_registered_task_reads_its_three_splits(name):
    for split, expected in zip(("train", "dev", "test"), SIZES[name]):
        inputs, labels = mtl.load_split(name, split)
        assert len(inputs) == len(labels) == expected, (name, split)


def test_declared_tasks_follow_the_registry_with_labels_from_the_data():
    declared = mtl.declare_tasks()
    assert [t.name for t in declared] == list(mtl.REGISTRY)
    assert next(t for t in declared if t.name == "sentiment").labels == ("negative", "positive")
    assert [t.kind for t in declared] == [e.kind for e in mtl.REGISTRY.values()]


def test_carved_dev_split_is_fixed_and_disjoint_from_train():
    train, _ = mtl.load_split("question_type", "train")
    dev, _ = mtl.load_split("question_type", "dev")
    again, _ = mtl.load_split("question_type", "dev")
    folder = mtl.data_dir() / "trec"
    everything, _ = read_labelled_sentences(folder / "train.tsv", read_labels(folder / "labels.txt"))
    assert dev == again and len(dev) == 500
    assert sorted(train + dev) == sorted(everything)


def test_sentiment_uses_the_first_20000_training_rows_of_the_67349_shipped():
    folder = mtl.data_dir() / "sst2"
    everything, _ = read_labelled_sentences(folder / "train.tsv", read_labels(folder / "labels.txt"))
    train, _ = mtl.load_split("sentiment", "train")
    dev, _ = mtl.load_split("sentiment", "dev")
    assert len(everything) == 67349
    assert sorted(train + dev) == sorted(everything[:20000])
    train, _ = mtl.load_split("sentiment", "train", all_rows=True)
    dev, _ = mtl.load_split("sentiment", "dev", all_rows=True)
    assert len(dev) == 1000 and sorted(train + dev) == sorted(everything)


def test_a_new_task_is_one_registry_entry(tmp_path, monkeypatch):
    folder = tmp_path / "intent"
    folder.mkdir()
    (folder / "labels.txt").write_text("greeting\nfarewell\n")
    rows = "".join(
        f"{text} {i}\t{label}\n" for i in range(30) for text, label in [("hello there", 0), ("goodbye now", 1)]
    )
    (folder / "train.tsv").write_text("sentence\tlabel\n" + rows)
    (folder / "test.tsv").write_text("sentence\tlabel\nhi\t0\nbye\t1\n")
    monkeypatch.setattr(tasks, "REGISTRY", {})
    tasks.register(
        mtl.TaskData("intent", "sentence", "intent", dev=tasks.Carve(5), test="test", display="intent accuracy")
    )
    assert [t.name for t in mtl.declare_tasks(tmp_path)] == ["intent"]
    assert [len(mtl.load_split("intent", split, tmp_path)[0]) for split in ("train", "dev", "test")] == [55, 5, 2]
    assert tasks.REGISTRY["intent"].metric == "accuracy"  # the kind's headline metric unless the entry names one


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mtl.load_split("sentimnet", "train"), "unknown task 'sentimnet'; registered"),
        (lambda: mtl.load_split("sentiment", "validation"), "split must be"),
        (lambda: mtl.Task("x", "document", ["a"]), "kind must be one of"),
        (lambda: tasks.register(tasks.REGISTRY["ner"]), "registered already"),
    ],
)
def test_mistakes_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
