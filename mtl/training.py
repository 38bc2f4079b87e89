"""Training: one config, parameter groups with layer-wise rates, and the loop.

Read top to bottom: TrainConfig, parameter_groups, collate (a batch to model inputs and targets), start_run (the
optimiser, schedule, task plan and batch streams), train (the loop), training_step and batch_losses. Which task each
step trains and which batch it reads are in mtl/sampling.py; checkpoints and resuming in mtl/checkpoint.py.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import get_linear_schedule_with_warmup

from mtl.checkpoint import Run, evaluate_and_checkpoint, resume_run, rng_states
from mtl.distributed import barrier, share, sum_gradients, sum_over_processes, world
from mtl.kinds import KINDS
from mtl.measure import cpu_bf16_is_faster
from mtl.multitask import GROUP_FORMS, MultiTaskModel, parameter_group_name
from mtl.runtime import progress
from mtl.sampling import SAMPLING, BatchStream, task_schedule, token_counts

MIXED_PRECISION = ("auto", "no", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Everything that decides a training run. Same config, data and seed: same metrics."""

    steps: int = 1000
    batch_size: int = 32
    sampling: str = "proportional"  # which task each step trains: "proportional", "temperature", "round_robin", or
    # "all": every task at every step, their weighted losses summed into one backward pass
    temperature: float = 2.0  # for "temperature": p(task) proportional to n_task ** (1 / temperature)
    loss_weights: dict = field(default_factory=dict)  # task -> weight on its loss (default 1.0)
    head_lr: float = 1e-3
    head_lrs: dict = field(default_factory=dict)  # task -> its head's rate, where it differs from head_lr
    encoder_lr: float = 1e-4  # the top encoder layer; each layer below gets layer_decay times the one above
    layer_decay: float = 0.9  # 1.0 = one uniform rate for the whole encoder
    weight_decay: float = 0.01  # not applied to biases and LayerNorm weights
    warmup_ratio: float = 0.1  # linear warm-up over this share of the steps, then linear decay to 0
    max_grad_norm: float = 1.0
    freeze: tuple = ("embeddings",)  # group names (see parameter_group_name), "encoder" or "heads"
    eval_every: int = 250
    seed: int = 0
    mixed_precision: str = "auto"  # "auto" (see autocast_dtype), "no" (fp32), "bf16" or "fp16"
    group_by_length: bool = True  # batches of rows with similar token counts (BatchStream), so they pad little
    checkpoint_dir: str | None = None  # best/ (by mean dev score) and last/ (for resuming) are written here

    def __post_init__(self):
        if self.sampling not in SAMPLING:
            raise ValueError(f"sampling must be one of {SAMPLING}, got {self.sampling!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        group = re.compile(r"embeddings|encoder|heads|layer\.\d+|head\..+")
        unknown = [name for name in self.freeze if not group.fullmatch(name)]
        if isinstance(self.freeze, str) or unknown:
            raise ValueError(f"unknown parameter group(s) {unknown or self.freeze!r} in freeze; valid: {GROUP_FORMS}")
        self.freeze = tuple(self.freeze)


def autocast_dtype(mixed_precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the forward pass runs in under `mixed_precision`, or None for fp32. "auto" is bf16 on a CUDA GPU that
    supports it (same range as fp32, no loss scaling needed), fp16 on older GPUs, bf16 on a CPU whose bf16 products
    are measured faster than its fp32 ones (cpu_bf16_is_faster), and fp32 on any other CPU. Every process of a
    data-parallel run takes bf16 only if all of them measured it faster, so they train alike."""
    if mixed_precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        votes = sum_over_processes(torch.tensor([float(cpu_bf16_is_faster())]))
        return torch.bfloat16 if int(votes.item()) == world()[1] else None
    return {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mixed_precision]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def parameter_groups(model: MultiTaskModel, config: TrainConfig) -> list[dict]:
    """AdamW parameter groups: layer-wise learning rates, weight decay on matrices only, frozen weights left out.

    Heads train at head_lr; the top transformer layer at encoder_lr; each layer below at layer_decay times the one
    above; the embeddings lowest. Weight decay applies to weights of two or more dimensions (products and embeddings),
    not to biases and normalisation scales, whatever the architecture names them. Reads which weights are frozen
    (`model.freeze`) and changes nothing.
    """
    n_layers = model.encoder.backbone.config.num_hidden_layers
    depth = {"embeddings": 0, **{f"layer.{i}": i + 1 for i in range(n_layers)}}
    groups: dict[tuple, dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        group = parameter_group_name(name)
        if group.startswith("head."):
            lr = config.head_lrs.get(group.removeprefix("head."), config.head_lr)
        else:
            lr = config.encoder_lr * config.layer_decay ** (n_layers - depth[group])
        no_decay = param.dim() < 2
        key = (group, no_decay)
        decay = 0.0 if no_decay else config.weight_decay
        groups.setdefault(key, {"name": group, "lr": lr, "weight_decay": decay, "params": []})["params"].append(param)
    return list(groups.values())


def collate(model: MultiTaskModel, task: str, inputs: list, labels: list):
    """Model inputs and target ids for one task's batch (token targets sit on first sub-tokens, -100 elsewhere)."""
    kind = KINDS[model.tasks[task].kind]
    features = kind.tokenize(model.encoder, inputs)
    return features, kind.targets(model.tasks[task], features, labels)


def start_run(model: MultiTaskModel, train_data: dict, config: TrainConfig) -> Run:
    """Freeze what config.freeze names, build the optimiser, schedule, task plan and batch streams."""
    model.unfreeze().freeze(*config.freeze)  # exactly config.freeze is frozen for this run
    groups = parameter_groups(model, config)
    optimizer = torch.optim.AdamW(groups, lr=config.head_lr)
    device = model.encoder.device
    dtype = autocast_dtype(config.mixed_precision, device)
    history = {"loss": [], "eval": [], "task_steps": {t: 0 for t in train_data}, "seconds": 0.0, "examples": 0}
    history.update(best_step=None, best_score=None, mixed_precision=str(dtype or torch.float32).removeprefix("torch."))
    return Run(
        optimizer=optimizer,
        scheduler=get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * config.steps), config.steps),
        scaler=torch.amp.GradScaler(device.type, enabled=dtype == torch.float16),  # fp16 gradients would underflow
        streams={
            t: BatchStream(
                x,
                y,
                config.batch_size,
                seed=config.seed + i,
                lengths=token_counts(model, t, x) if config.group_by_length else None,
            )
            for i, (t, (x, y)) in enumerate(train_data.items())
        },
        schedule=task_schedule({t: len(x) for t, (x, _) in train_data.items()}, config),
        history=history,
        dtype=dtype,
        trainable=[p for g in groups for p in g["params"]],
        shared=[p for p in model.encoder.parameters() if p.requires_grad],
    )


def train(
    model: MultiTaskModel,
    train_data: dict,
    config: TrainConfig,
    dev_data: dict | None = None,
    resume: bool = False,
    teachers: dict | None = None,
) -> dict:
    """Train on {task: (inputs, labels)}, one task per step; evaluate on dev_data every config.eval_every steps.

    teachers: {task: a trained model with that task}, for distillation with teacher annealing (Clark et al. 2019,
    "BAM! Born-Again Multi-Task Networks"): the task's target is a mix of its gold labels and the teacher's predicted
    distribution whose gold share grows linearly from 0 to 1 over the run (a resumed run needs the same teachers).
    Returns the history: losses per step, dev metrics per evaluation, steps per task, wall time. Under torchrun or
    accelerate launch every process takes its share of each batch (mtl/distributed.py); the first process evaluates
    and writes the checkpoints, and its history holds the evaluations.
    """
    for what, named in (("loss_weights", config.loss_weights), ("head_lrs", config.head_lrs), ("teachers", teachers)):
        unknown = [t for t in named or {} if t not in train_data]
        if unknown:
            raise ValueError(f"{what} names unknown task(s) {unknown}; training on {list(train_data)}")
    rank = world()[0]
    torch.manual_seed(config.seed + rank)  # dropout: the first process draws what a single process would
    run = start_run(model, train_data, config)
    run.teachers = {task: _teacher(model, task, teacher) for task, teacher in (teachers or {}).items()}
    checkpoints = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    first_step = resume_run(model, run, checkpoints) if resume else 0
    explicit = resume and config.mixed_precision != "auto"
    if explicit and autocast_dtype(config.mixed_precision, model.encoder.device) != run.dtype:
        raise ValueError(
            f"{checkpoints / 'last'} was trained in {run.history['mixed_precision']}, and a resumed run goes on in the "
            f"precision it started in: resume with mixed_precision 'auto' or the one it started with, not "
            f"{config.mixed_precision!r}"
        )
    train_mode(model)
    started = time.perf_counter() - run.history["seconds"]
    bar = progress(
        range(first_step, config.steps), desc="train", initial=first_step, total=config.steps, show=rank == 0
    )
    for step in bar:
        training_step(model, run, config, step, checkpoints)
        bar.set_postfix({t: f"{v:.3f}" for t, v in run.running.items()})
        if dev_data and ((step + 1) % config.eval_every == 0 or step + 1 == config.steps):
            run.history["seconds"] = time.perf_counter() - started
            rng = rng_states()
            if rank == 0:
                evaluate_and_checkpoint(model, run, step + 1, dev_data, checkpoints, rng)
            barrier()  # the others wait until last/ is whole
            train_mode(model)
    run.history["seconds"] = time.perf_counter() - started
    model.eval()
    return run.history


def training_step(model: MultiTaskModel, run: Run, config: TrainConfig, step: int, checkpoints: Path | None) -> None:
    """One optimiser step on the scheduled task's next batch (every task's, under sampling "all"); raises
    TrainingDiverged on a non-finite loss."""
    rank, n_procs = world()
    tasks = list(run.streams) if config.sampling == "all" else [run.schedule[step]]
    gold_share = (step + 1) / config.steps  # teacher annealing: the teachers' share falls to 0 at the last step
    device, total, values = model.encoder.device, None, {}
    for task in tasks:
        inputs, labels = run.streams[task].next()  # the whole batch, the same in every process
        with torch.autocast(device.type, dtype=run.dtype, enabled=run.dtype is not None):  # the loss comes out fp32
            loss, batch_loss = batch_losses(
                model,
                task,
                share(inputs, rank, n_procs),
                share(labels, rank, n_procs),
                run.teachers.get(task),
                gold_share,
            )
        if not torch.isfinite(batch_loss):
            raise _diverged(f"loss is {batch_loss.item()}", step=step + 1, task=task, checkpoints=checkpoints)
        weighted = config.loss_weights.get(task, 1.0) * loss
        total = weighted if total is None else total + weighted
        values[task] = (batch_loss.item(), len(inputs))
    diverged = partial(_diverged, step=step + 1, task="+".join(tasks), checkpoints=checkpoints)
    if total.requires_grad:  # a short last batch may leave a process nothing to compute
        run.scaler.scale(total).backward()
    sum_gradients(run.shared + [p for t in tasks for p in model.heads[t].parameters() if p.requires_grad])
    run.scaler.unscale_(run.optimizer)  # clip the true gradients; a no-op without fp16
    grad_norm = torch.nn.utils.clip_grad_norm_(run.trainable, config.max_grad_norm)
    if not torch.isfinite(grad_norm) and not run.scaler.is_enabled():  # with fp16 the scaler skips such steps
        raise diverged(f"gradient norm is {grad_norm.item()}")
    try:
        run.scaler.step(run.optimizer)  # optimizer.step(), unless fp16 gradients overflowed
    except RuntimeError as error:  # an exploding rate can overflow inside AdamW before any loss turns NaN
        raise diverged(f"the optimiser step failed ({error})") from error
    run.scaler.update()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    for task, (value, examples) in values.items():
        run.history["loss"].append((step + 1, task, value))
        run.history["task_steps"][task] += 1
        run.history["examples"] += examples
        run.running[task] = value if task not in run.running else 0.9 * run.running[task] + 0.1 * value


def batch_losses(
    model: MultiTaskModel, task: str, inputs: list, labels: list, teacher=None, gold_share: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss this process back-propagates, the batch's mean loss). Cross-entropy; token tasks ignore -100. With a
    teacher, the target is gold_share x the gold label + (1 - gold_share) x the teacher's predicted distribution.

    One process: both are the mean over the batch. N processes: this process's summed loss over its share divided by
    the number of targets in the whole batch, so that the gradients summed over processes are those of the mean."""
    if inputs:
        features, targets = collate(model, task, inputs, labels)
        logits = model(features, tasks=[task])[task]
        logits, targets = logits.reshape(-1, logits.shape[-1]), targets.to(logits.device).reshape(-1)
        per_target = F.cross_entropy(logits, targets, ignore_index=-100, reduction="none")  # 0 where ignored
        if teacher is not None and gold_share < 1.0:
            with torch.no_grad():
                soft = teacher(features, tasks=[task])[task].reshape(logits.shape).float().softmax(-1)
            distilled = -(soft * F.log_softmax(logits.float(), -1)).sum(-1) * (targets != -100)
            per_target = gold_share * per_target + (1 - gold_share) * distilled
        summed, count = per_target.sum(), (targets != -100).sum().float()
        if world()[1] == 1:
            loss = summed / count.clamp(min=1)
            return loss, loss.detach()
    else:  # a short last batch may leave a process of several nothing to compute
        summed = count = torch.zeros((), device=model.encoder.device)
    total, n_targets = sum_over_processes(torch.stack([summed.detach().float(), count]))
    return summed / n_targets, total / n_targets


def _teacher(model: MultiTaskModel, task: str, teacher: MultiTaskModel) -> MultiTaskModel:
    """A teacher for `task`, checked to read the same inputs and predict the same labels; in eval mode, frozen."""
    if task not in teacher.tasks or teacher.tasks[task].labels != model.tasks[task].labels:
        raise ValueError(f"the teacher for {task!r} must have that task with the labels {model.tasks[task].labels}")
    probe = ["A teacher must read the same tokens as its student."]
    if teacher.encoder.tokenize(probe)["input_ids"].tolist() != model.encoder.tokenize(probe)["input_ids"].tolist():
        raise ValueError(f"the teacher for {task!r} tokenises differently from the model it teaches")
    teacher.to(model.encoder.device).eval()
    return teacher.freeze("encoder", "heads")


def train_mode(model: MultiTaskModel) -> None:
    """Training mode (dropout on), except for a fully frozen encoder: a fixed feature extractor runs in eval mode,
    so it computes exactly the embeddings a cache of it would hold, and its dropout cannot blur what the heads see."""
    model.train()
    if not any(p.requires_grad for p in model.encoder.parameters()):
        model.encoder.eval()


def _diverged(what: str, step: int, task: str, checkpoints: Path | None) -> TrainingDiverged:
    kept = (
        f"; the last good checkpoint is {checkpoints / 'best'}"
        if checkpoints and (checkpoints / "best").exists()
        else ""
    )
    return TrainingDiverged(f"{what} at step {step}, task {task!r}{kept}")
