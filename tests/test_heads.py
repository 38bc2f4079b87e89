"""Heads on cached embeddings: they learn, and they are exactly what training through the frozen encoder gives."""

import copy

import torch
import torch.nn.functional as F
from test_training import SENTIMENT, TINY, fresh_model

import mtl
from mtl import training


def test_fit_head_learns_a_separable_problem():
    torch.manual_seed(0)
    features = torch.randn(200, 8)
    labels = (features[:, 0] > 0).long()
    head = torch.nn.Linear(8, 2)
    losses = mtl.fit_head(head, features, labels, epochs=30, lr=0.05, batch_size=32)
    assert losses[-1] < losses[0] / 4
    assert (head(features).argmax(1) == labels).float().mean() > 0.97


def test_heads_on_cached_embeddings_match_training_through_the_frozen_encoder():
    """Notebook 03 trains heads on cached embeddings because that is the same computation, only cheaper."""
    sentences, labels = TINY["sentiment"]
    targets = torch.tensor([SENTIMENT.labels.index(label) for label in labels])
    model = fresh_model()
    model.freeze("encoder")
    cached_head = copy.deepcopy(model.heads["sentiment"])
    torch.manual_seed(1)  # the heads' dropout masks
    mtl.fit_head(cached_head, model.encoder.encode(sentences), targets, epochs=4, lr=1e-2, batch_size=3, seed=0)

    # the same batches, optimiser and dropout masks, but every batch goes through the frozen encoder in train()'s mode
    head = model.heads["sentiment"]
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-2)
    batches = torch.Generator().manual_seed(0)
    torch.manual_seed(1)
    training.train_mode(model)
    for _ in range(4):
        for idx in torch.randperm(len(sentences), generator=batches).split(3):
            logits = model(model.encoder.tokenize([sentences[i] for i in idx]), tasks=["sentiment"])["sentiment"]
            loss = F.cross_entropy(logits, targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    assert not model.encoder.training and head.training
    for (name, cached), through in zip(cached_head.named_parameters(), head.parameters()):
        torch.testing.assert_close(cached, through, atol=1e-5, rtol=0, msg=name)


def test_the_linear_probe_is_the_logistic_regression_it_fits(encoder):
    """The probe's head gives scikit-learn's own predictions, for a two-class and a six-class task."""
    from sklearn.linear_model import LogisticRegression

    for name in ("sentiment", "question_type"):
        task = next(t for t in mtl.declare_tasks() if t.name == name)
        inputs, labels = mtl.load_split(name, "train")
        inputs, labels = inputs[:300], labels[:300]
        probe = mtl.linear_probe(encoder, task, inputs, labels)
        features, ids = mtl.cached_features(encoder, task, inputs, labels)
        expected = LogisticRegression(max_iter=1000, C=mtl.heads.PROBE_C).fit(features.numpy(), ids.numpy())
        with torch.inference_mode():
            logits = probe.heads[name](features)
        assert logits.argmax(1).tolist() == expected.predict(features.numpy()).tolist()
        assert [p[name]["label"] for p in probe.predict(inputs[:20])] == [
            task.labels[i] for i in expected.predict(features[:20].numpy())
        ]
