"""The multi-task model: one shared SentenceEncoder, one small head per task, one encoder pass for every task.

Also: which parameter group each weight belongs to (for freezing and layer-wise rates), evaluation, save and load.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mtl.data import write_json
from mtl.encoder import SentenceEncoder, Tokenized, check_texts, inference, length_sorted_batches
from mtl.kinds import KINDS
from mtl.spans import SHAPES, entity_spans, split_words
from mtl.tasks import Task

WEIGHT_FILES = ("heads.safetensors", "encoder/model.safetensors")  # what a checkpoint's weights are in
GROUP_FORMS = "'embeddings', 'layer.<i>' (0 = bottom), 'encoder', 'heads', 'head.<task>'"


def parameter_group_name(name: str) -> str:
    """'embeddings', 'layer.<i>' (transformer layer i, from the bottom), 'pooler' or 'head.<task>'.

    A name that fits none of them is an error naming it: a weight silently left out of every group would be frozen
    (or trained at a rate nobody chose) without anyone noticing."""
    if name.startswith("heads."):
        return "head." + name.split(".")[1]
    layer = re.search(r"\.layers?\.(\d+)\.", name)
    if layer:
        return f"layer.{layer.group(1)}"
    if ".embeddings." in name or name.endswith(".relative_attention_bias.weight"):  # MPNet's shared position bias
        return "embeddings"
    if ".pooler." in name:
        return "pooler"
    raise ValueError(
        f"parameter {name!r} belongs to no parameter group ({GROUP_FORMS}); "
        "say where it belongs in mtl.multitask.parameter_group_name"
    )


def layers(first: int, last: int) -> tuple[str, ...]:
    """Group names of transformer layers first..last, for freezing."""
    return tuple(f"layer.{i}" for i in range(first, last + 1))


class MultiTaskModel(nn.Module):
    """One shared SentenceEncoder, one small head per task; one encoder pass serves every task."""

    def __init__(self, encoder: SentenceEncoder, tasks: list[Task], dropout: float = 0.1, word_shapes: bool = False):
        """word_shapes: token tasks' heads also read each word's shape (ShapedTokenHead)."""
        super().__init__()
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        self.encoder, self.tasks, self.dropout = encoder, {t.name: t for t in tasks}, dropout
        self.word_shapes = word_shapes
        self.heads = nn.ModuleDict(
            {
                t.name: ShapedTokenHead(encoder.dim, len(t.labels), dropout)
                if word_shapes and KINDS[t.kind].split_into_words
                else nn.Sequential(nn.Dropout(dropout), nn.Linear(encoder.dim, len(t.labels)))
                for t in tasks
            }
        )
        self._freeze_pooler()  # the encoder keeps its own requires_grad: a frozen encoder shared by two models stays frozen
        self.to(encoder.device).eval()  # training is opt-in, as for the encoder

    def forward(self, features, tasks=None) -> dict[str, torch.Tensor]:
        """Logits per task: (batch, labels) for sentence tasks, (batch, tokens, labels) for token tasks."""
        encoded = self.encoder(features)
        logits = {}
        for name in tasks or self.tasks:
            read, head = encoded[KINDS[self.tasks[name].kind].reads], self.heads[name]
            if isinstance(head, ShapedTokenHead):
                if "word_shapes" not in features:
                    raise ValueError(f"{name}'s head reads word shapes: tokenise its word lists as mtl.KINDS does")
                logits[name] = head(read, features["word_shapes"])
            else:
                logits[name] = head(read)
        return logits

    # ------------------------------------------------------------ freezing

    def _select(self, names: tuple[str, ...]) -> list[nn.Parameter]:
        """The parameters of the named groups; an unknown name is a ValueError listing the valid ones."""
        known = {parameter_group_name(n) for n, _ in self.named_parameters()} - {"pooler"}
        unknown = [g for g in names if g not in known | {"encoder", "heads"}]
        if unknown:
            raise ValueError(f"unknown parameter group(s) {unknown}; this model has {GROUP_FORMS}: {sorted(known)}")
        selected = []
        for name, param in self.named_parameters():
            group = parameter_group_name(name)
            if group in names or ("heads" if group.startswith("head.") else "encoder") in names:
                selected.append(param)
        return selected

    def freeze(self, *groups: str) -> MultiTaskModel:
        """Stop training the named groups (see GROUP_FORMS); the rest is left as it is."""
        for param in self._select(groups):
            param.requires_grad_(False)
        return self

    def unfreeze(self, *groups: str) -> MultiTaskModel:
        """Train the named groups again; with no names, everything. The backbone's pooler (BERT's next-sentence
        layer over [CLS]) stays frozen: no head reads it."""
        for param in self._select(groups or ("encoder", "heads")):
            param.requires_grad_(True)
        self._freeze_pooler()
        return self

    def _freeze_pooler(self) -> None:
        for name, param in self.named_parameters():
            if parameter_group_name(name) == "pooler":
                param.requires_grad_(False)

    # ------------------------------------------------------------ inference

    def predict(self, texts, tasks=None, batch_size: int = 32) -> list[dict]:
        """Raw texts -> one dict per text, one entry per task:

        - sentence tasks: {"label": str, "score": its softmax probability};
        - token tasks: [{"text", "label", "start", "end", "score"}, ...], one per entity, where `label` is the entity
          type (PER, ORG, ...), `text == texts[i][start:end]`, and `score` is the mean of its words' tag
          probabilities (softmax at each word's first sub-token) along the valid IOB2 sequence `viterbi_tags` picks.

        Sentence tasks read the text as it is; token tasks read its words, split as the tokeniser pre-tokenises
        (punctuation apart from words), with character offsets: each kind's own tokenisation, as in training
        (mtl.kinds). Words beyond max_seq_length are not read (a warning says how many): entities come from the part
        that was read.
        """
        texts = check_texts(texts)
        tasks = self._tasks(tasks)
        words = None
        if any(self.tasks[t].kind == "token" for t in tasks):
            words = [split_words(self.encoder.tokenizer, text) for text in texts]
        results = self._infer(tasks, texts, words and [[w for w, _, _ in split] for split in words], batch_size)
        for text, split, result in zip(texts, words or texts, results):
            for name, value in result.items():
                if self.tasks[name].kind == "token":
                    read = [i for i, score in enumerate(value["scores"]) if score is not None]
                    result[name] = entity_spans(
                        text,
                        [split[i] for i in read],
                        [value["tags"][i] for i in read],
                        [value["scores"][i] for i in read],
                    )
        return results

    def predict_words(self, word_lists, tasks=None, batch_size: int = 32, decoding: str = "viterbi") -> list[dict]:
        """Pre-tokenised texts (lists of words, as in CoNLL) -> one dict per text: {"label", "score"} for sentence
        tasks (which read the words joined by spaces), {"tags": one IOB2 tag per word, "scores": [...]} for token
        tasks (see TokenKind.decode)."""
        if isinstance(word_lists, (str, dict)) or not all(isinstance(w, (list, tuple)) for w in word_lists):
            raise TypeError("predict_words takes a list of word lists; use predict for raw text")
        word_lists = [check_texts(list(words), f"word_lists[{i}]") for i, words in enumerate(word_lists)]
        texts = [" ".join(words) for words in word_lists]
        return self._infer(self._tasks(tasks), texts, word_lists, batch_size, decoding)

    def _tasks(self, tasks) -> list[str]:
        tasks = list(tasks or self.tasks)
        unknown = [t for t in tasks if t not in self.tasks]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; this model has {list(self.tasks)}")
        return tasks

    def _infer(self, tasks, texts, word_lists, batch_size: int, decoding: str = "viterbi") -> list[dict]:
        """Every task's decoded output for each input: each kind's tasks read the inputs tokenised by the kind's rule
        (texts for sentence tasks, word lists for token tasks). One encoder pass per batch serves every task when
        the rules give the same tokens, as they do for WordPiece models such as MiniLM; otherwise one pass per rule."""
        by_kind = {}
        for name in tasks:
            by_kind.setdefault(self.tasks[name].kind, []).append(name)
        tokens = {
            kind: Tokenized(
                self.encoder, word_lists if KINDS[kind].split_into_words else texts, KINDS[kind].split_into_words
            )
            for kind in by_kind
        }
        first = next(iter(sorted(tokens.values(), key=lambda t: "word_shapes" not in t.flat)), None)  # shapes if any
        shared = all(t.lengths == first.lengths and np.array_equal(t.flat["input_ids"], first.flat["input_ids"])
                     for t in tokens.values())  # fmt: skip
        passes = [(first, tasks)] if shared else [(tokens[kind], names) for kind, names in by_kind.items()]
        results = [{} for _ in texts]
        with inference(self):
            for idx in length_sorted_batches(first.lengths if first else [], batch_size):
                logits = {}
                for rule, names in passes:
                    logits |= {name: value.cpu() for name, value in self(rule.rows(idx), names).items()}
                for kind, names in by_kind.items():
                    split = KINDS[kind].split_into_words
                    word_ids = tokens[kind].row_word_ids(idx, logits[names[0]].shape[1]) if split else None
                    n_words = [len(word_lists[i]) for i in idx] if word_lists else None
                    for name in names:
                        decoded = KINDS[kind].decode(self.tasks[name], logits[name], word_ids, n_words, decoding)
                        for i, result in zip(idx, decoded):
                            results[i][name] = result
        cut = sum(sum(t.words_cut) for t in tokens.values())
        if cut:
            warnings.warn(
                f"{cut} word(s) beyond max_seq_length={self.encoder.max_seq_length} were not read", stacklevel=3
            )
        return results

    # ------------------------------------------------------------ save and load

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
        write_json(
            staging / "config.json",
            {
                "tasks": [asdict(t) for t in self.tasks.values()],
                "dropout": self.dropout,
                "word_shapes": self.word_shapes,
                "sha256": {name: sha256(staging / name) for name in WEIGHT_FILES},  # load() refuses altered weights
            },
        )
        old = path.with_name(path.name + ".old")
        if path.exists():  # path is whole, so an old/ left by a save killed before its last line is stale
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
        staging.rename(path)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, path, tasks: list[Task] | None = None, device=None, precision="fp32") -> MultiTaskModel:
        """Load a saved model; if `tasks` is given it must match the checkpoint's tasks exactly.

        precision="int8" runs the encoder through the fast CPU path (see SentenceEncoder)."""
        path = Path(path)
        try:
            config = json.loads((path / "config.json").read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path / 'config.json'}:{err.lineno}: not valid JSON ({err.msg})") from None
        for name, digest in config.get("sha256", {}).items():
            if sha256(path / name) != digest:
                raise ValueError(
                    f"{path / name}: SHA-256 differs from config.json's: the file is truncated or was modified"
                )
        saved = [Task(**t) for t in config["tasks"]]
        if tasks is not None and list(tasks) != saved:
            raise ValueError(
                f"{path}: checkpoint tasks {[(t.name, len(t.labels)) for t in saved]} "
                f"do not match the requested {[(t.name, len(t.labels)) for t in tasks]}"
            )
        # encoder/ is a sentence-transformers folder that carries its own pooling, normalisation and max length
        encoder = SentenceEncoder(path / "encoder", device=device, precision=precision)
        model = cls(encoder, saved, dropout=config["dropout"], word_shapes=config.get("word_shapes", False))
        weights = load_file(path / "heads.safetensors")
        expected = {k: tuple(v.shape) for k, v in model.heads.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in weights.items()}
        if found != expected:
            diff = sorted(set(found.items()) ^ set(expected.items()))
            raise ValueError(f"{path / 'heads.safetensors'}: head weights do not match config.json: {diff}")
        model.heads.load_state_dict(weights)
        return model.to(encoder.device)


class ShapedTokenHead(nn.Module):
    """A token head that also reads each token's word shape (mtl.spans.SHAPES: lower, Title, UPPER, ...): a small
    learned vector per shape joined to the token's embedding before the linear layer. An uncased encoder reads
    "france" and "France" alike; capitalisation is what a tagger of names would otherwise miss."""

    def __init__(self, dim: int, n_labels: int, dropout: float, shape_dim: int = 16):
        super().__init__()
        self.shape = nn.Embedding(len(SHAPES), shape_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(dim + shape_dim, n_labels)

    def forward(self, tokens: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
        shaped = self.shape(shapes.to(tokens.device)).to(tokens.dtype)
        return self.linear(self.dropout(torch.cat([tokens, shaped], dim=-1)))


def sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()  # streamed: a large weight file is not read into memory


def evaluate(
    model: MultiTaskModel, task: str, inputs: list, labels: list, batch_size: int = 64, decoding: str = "viterbi"
) -> dict[str, float]:
    """Per-task metrics x100: accuracy and macro-F1 (sentence tasks), entity-level P/R/F1 with seqeval (token tasks,
    on the given words, tags decoded as `decoding` says)."""
    kind = KINDS[model.tasks[task].kind]
    predicted = _predicted(model, task, inputs, batch_size, decoding)
    return {name: 100 * float(value) for name, value in kind.score(labels, predicted).items()}


def evaluate_with_counts(
    model: MultiTaskModel, task: str, inputs: list, labels: list, batch_size: int = 64, decoding: str = "viterbi"
) -> tuple[dict[str, float], np.ndarray]:
    """evaluate's metrics, and the per-example counts that mtl.figures' paired bootstrap resamples: (correct, 1) per
    sentence for sentence tasks, (true positives, false positives, false negatives) per sentence for token tasks."""
    from mtl.figures import accuracy_counts, entity_counts

    kind = KINDS[model.tasks[task].kind]
    predicted = _predicted(model, task, inputs, batch_size, decoding)
    metrics = {name: 100 * float(value) for name, value in kind.score(labels, predicted).items()}
    if kind.split_into_words:
        return metrics, entity_counts(labels, [p["tags"] for p in predicted])
    return metrics, accuracy_counts(labels, [p["label"] for p in predicted])


def _predicted(model: MultiTaskModel, task: str, inputs: list, batch_size: int, decoding: str) -> list[dict]:
    """One task's decoded outputs for evaluation inputs (sentences, or word lists for token tasks); a warning about
    unread words names the task and points at the caller of evaluate."""
    kind = KINDS[model.tasks[task].kind]
    texts = [" ".join(x) for x in inputs] if kind.split_into_words else check_texts(inputs, "inputs")
    with warnings.catch_warnings(record=True) as caught:  # re-raised below so that it points at the caller
        warnings.simplefilter("always")
        words = inputs if kind.split_into_words else None
        predicted = [r[task] for r in model._infer([task], texts, words, batch_size, decoding)]
    for w in caught:
        warnings.warn(f"{task}: {w.message}", w.category, stacklevel=3)
    return predicted
