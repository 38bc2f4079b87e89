"""Checkpoints and resuming: what a training run carries from step to step (Run), when best/ and last/ are written,
and how a resumed run, in one process or several, puts every piece back exactly where it was.

A save writes a whole new folder and renames it into place (MultiTaskModel.save), so a process killed at any moment
leaves one whole checkpoint behind. Resuming several processes adds one danger: processes that go on from different
steps train different tasks at the same step, and their gradient all-reduces no longer pair up (gloo: "Received data
size doesn't match expected size"). That happened while a killed run's workers lived on as orphans and kept
rewriting last/ as the resumed processes read it, each at its own moment. So process 0 alone chooses the folder to
resume from, and after loading, the processes compare what they restored and stop, naming the difference, unless they
agree on the task of every step still to come, on every stream's position and on the RNG states they read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mtl.distributed import from_first_process, gather, world
from mtl.kinds import KINDS
from mtl.multitask import MultiTaskModel, whole_checkpoint
from mtl.prediction import evaluate
from mtl.runtime import kill_point
from mtl.tasks import REGISTRY, Task


@dataclass
class Run:
    """What a training run carries from step to step; last/ saves it so that a resumed run goes on exactly."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    streams: dict  # task -> BatchStream
    schedule: list  # the task of every step
    history: dict
    dtype: torch.dtype | None  # the forward pass's autocast dtype, None for fp32
    trainable: list = field(default_factory=list)  # every parameter the optimiser moves
    shared: list = field(default_factory=list)  # the encoder's trainable parameters (summed across processes)
    running: dict = field(default_factory=dict)  # smoothed loss per task, for the progress bar
    teachers: dict = field(default_factory=dict)  # task -> a trained model whose predictions the task distils


def selection_metric(task: Task) -> str:
    """The metric a task's dev score is read from when choosing checkpoints: its registry entry's, else its kind's."""
    entry = REGISTRY.get(task.name)
    return entry.metric if entry is not None and entry.kind == task.kind else KINDS[task.kind].headline_metric


def rng_states() -> list[torch.Tensor]:
    """Every process's torch RNG state (dropout), gathered so that a resumed run draws what an uninterrupted one would."""
    return gather(torch.get_rng_state())


def evaluate_and_checkpoint(model: MultiTaskModel, run: Run, step: int, dev_data: dict, checkpoints, rng) -> None:
    """Dev metrics for every task; save best/ when the mean of the tasks' selection metrics improves, and last/ for
    resuming. Called by process 0 alone."""
    history = run.history
    metrics = {t: evaluate(model, t, x, y) for t, (x, y) in dev_data.items()}
    score = float(np.mean([metrics[t][selection_metric(model.tasks[t])] for t in metrics]))
    history["eval"].append({"step": step, "score": score, "seconds": history["seconds"], **metrics})
    improved = history["best_score"] is None or score > history["best_score"]
    if improved:
        history["best_step"], history["best_score"] = step, score
    if checkpoints:
        if improved:
            model.save(checkpoints / "best")
        state = {
            "step": step,
            "history": history,
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "scaler": run.scaler.state_dict(),  # empty unless fp16
            "streams": {t: (s.epoch, s.position) for t, s in run.streams.items()},
            "torch_rng": rng,  # one state per process
        }
        model.save(checkpoints / "last", extra={"trainer_state.pt": state})


def resume_run(model: MultiTaskModel, run: Run, checkpoints: Path) -> int:
    """Put model and run back where <checkpoints>/last was saved, in every process; returns the step to go on from.

    Process 0 chooses the folder (last/, or last.old/ after a save killed between its renames) and every process
    loads that one; then they compare what they restored (`restored`) before any training step, so that processes
    which would go on differently stop here with each one's account rather than at a mismatched all-reduce."""
    path = Path(from_first_process(str(whole_checkpoint(Path(checkpoints) / "last"))))
    kill_point("resume: checkpoint chosen")
    if not path.exists():
        raise FileNotFoundError(f"nothing to resume: {path} does not exist (nor {path.name}.old)")
    record = load_run(model, run, path)
    kill_point("resume: checkpoint loaded")
    records = gather(record)
    if any(other != record for other in records):
        accounts = "\n".join(f"  process {rank}: {r}" for rank, r in enumerate(records))
        raise RuntimeError(
            f"the processes restored different runs from {path}; is another run writing it?\n{accounts}"
        )
    return record["step"]


def load_run(model: MultiTaskModel, run: Run, path: Path) -> dict:
    """Put model, optimiser, schedule, loss scale, data streams, history and RNG back where the checkpoint at `path`
    was saved; returns what was restored (`restored`), whose "step" is the step to go on from."""
    model.load_state_dict(
        MultiTaskModel.load(path, tasks=list(model.tasks.values()), device=model.encoder.device).state_dict()
    )
    state = torch.load(path / "trainer_state.pt", weights_only=True)  # tensors and plain containers only: no code runs
    # the run goes on in the precision it started in: "auto" is timed at each launch (cpu_bf16_is_faster), and a busy
    # machine can time bf16 products slower than fp32 ones where the same machine idle timed them faster; a resumed
    # run that switched would no longer end at the uninterrupted run's weights
    started_in = state["history"].get("mixed_precision")  # a torch dtype's name, as start_run records it
    if started_in:
        run.dtype = None if started_in == "float32" else getattr(torch, started_in)
        run.scaler = torch.amp.GradScaler(model.encoder.device.type, enabled=run.dtype == torch.float16)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    for task, (epoch, position) in state["streams"].items():
        run.streams[task].epoch, run.streams[task].position = epoch, position
        run.streams[task]._plan()
    rank, n_procs = world()
    rng = state["torch_rng"]
    torch.set_rng_state(rng[rank] if len(rng) == n_procs else rng[0])
    run.history = state["history"]
    return restored(run, state["step"], rng)


def restored(run: Run, step: int, rng: list[torch.Tensor]) -> dict:
    """A resumed process's account of where it stands, equal in every process of a run that will go on in step: the
    step, the tasks of every step from there (digested), each task stream's epoch and position, and the RNG states
    read (each process takes its own from the same list)."""
    return {
        "step": step,
        "tasks from there": _digest(" ".join(run.schedule[step:]).encode()),
        "streams": {task: (stream.epoch, stream.position) for task, stream in run.streams.items()},
        "rng read": _digest(b"".join(state.numpy().tobytes() for state in rng)),
    }


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]
