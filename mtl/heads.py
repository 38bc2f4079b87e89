"""Heads trained on cached features of a frozen encoder: embed the training inputs once, then train only the head.

With the encoder frozen, its output for an input never changes, so an epoch of head training is a few matrix
products over cached vectors (a test checks it equals training through the frozen encoder on the same batches).
`linear_probe` is the project's one frozen-encoder baseline: every notebook that quotes one fits it this way.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mtl.encoder import SentenceEncoder
from mtl.kinds import KINDS
from mtl.tasks import Task

PROBE_ROWS = {
    "sentence": None,
    "token": 4000,
}  # training inputs a probe reads (None: all); token tasks have ~14 words each
PROBE_C = 10.0  # inverse L2 strength of the logistic regression


def cached_features(
    encoder: SentenceEncoder, task: Task, inputs: list, labels: list
) -> tuple[torch.Tensor, torch.Tensor]:
    """What a task's head reads from a frozen encoder, computed once, with the label ids: (features, labels)."""
    kind = KINDS[task.kind]
    features, kept = kind.embed(encoder, inputs)
    label_id = {name: i for i, name in enumerate(task.labels)}
    flat = kind.flat_labels(labels)
    return features, torch.tensor([label_id[flat[k]] for k in kept], dtype=torch.long)


def fit_head(
    head: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    epochs: int = 20,
    lr: float = 1e-2,
    batch_size: int = 256,
    seed: int = 0,
) -> list[float]:
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


def linear_probe(encoder: SentenceEncoder, task: Task, inputs: list, labels: list, rows: int | None = -1):
    """The frozen-encoder baseline: an L2-regularised multinomial logistic regression (scikit-learn, C=PROBE_C) on
    the frozen encoder's cached features of the first `rows` training inputs (default PROBE_ROWS for the task's
    kind), written into a model's head, so that the probe is scored like every other model (mtl.evaluate).
    Deterministic: the same data gives the same probe."""
    from sklearn.linear_model import LogisticRegression

    from mtl.multitask import MultiTaskModel

    rows = PROBE_ROWS[task.kind] if rows == -1 else rows
    features, label_ids = cached_features(encoder, task, inputs[:rows], labels[:rows])
    classifier = LogisticRegression(max_iter=1000, C=PROBE_C).fit(features.numpy(), label_ids.numpy())
    weight, bias = classifier.coef_, classifier.intercept_
    if len(classifier.classes_) == 2:  # one logit for two classes: split it symmetrically into two
        weight, bias = np.vstack([-weight, weight]) / 2, np.hstack([-bias, bias]) / 2
    if len(classifier.classes_) != len(task.labels):
        raise ValueError(
            f"{task.name}: the probe's training rows hold {len(classifier.classes_)} of {len(task.labels)} labels"
        )
    probe = MultiTaskModel(encoder, [task])
    linear = probe.heads[task.name][1]
    linear.weight.data = torch.tensor(weight, dtype=torch.float32, device=linear.weight.device)
    linear.bias.data = torch.tensor(bias, dtype=torch.float32, device=linear.bias.device)
    return probe
