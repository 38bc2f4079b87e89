"""Heads trained on cached features of a frozen encoder: embed the training inputs once, then train only the head.

With the encoder frozen, its output for an input never changes, so an epoch of head training is a few matrix
products over cached vectors (a test checks it equals training through the frozen encoder on the same batches).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtl.encoder import SentenceEncoder
from mtl.kinds import KINDS
from mtl.tasks import Task


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
