"""Training runs kept on disk, so that a notebook run again replays what it already trained instead of training it
again: a full render of notebook 03 or 04 trains for hours on 2 CPU cores, and a render stopped halfway (or re-run
after a change to its prose) would otherwise start from nothing.

A run's key hashes everything that decides what the run computes:
  the package's code         any change to mtl/*.py trains afresh, except to its comments and docstrings
                             (the subpackage mtl/words/ is left out: it writes sentences from figures and
                             decides none, so rewording a report replays its runs)
  the run's TrainConfig      seed and steps included (checkpoint_dir aside: where checkpoints go changes no figure)
  the model as it starts     every tensor, which parameters train, the encoder's tokeniser, pooling, normalisation and
                             length limit, the tasks with their labels, the heads' dropout
  the training rows          the very rows (a seed's draw, where the data depends on the seed)
  the dev rows and decoding  what the run is scored on, and how token tags are decoded
  whether a dev curve is asked for
  the software and machine   torch's and transformers' versions; the CPU, its instruction sets and torch's thread
                             count, or the GPU: kernels differ between them (and "auto" precision trains bf16 on
                             one CPU and fp32 on another), so a run replays only on the kind of machine it trained on
What the key leaves out cannot change a run's figures: the notebook code around `Experiments.run` (its prose, plots
and the choices it makes from the figures) may change freely and still replay.

An entry is a folder written whole (to <key>.tmp, then renamed into place, so a process killed mid-write leaves no
half entry): record.joblib holds the dev scores with their per-example counts, the training history (its seconds are
the original run's) and when and on what machine the run trained; model.pt, the trained weights, where the arm keeps
its models (the others are not written: at ~90 MB a MiniLM run, keeping every run would fill a disk).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import shutil
import time
from pathlib import Path

import joblib
import torch
import transformers

from mtl.runtime import machine

VERSION = 1  # bump when an entry's contents change shape: older entries are then never read


def code_of(source: str) -> str:
    """A module's syntax tree without its docstrings, as text: what its code does, whatever its comments and
    docstrings say (neither can change a figure, and both are edited far more often than the code)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


@functools.cache
def package_digest() -> str:
    """SHA-256 over the code of every module of the package (mtl/*.py; not mtl/words/, which decides no figure),
    read once per process."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + code_of(path.read_text()).encode() + b"\0")
    return digest.hexdigest()


def model_digest(model) -> str:
    """SHA-256 of a MultiTaskModel as it stands: every tensor's name, dtype, shape and bytes, which parameters train,
    and the settings that are not tensors (tokeniser, pooling, normalisation, length limit, tasks, dropout)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    encoder = model.encoder
    backend = getattr(encoder.tokenizer, "backend_tokenizer", None)  # a fast tokeniser's whole definition, as JSON
    settings = {
        "trainable": [name for name, p in model.named_parameters() if p.requires_grad],
        "tasks": [dataclasses.asdict(t) for t in model.tasks.values()],
        "heads": {"dropout": model.dropout, "word_shapes": model.word_shapes},
        "encoder": {k: getattr(encoder, k) for k in ("max_seq_length", "pooling", "normalize", "do_lower_case")},
        "tokenizer": backend.to_str() if backend is not None else repr(encoder.tokenizer),
    }
    digest.update(joblib.hash(settings).encode())
    return digest.hexdigest()


def where(device) -> dict:
    """The machine a run trains on, as far as it can change the run's numbers."""
    if device.type == "cuda":
        return {"gpu": torch.cuda.get_device_name(device)}
    cpu = machine()
    return {"cpu": cpu["cpu"], "flags": cpu["flags"], "threads": cpu["torch_threads"]}


class RunCache:
    """The trained runs of one folder (models/runs/ for the notebooks' full profile: notebooks/helpers.run_cache)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def key(self, model, train_data: dict, dev_data: dict, config, decoding: str, curve: bool) -> str:
        """The key of a run about to start: call it before training, while the model is as the run starts it."""
        settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "checkpoint_dir"}
        return joblib.hash(
            {
                "version": VERSION,
                "code": package_digest(),
                "config": settings,
                "model": model_digest(model),
                "train": train_data,
                "dev": dev_data,
                "decoding": decoding,
                "curve": bool(curve),
                "software": [torch.__version__, transformers.__version__],
                "machine": where(model.encoder.device),
            }
        )

    def load(self, key: str, model=None) -> dict | None:
        """The entry of a run trained before ({"scores", "history", "trained"}), or None where there is none. With a
        model, its trained weights are loaded into it, and an entry written without them counts as none."""
        folder = self.folder / key
        if not (folder / "record.joblib").exists() or (model is not None and not (folder / "model.pt").exists()):
            return None
        if model is not None:
            model.load_state_dict(
                torch.load(folder / "model.pt", map_location=model.encoder.device, weights_only=True)
            )
        return joblib.load(folder / "record.joblib")

    def save(self, key: str, scores: dict, history: dict, model=None) -> None:
        """Write a run's entry whole (and its trained weights, with a model), replacing one written without them."""
        staging, final = self.folder / f"{key}.tmp", self.folder / key
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        cpu = machine()
        trained = {"at": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{cpu['cpu']}, {cpu['cores']} cores"}
        joblib.dump({"scores": scores, "history": history, "trained": trained}, staging / "record.joblib")
        if model is not None:
            torch.save(model.state_dict(), staging / "model.pt")
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
