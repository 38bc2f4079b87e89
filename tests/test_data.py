"""The readers: real formats read right, malformed files rejected with file:line."""

import hashlib
import re
from pathlib import Path

import pytest

import mtl
from mtl import data


def write(path, content: bytes | str):
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_reads_quoted_tsv_fields_like_the_shared_data(tmp_path):
    path = write(tmp_path / "x.tsv", 'sentence1\tsentence2\tscore\n"He said ""hi""."\tb\t3.800\n')
    assert data.read_tsv(path, {"sentence1": str, "score": float}) == [{"sentence1": 'He said "hi".', "score": 3.8}]


@pytest.mark.parametrize("content", ["\ufeffsentence\tlabel\nfine\t1\n", "sentence\tlabel\r\nfine\t1\r\n"])
def test_bom_and_crlf_are_read(tmp_path, content):
    path = write(tmp_path / "x.tsv", content)
    assert data.read_tsv(path, {"sentence": str, "label": int}) == [{"sentence": "fine", "label": 1}]


@pytest.mark.parametrize(
    "content, line, message",
    [
        ("", 1, "empty file"),
        ("text\tlabel\nfine\t1\n", 1, "lacks column"),
        ("sentence\tlabel\nfine\t1\ntoo\tmany\tfields\n", 3, "expected 2 tab-separated fields, found 3"),
        ("sentence\tlabel\nfine\tone\n", 2, "column 'label': 'one' is not int"),
        (b"sentence\tlabel\nfine\t1\nbad \xff byte\t0\n", 3, "not valid UTF-8"),
        (
            "sentence\tlabel\nfine\t1\n\nlost\t0\n",
            3,
            "expected 2 tab-separated fields, found 0",
        ),  # a blank line is not skipped
    ],
)
def test_malformed_tsv_names_file_and_line(tmp_path, content, line, message):
    path = write(tmp_path / "bad.tsv", content)
    with pytest.raises(ValueError, match=re.escape(f"{path}:{line}:") + ".*" + re.escape(message)):
        data.read_tsv(path, {"sentence": str, "label": int})


def test_label_outside_labels_file_names_file_and_line(tmp_path):
    (tmp_path / "task").mkdir()
    write(tmp_path / "task" / "labels.txt", "negative\npositive\n")
    write(tmp_path / "task" / "train.tsv", "sentence\tlabel\ngood\t1\nodd\t2\n")
    with pytest.raises(ValueError, match=re.escape("train.tsv:3: label 2 outside 0..1")):
        data.read_labelled_sentences(tmp_path / "task" / "train.tsv", ["negative", "positive"])


def test_labelled_sentences_map_ids_to_names():
    folder = mtl.data_dir() / "sst2"
    sentences, labels = data.read_labelled_sentences(folder / "dev.tsv", data.read_labels(folder / "labels.txt"))
    assert len(sentences) == len(labels) == 872
    assert labels.count("positive") == 444 and labels.count("negative") == 428  # GLUE SST-2 dev


def test_rows_reads_only_the_first_rows():
    path = mtl.data_dir() / "sst2" / "train.tsv"
    assert data.read_tsv(path, {"sentence": str}, rows=3) == data.read_tsv(path, {"sentence": str})[:3]


def test_conll_sentences_and_tags(tmp_path):
    path = write(
        tmp_path / "c.txt", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
    )
    assert data.read_conll(path, ["O", "B-ORG", "B-PER"]) == [
        (["EU", "rejects"], ["B-ORG", "O"]),
        (["Peter"], ["B-PER"]),
    ]


@pytest.mark.parametrize(
    "content, line, message",
    [
        ("EU NNP B-NP B-ORG\nrejects\n", 2, "expected 'WORD ... TAG'"),
        ("EU NNP B-NP B-ORGANISATION\n", 1, "unknown tag"),
        (
            "EU NNP B-NP B-ORG\nrejects VBZ B-VP\n",
            2,
            "expected 4 columns like the lines above, found 3",
        ),  # tag column missing
        ("", 1, "no sentences in file"),
        ("-DOCSTART- -X- -X- O\n\n", 1, "no sentences in file"),
        (b"EU NNP B-NP B-ORG\n\nM\xfcller NNP B-NP B-ORG\n", 3, "byte 0xfc is not valid UTF-8"),
    ],
)
def test_malformed_conll_names_file_and_line(tmp_path, content, line, message):
    path = write(tmp_path / "c.txt", content)
    with pytest.raises(ValueError, match=re.escape(f"{path}:{line}: {message}")):
        data.read_conll(path, ["O", "B-ORG"])


def test_conll_with_bom_and_crlf_is_read(tmp_path):
    path = write(tmp_path / "c.txt", "\ufeffEU NNP B-NP B-ORG\r\nrejects VBZ B-VP O\r\n\r\nPeter NNP B-NP B-ORG\r\n")
    assert data.read_conll(path, ["O", "B-ORG"]) == [(["EU", "rejects"], ["B-ORG", "O"]), (["Peter"], ["B-ORG"])]


@pytest.mark.parametrize(
    "content, line, message",
    [("negative\n\npositive\n", 2, "empty label name"), (b"neg\n\xe9\n", 2, "not valid UTF-8")],
)
def test_malformed_labels_file_names_file_and_line(tmp_path, content, line, message):
    path = write(tmp_path / "labels.txt", content)
    with pytest.raises(ValueError, match=re.escape(f"{path}:{line}:") + ".*" + re.escape(message)):
        data.read_labels(path)


def test_empty_labels_file_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no labels"):
        data.read_labels(write(tmp_path / "labels.txt", ""))


def test_missing_data_dir_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="DATA_DIR=.*nowhere is not a directory"):
        mtl.data_dir()


def test_a_data_dir_missing_a_dataset_names_the_missing_file(monkeypatch, tmp_path):
    (tmp_path / "trec").mkdir()
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(tmp_path / "trec" / "labels.txt")) + ": no such file in DATA_DIR="
    ):
        mtl.load_split("question_type", "train")


def test_without_data_dir_the_repository_data_folder_is_read(monkeypatch):
    monkeypatch.delenv("DATA_DIR", raising=False)
    assert mtl.data_dir() == Path(__file__).resolve().parent.parent / "data"


SHA256_ROW = re.compile(r"^\| `([\w/.]+)` \| ([\d,]+) \| ([0-9a-f]{64}) \|", re.MULTILINE)


def test_every_shipped_data_file_has_the_sha256_recorded_in_data_readme():
    folder = Path(__file__).resolve().parent.parent / "data"
    recorded = {name: digest for name, _, digest in SHA256_ROW.findall((folder / "README.md").read_text())}
    shipped = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "README.md"}
    assert set(recorded) == shipped  # every file recorded, nothing unrecorded shipped
    for name, digest in recorded.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, (
            f"data/{name} differs from data/README.md"
        )
