"""The task registry: every registered task's splits read cleanly, carved dev splits are fixed and disjoint, and a
new task is one entry."""

import statistics

import pytest

import mtl
from mtl import tasks
from mtl.data import read_labelled_sentences, read_labels

SIZES = {  # (train, dev, test) rows
    "question_type": (4938, 500, 500),
    "sentiment": (55359, 1000, 872),
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


def test_carved_dev_split_is_fixed_and_train_keeps_every_other_row_not_equal_to_a_dev_row():
    train, _ = mtl.load_split("question_type", "train")
    dev, _ = mtl.load_split("question_type", "dev")
    again, _ = mtl.load_split("question_type", "dev")
    folder = mtl.data_dir() / "trec"
    everything, _ = read_labelled_sentences(folder / "train.tsv", read_labels(folder / "labels.txt"))
    assert dev == again and len(dev) == 500
    assert not set(dev) & set(train)
    assert sorted(train) == sorted(row for row in everything if row not in set(dev))


def spans(text: str) -> set[str]:
    words = text.split()
    return {" ".join(words[a:b]) for a in range(len(words)) for b in range(a + 1, len(words) + 1)}


def test_sentiment_dev_is_whole_sentences_of_all_67349_rows_that_share_no_text_with_train():
    folder = mtl.data_dir() / "sst2"
    everything, _ = read_labelled_sentences(folder / "train.tsv", read_labels(folder / "labels.txt"))
    train, _ = mtl.load_split("sentiment", "train")
    dev, _ = mtl.load_split("sentiment", "dev")
    test, _ = mtl.load_split("sentiment", "test")
    assert len(everything) == 67349 and len(dev) == 1000 and set(train) | set(dev) <= set(everything)
    inside_train = {span for row in train if len(row.split()) >= 8 for span in spans(row)}
    assert not [row for row in dev if row in inside_train]  # no dev row equals or lies inside a training row
    inside_dev = set().union(*(spans(row) for row in dev))
    assert not [row for row in train if len(row.split()) >= 3 and row in inside_dev]
    median = lambda rows: statistics.median(len(row.split()) for row in rows)
    assert abs(median(dev) - median(test)) <= 0.3 * median(test)  # like the GLUE dev file it is reported on


def test_a_whole_sentence_carve_holds_out_sentences_and_drops_their_parts_from_train():
    texts = ("a fine film", "fine", "a fine film indeed", "dull", "a dull plot", "plot", "dull plot", "a dull plot")
    texts += ("good", "bad")
    dev, train = tasks.carve(texts, tasks.Carve(1, whole=True, min_words=3))
    assert [texts[i] for i in dev] == ["a fine film indeed"]  # the only 3+ word row inside no other and not repeated
    assert [texts[i] for i in train] == ["dull", "a dull plot", "plot", "dull plot", "a dull plot", "good", "bad"]


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
