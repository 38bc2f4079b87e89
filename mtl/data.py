"""Where the datasets live, and readers for their files: TSV, labels.txt and CoNLL columns.

Every reader names the file and line of the first thing it cannot read, so a malformed file is fixed in one look.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

REPOSITORY_DATA = Path(__file__).resolve().parent.parent / "data"


def data_dir() -> Path:
    """The dataset folder: the repository's own data/, or $DATA_DIR to read another copy of it."""
    override = os.environ.get("DATA_DIR")
    path = Path(override) if override else REPOSITORY_DATA
    if not path.is_dir():
        where = f"DATA_DIR={override}" if override else f"the repository's data folder {path}"
        raise FileNotFoundError(f"{where} is not a directory (see data/README.md for what it must hold)")
    return path


def read_text(path: Path) -> str:
    """UTF-8 text (a BOM is allowed); a missing file or an undecodable byte is reported with its path and line."""
    path = Path(path)
    if not path.is_file():
        source = f"DATA_DIR={os.environ['DATA_DIR']}" if os.environ.get("DATA_DIR") else "the data folder"
        raise FileNotFoundError(
            f"{path}: no such file in {source} (see data/README.md for the files each dataset needs)"
        )
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: byte {raw[err.start]:#04x} is not valid UTF-8") from None


def write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2) + "\n")


def read_labels(path: Path) -> list[str]:
    """labels.txt: one class name per line; line i names integer label i."""
    names = [line.strip() for line in read_text(path).splitlines()]
    for number, name in enumerate(names, 1):
        if not name:
            raise ValueError(f"{path}:{number}: empty label name")
    if not names:
        raise ValueError(f"{path}:1: no labels in file")
    return names


def read_tsv(path: Path, columns: dict[str, type], rows: int | None = None) -> list[dict]:
    """The first `rows` rows (all if None) of a tab-separated file with a header, as dicts of `columns` converted to
    their types. Quoting follows Python's csv module (QUOTE_MINIMAL), as the datasets are written."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter="\t")
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{path}:1: empty file; expected a header with {', '.join(columns)}")
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}:1: header {header} lacks column(s) {missing}")
    records = []
    for row in reader:
        if rows is not None and len(records) == rows:
            break
        line = reader.line_num
        if len(row) != len(header):
            raise ValueError(f"{path}:{line}: expected {len(header)} tab-separated fields, found {len(row)}")
        record = dict(zip(header, row))
        for column, kind in columns.items():
            try:
                record[column] = kind(record[column])
            except ValueError:
                raise ValueError(
                    f"{path}:{line}: column {column!r}: {record[column]!r} is not {kind.__name__}"
                ) from None
        records.append({c: record[c] for c in columns})
    return records


def read_conll(path: Path, tags: list[str]) -> list[tuple[list[str], list[str]]]:
    """CoNLL column file -> [(words, tags)]: word first, NER tag last, blank line between sentences."""
    sentences, words, labels = [], [], []
    known, columns = set(tags), None
    for number, line in enumerate(read_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            if words:
                sentences.append((words, labels))
                words, labels = [], []
            continue
        if fields[0] == "-DOCSTART-":
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: expected 'WORD ... TAG', found {line!r}")
        columns = columns or len(fields)
        if len(fields) != columns:
            raise ValueError(
                f"{path}:{number}: expected {columns} columns like the lines above, found {len(fields)} in {line!r}"
            )
        if fields[-1] not in known:
            raise ValueError(f"{path}:{number}: unknown tag {fields[-1]!r} (known: {' '.join(tags)})")
        words.append(fields[0])
        labels.append(fields[-1])
    if words:
        sentences.append((words, labels))
    if not sentences:
        raise ValueError(f"{path}:1: no sentences in file")
    return sentences


def read_labelled_sentences(path: Path, names: list[str], rows: int | None = None) -> tuple[list[str], list[str]]:
    """A sentence-classification file as (sentences, label names); label ids are checked against `names`."""
    records = read_tsv(path, {"sentence": str, "label": int}, rows)
    for line, record in enumerate(records, 2):
        if not 0 <= record["label"] < len(names):
            raise ValueError(f"{path}:{line}: label {record['label']} outside 0..{len(names) - 1} (labels.txt)")
    return [r["sentence"] for r in records], [names[r["label"]] for r in records]


def load_stsb(split: str, root: Path | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """STS-B pairs and their gold similarity (0-5)."""
    path = Path(root or data_dir()) / "stsb" / f"{split}.tsv"
    records = read_tsv(path, {"sentence1": str, "sentence2": str, "score": float})
    return (
        [r["sentence1"] for r in records],
        [r["sentence2"] for r in records],
        np.array([r["score"] for r in records]),
    )
