"""What differs between a sentence task and a token task, in one place per kind.

A task's kind decides which encoder output its head reads, how its data files are read, how its inputs are
tokenised, how labels become training targets and logits become labels, its metrics and its
trivial baseline. The model, the training loop, the head fitting and the notebooks ask the kind (`KINDS[task.kind]`),
so nothing outside this module branches on it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from mtl.data import read_conll, read_labelled_sentences
from mtl.encoder import SentenceEncoder, inference
from mtl.spans import DECODINGS, token_shapes, viterbi_paths
from mtl.tokenized import Tokenized, words_beyond_limit

__all__ = ["KINDS", "SentenceKind", "TokenKind", "align_labels", "first_subtoken_positions", "word_features"]
__all__ += ["words_beyond_limit"]


class SentenceKind:
    """One label per sentence; the head reads the pooled sentence embedding (what `encode` returns)."""

    name = "sentence"
    split_into_words = False  # the tokenisation rule: raw text, in training, prediction and evaluation alike
    reads = "sentence_embedding"
    unit = "sentences"
    headline_metric = "accuracy"

    def read(self, folder: Path, split: str, labels: list[str], rows: int | None = None) -> tuple[list, list]:
        return read_labelled_sentences(folder / f"{split}.tsv", labels, rows)

    def text(self, sentence: str) -> str:
        return sentence

    def tokenize(self, encoder: SentenceEncoder, sentences: list[str]):
        return encoder.tokenize(sentences, is_split_into_words=self.split_into_words)

    def targets(self, task, features, labels: list[str]) -> torch.Tensor:
        return torch.tensor([task.labels.index(label) for label in labels])

    def decode(self, task, logits: torch.Tensor, word_ids: list, n_words: list[int], decoding: str) -> list[dict]:
        """Per row of a batch: {"label": the most probable label, "score": its softmax probability}."""
        scores, best = logits.float().softmax(-1).max(-1)
        return [{"label": task.labels[i], "score": score} for i, score in zip(best.tolist(), scores.tolist())]

    def score(self, gold: list[str], predicted: list[dict]) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        predicted = [p["label"] for p in predicted]
        return {"accuracy": accuracy_score(gold, predicted), "macro_f1": f1_score(gold, predicted, average="macro")}

    def embed(self, encoder: SentenceEncoder, sentences: list[str]) -> tuple[torch.Tensor, list[int]]:
        """Features a frozen encoder gives the head, and which label each row belongs to."""
        return encoder.encode(sentences), list(range(len(sentences)))

    def flat_labels(self, labels: list[str]) -> list[str]:
        return list(labels)

    def baseline(self, train_labels: list[str], test_labels: list[str]) -> float:
        """Accuracy x100 of always answering the most frequent training label."""
        most_common = Counter(train_labels).most_common(1)[0][0]
        return 100 * sum(label == most_common for label in test_labels) / len(test_labels)


class TokenKind:
    """One label per word (IOB2 tags); the head reads the token embeddings. A word's label sits on its first
    sub-token; the other sub-tokens get -100, which the loss ignores, and a word's prediction is read there too."""

    name = "token"
    split_into_words = True  # the tokenisation rule: word lists (words -> sub-tokens), everywhere
    reads = "token_embeddings"
    unit = "words"
    headline_metric = "f1"

    def read(self, folder: Path, split: str, labels: list[str], rows: int | None = None) -> tuple[list, list]:
        pairs = read_conll(folder / f"{split}.txt", labels)[:rows]
        return [words for words, _ in pairs], [tags for _, tags in pairs]

    def text(self, words: list[str]) -> str:
        return " ".join(words)

    def tokenize(self, encoder: SentenceEncoder, word_lists: list[list[str]]):
        """Model inputs for word lists, with each token's word shape ("word_shapes"), as Tokenized lays them out."""
        features = encoder.tokenize(word_lists, is_split_into_words=self.split_into_words)
        shapes = [token_shapes(features.word_ids(row), words) for row, words in enumerate(word_lists)]
        features["word_shapes"] = torch.tensor(shapes)
        return features

    def targets(self, task, features, labels: list[list[str]]) -> torch.Tensor:
        ids = [[task.labels.index(tag) for tag in tags] for tags in labels]
        return torch.tensor([align_labels(features.word_ids(row), tags) for row, tags in enumerate(ids)])

    def decode(self, task, logits: torch.Tensor, word_ids: list, n_words: list[int], decoding: str) -> list[dict]:
        """Per row of a batch: {"tags": one IOB2 tag per word, "scores": each tag's softmax probability}, read at each
        word's first sub-token. decoding="viterbi" picks the most probable valid IOB2 sequence (the whole batch at
        once), "argmax" each word's most probable tag. A word the truncation cut off (or that holds no token) is
        tagged O with score None."""
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}")
        reads, probabilities = [], []
        for row, (ids, n) in enumerate(zip(word_ids, n_words)):
            positions = first_subtoken_positions(ids, n)
            reads.append([word for word, position in enumerate(positions) if position is not None])
            probabilities.append(logits[row, [positions[word] for word in reads[-1]]].float().softmax(-1).numpy())
        if decoding == "viterbi":
            paths = viterbi_paths(probabilities, task.labels)
        else:
            paths = [p.argmax(-1).tolist() for p in probabilities]
        results = []
        for read, p, path, n in zip(reads, probabilities, paths, n_words):
            tags, scores = ["O"] * n, [None] * n
            for row, (word, label) in enumerate(zip(read, path)):
                tags[word], scores[word] = task.labels[label], float(p[row, label])
            results.append({"tags": tags, "scores": scores})
        return results

    def score(self, gold: list[list[str]], predicted: list[dict]) -> dict[str, float]:
        from seqeval.metrics import f1_score, precision_score, recall_score

        tags = [sentence["tags"] for sentence in predicted]
        return {
            "precision": float(precision_score(gold, tags, zero_division=0)),
            "recall": float(recall_score(gold, tags, zero_division=0)),
            "f1": float(f1_score(gold, tags, zero_division=0)),
        }

    def embed(self, encoder: SentenceEncoder, word_lists: list[list[str]]) -> tuple[torch.Tensor, list[int]]:
        return word_features(encoder, word_lists)

    def flat_labels(self, labels: list[list[str]]) -> list[str]:
        return [tag for tags in labels for tag in tags]

    def baseline(self, train_labels: list[list[str]], test_labels: list[list[str]]) -> float:
        """Entity F1 x100 of tagging every word O (zero: no entity is found)."""
        return 100 * self.score(test_labels, [{"tags": ["O"] * len(tags)} for tags in test_labels])["f1"]


KINDS = {kind.name: kind for kind in (SentenceKind(), TokenKind())}


def align_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """Word labels -> sub-token labels: the first sub-token of a word carries its label, the rest -100."""
    aligned, previous = [], None
    for word in word_ids:
        aligned.append(-100 if word is None or word == previous else word_labels[word])
        previous = word
    return aligned


def first_subtoken_positions(word_ids: list[int | None], n_words: int) -> list[int | None]:
    """For each word, the position of its first sub-token, or None if truncation cut it off."""
    positions = [None] * n_words
    for position, word in enumerate(word_ids):
        if word is not None and positions[word] is None:
            positions[word] = position
    return positions


def word_features(
    encoder: SentenceEncoder, sentences: list[list[str]], batch_size: int = 32
) -> tuple[torch.Tensor, list[int]]:
    """Token embedding of each word's first sub-token, for words the truncation kept: (n_kept_words, dim), and the
    index of each kept word among all words."""
    features, kept = [], []
    offsets = np.cumsum([0] + [len(w) for w in sentences])
    tokens = Tokenized(encoder, sentences, is_split_into_words=True)
    with inference(encoder):
        for idx, batch in tokens.batches(batch_size):
            embedded = encoder(batch)["token_embeddings"].float().cpu()
            for row, word_ids in enumerate(tokens.row_word_ids(idx, embedded.shape[1])):
                i = idx[row]
                for word, position in enumerate(first_subtoken_positions(word_ids, len(sentences[i]))):
                    if position is not None:
                        features.append(embedded[row, position])
                        kept.append(int(offsets[i]) + word)
    order = np.argsort(kept, kind="stable")
    if not features:
        return torch.empty(0, encoder.dim), []
    return torch.stack([features[j] for j in order]), [kept[j] for j in order]
