"""Which task each training step trains, and which batch of its data it reads: the task schedule (fixed in advance by
the seed) and BatchStream (a task's endless, reshuffled batches, rows of similar token count together). Both are
what every process of a run rebuilds alike, and what a checkpoint's positions point into."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mtl.kinds import KINDS
from mtl.tokenized import Tokenized

if TYPE_CHECKING:
    from mtl.multitask import MultiTaskModel
    from mtl.training import TrainConfig

SAMPLING = ("proportional", "temperature", "round_robin", "all")


def task_probabilities(sizes: dict[str, int], sampling: str, temperature: float = 2.0) -> dict[str, float]:
    """p(task) per step: proportional to n, to n ** (1/T), or equal (round_robin, which also cycles in order); under
    "all" every task trains at every step, so each has probability 1."""
    if sampling == "all":
        return {t: 1.0 for t in sizes}
    if sampling == "proportional":
        weights = {t: float(n) for t, n in sizes.items()}
    elif sampling == "temperature":
        weights = {t: n ** (1 / temperature) for t, n in sizes.items()}
    elif sampling == "round_robin":
        weights = {t: 1.0 for t in sizes}
    else:
        raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
    total = sum(weights.values())
    return {t: w / total for t, w in weights.items()}


def task_schedule(sizes: dict[str, int], config: TrainConfig) -> list[str]:
    """The task trained at each step, fixed in advance by the seed (so a resumed run follows the same plan)."""
    names = list(sizes)
    if config.sampling == "all":
        return ["+".join(names)] * config.steps
    if config.sampling == "round_robin":
        return [names[step % len(names)] for step in range(config.steps)]
    p = task_probabilities(sizes, config.sampling, config.temperature)
    rng = np.random.default_rng(config.seed)
    return [names[i] for i in rng.choice(len(names), size=config.steps, p=[p[t] for t in names])]


class BatchStream:
    """Endless batches of one task's data, reshuffled every epoch; its position can be saved.

    lengths: each row's token count. Given, each epoch shuffles the rows, sorts every window of 50 batches by length
    and shuffles the batches, so that a batch pads to near its own longest row while its rows stay a random draw from
    a window; None, batches are plain random draws."""

    WINDOW = 50  # batches sorted together

    def __init__(
        self, inputs: list, labels: list, batch_size: int, seed: int, lengths=None, epoch: int = 0, position: int = 0
    ):
        self.inputs, self.labels, self.batch_size, self.seed, self.lengths = inputs, labels, batch_size, seed, lengths
        self.epoch, self.position = epoch, position
        self._plan()

    def _plan(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.inputs))
        if self.lengths is not None:
            window = self.batch_size * self.WINDOW
            order = np.concatenate(
                [
                    w[np.argsort([self.lengths[i] for i in w], kind="stable")]
                    for w in np.split(order, range(window, len(order), window))
                ]
            )
        self.batches = [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        self.batches = [self.batches[i] for i in rng.permutation(len(self.batches))]

    def next(self) -> tuple[list, list]:
        if self.position == len(self.batches):
            self.epoch, self.position = self.epoch + 1, 0
            self._plan()
        batch = self.batches[self.position]
        self.position += 1
        return [self.inputs[i] for i in batch], [self.labels[i] for i in batch]


def token_counts(model: MultiTaskModel, task: str, inputs: list) -> list[int]:
    """Each row's token count after truncation, as the task's kind tokenises it (what a padded batch is as wide as)."""
    return Tokenized(model.encoder, inputs, is_split_into_words=KINDS[model.tasks[task].kind].split_into_words).lengths
