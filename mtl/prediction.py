"""Prediction and evaluation over many inputs with a MultiTaskModel: each kind's tokenisation once, batches of
similar length, one encoder pass per batch for every task where the kinds' tokens agree, outputs decoded per kind and
put back in input order. MultiTaskModel.predict and .predict_words call predict and predict_words here."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from mtl.encoder import check_texts, inference
from mtl.figures import accuracy_counts, entity_counts
from mtl.kinds import KINDS
from mtl.spans import entity_spans, split_words
from mtl.tokenized import Tokenized, length_sorted_batches

if TYPE_CHECKING:
    from mtl.multitask import MultiTaskModel


def predict(model: MultiTaskModel, texts, tasks=None, batch_size: int = 32) -> list[dict]:
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
    tasks = chosen_tasks(model, tasks)
    words = None
    if any(model.tasks[t].kind == "token" for t in tasks):
        words = [split_words(model.encoder.tokenizer, text) for text in texts]
    results = infer(model, tasks, texts, words and [[w for w, _, _ in split] for split in words], batch_size)
    for text, split, result in zip(texts, words or texts, results):
        for name, value in result.items():
            if model.tasks[name].kind == "token":
                read = [i for i, score in enumerate(value["scores"]) if score is not None]
                result[name] = entity_spans(
                    text,
                    [split[i] for i in read],
                    [value["tags"][i] for i in read],
                    [value["scores"][i] for i in read],
                )
    return results


def predict_words(
    model: MultiTaskModel, word_lists, tasks=None, batch_size: int = 32, decoding: str = "viterbi"
) -> list[dict]:
    """Pre-tokenised texts (lists of words, as in CoNLL) -> one dict per text: {"label", "score"} for sentence
    tasks (which read the words joined by spaces), {"tags": one IOB2 tag per word, "scores": [...]} for token
    tasks (see TokenKind.decode)."""
    if isinstance(word_lists, (str, dict)) or not all(isinstance(w, (list, tuple)) for w in word_lists):
        raise TypeError("predict_words takes a list of word lists; use predict for raw text")
    word_lists = [check_texts(list(words), f"word_lists[{i}]") for i, words in enumerate(word_lists)]
    texts = [" ".join(words) for words in word_lists]
    return infer(model, chosen_tasks(model, tasks), texts, word_lists, batch_size, decoding)


def chosen_tasks(model: MultiTaskModel, tasks) -> list[str]:
    tasks = list(tasks or model.tasks)
    unknown = [t for t in tasks if t not in model.tasks]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; this model has {list(model.tasks)}")
    return tasks


def infer(model: MultiTaskModel, tasks, texts, word_lists, batch_size: int, decoding: str = "viterbi") -> list[dict]:
    """Every task's decoded output for each input: each kind's tasks read the inputs tokenised by the kind's rule
    (texts for sentence tasks, word lists for token tasks). One encoder pass per batch serves every task when the
    rules give the same tokens, as they do for WordPiece models such as MiniLM; otherwise one pass per rule. The
    warning about unread words points at whoever called MultiTaskModel.predict or .predict_words (4 frames up)."""
    by_kind = {}
    for name in tasks:
        by_kind.setdefault(model.tasks[name].kind, []).append(name)
    tokens = {
        kind: Tokenized(
            model.encoder, word_lists if KINDS[kind].split_into_words else texts, KINDS[kind].split_into_words
        )
        for kind in by_kind
    }
    first = next(iter(sorted(tokens.values(), key=lambda t: "word_shapes" not in t.flat)), None)  # shapes if any
    shared = all(t.lengths == first.lengths and np.array_equal(t.flat["input_ids"], first.flat["input_ids"])
                 for t in tokens.values())  # fmt: skip
    passes = [(first, tasks)] if shared else [(tokens[kind], names) for kind, names in by_kind.items()]
    results = [{} for _ in texts]
    with inference(model):
        for idx in length_sorted_batches(first.lengths if first else [], batch_size):
            logits = {}
            for rule, names in passes:
                logits |= {name: value.cpu() for name, value in model(rule.rows(idx), names).items()}
            for kind, names in by_kind.items():
                split = KINDS[kind].split_into_words
                word_ids = tokens[kind].row_word_ids(idx, logits[names[0]].shape[1]) if split else None
                n_words = [len(word_lists[i]) for i in idx] if word_lists else None
                for name in names:
                    decoded = KINDS[kind].decode(model.tasks[name], logits[name], word_ids, n_words, decoding)
                    for i, result in zip(idx, decoded):
                        results[i][name] = result
    cut = sum(sum(t.words_cut) for t in tokens.values())
    if cut:
        warnings.warn(
            f"{cut} word(s) beyond max_seq_length={model.encoder.max_seq_length} were not read", stacklevel=4
        )
    return results


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
        predicted = [r[task] for r in infer(model, [task], texts, words, batch_size, decoding)]
    for w in caught:
        warnings.warn(f"{task}: {w.message}", w.category, stacklevel=3)
    return predicted
