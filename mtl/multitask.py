"""The multi-task model: one shared SentenceEncoder, one small head per task, one encoder pass for every task.

Also: which parameter group each weight belongs to (for freezing and layer-wise rates), save and load. Prediction and
evaluation, batched over many inputs, are in mtl/prediction.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mtl.data import write_json
from mtl.encoder import SentenceEncoder
from mtl.kinds import KINDS
from mtl.prediction import predict, predict_words
from mtl.runtime import kill_point
from mtl.spans import SHAPES
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

    # ------------------------------------------------------------ inference (mtl/prediction.py)

    def predict(self, texts, tasks=None, batch_size: int = 32) -> list[dict]:
        """Raw texts -> one dict per text, one entry per task: see mtl.prediction.predict."""
        return predict(self, texts, tasks, batch_size)

    def predict_words(self, word_lists, tasks=None, batch_size: int = 32, decoding: str = "viterbi") -> list[dict]:
        """Pre-tokenised texts (lists of words, as in CoNLL) -> one dict per text: see mtl.prediction.predict_words."""
        return predict_words(self, word_lists, tasks, batch_size, decoding)

    # ------------------------------------------------------------ save and load

    def save(self, path, extra: dict | None = None) -> None:
        """Atomically write config.json, heads.safetensors and encoder/ (a sentence-transformers directory).

        Everything is written to <name>.tmp first; then the previous checkpoint is moved aside to <name>.old, the new
        one renamed into place, and <name>.old removed. A process killed at any point leaves one whole checkpoint:
        <name>, or, between the two renames, <name>.old, which `whole_checkpoint` (and so load) then reads. Each
        write and rename is a `kill_point`, where the tests kill a save. `extra` maps file names to objects saved
        beside the weights with torch.save.
        """
        path = Path(path)
        staging, old = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, obj in (extra or {}).items():
            torch.save(obj, staging / name)
            kill_point(f"{path.name}: {name} written")
        self.encoder.save(staging / "encoder")
        kill_point(f"{path.name}: encoder/ written")
        save_file({k: v.contiguous() for k, v in self.heads.state_dict().items()}, staging / "heads.safetensors")
        kill_point(f"{path.name}: heads.safetensors written")
        write_json(
            staging / "config.json",
            {
                "tasks": [asdict(t) for t in self.tasks.values()],
                "dropout": self.dropout,
                "word_shapes": self.word_shapes,
                "sha256": {name: sha256(staging / name) for name in WEIGHT_FILES},  # load() refuses altered weights
            },
        )
        kill_point(f"{path.name}: config.json written")
        if path.exists():  # path is whole, so an old/ left by a save killed before its last line is stale
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            kill_point(f"{path.name}: moved aside")
        staging.rename(path)
        kill_point(f"{path.name}: put in place")
        shutil.rmtree(old, ignore_errors=True)
        kill_point(f"{path.name}: old removed")

    @classmethod
    def load(cls, path, tasks: list[Task] | None = None, device=None, precision="fp32") -> MultiTaskModel:
        """Load a saved model; if `tasks` is given it must match the checkpoint's tasks exactly.

        precision="int8" runs the encoder through the fast CPU path (see SentenceEncoder). A save killed between its
        two renames left only <path>.old, whole: that is read then."""
        path = whole_checkpoint(path)
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


def whole_checkpoint(path) -> Path:
    """The folder holding the checkpoint saved as `path`: path itself, or path.old when a save was killed after moving
    the previous checkpoint aside and before putting the new one in place (see MultiTaskModel.save)."""
    path = Path(path)
    old = path.with_name(path.name + ".old")
    return old if not path.exists() and old.exists() else path


def sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()  # streamed: a large weight file is not read into memory
