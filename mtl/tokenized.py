"""Inputs tokenised once and kept compact, then padded batch by batch: what every inference path (encode, predict,
evaluate) and the training batches' token counts read. Separate from the encoder, which it only asks for its tokeniser
and max_seq_length."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from mtl.runtime import progress
from mtl.spans import token_shapes

if TYPE_CHECKING:
    from mtl.encoder import SentenceEncoder


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so each batch pads little."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class Tokenized:
    """Inputs tokenised once, truncated and not padded, kept as one flat array of ids (memory grows with the tokens,
    not with Python objects per token); `batches` pads groups of similar length for the model.

    is_split_into_words: the inputs are word lists (a token task's rule, see mtl.kinds); then `word_ids[i]` maps each
    token of input i to its word (None for special tokens), `words_cut[i]` counts the words truncation dropped, and
    the rows carry "word_shapes", each token's word shape (mtl.spans.SHAPES), which an uncased tokeniser loses.
    """

    CHUNK = 1024  # inputs tokenised together: the tokeniser's per-input objects live for one chunk only

    def __init__(self, encoder: SentenceEncoder, inputs: list, is_split_into_words: bool = False):
        self.encoder = encoder
        names = [n for n in ("input_ids", "token_type_ids") if n in encoder.tokenizer.model_input_names]
        chunks, self.lengths, self.word_ids, self.words_cut = {n: [] for n in names}, [], [], []
        for start in range(0, len(inputs), self.CHUNK):
            chunk = inputs[start : start + self.CHUNK]
            encoded = encoder.tokenizer(
                chunk,
                is_split_into_words=is_split_into_words,
                truncation=True,
                max_length=encoder.max_seq_length,
                padding=True,
                return_tensors="np",  # arrays, not a Python int per token
            )
            mask = encoded["attention_mask"].astype(bool)
            for name in names:
                chunks[name].append(encoded[name][mask].astype(np.int32))  # each row's tokens, rows one after another
            self.lengths += mask.sum(1).tolist()
            if is_split_into_words:
                for row, words in enumerate(chunk):
                    self.word_ids.append(encoded.word_ids(row))
                    self.words_cut.append(words_beyond_limit(encoded, row, len(words)))
                shapes = [token_shapes(encoded.word_ids(row), words) for row, words in enumerate(chunk)]
                chunks.setdefault("word_shapes", []).append(np.array(shapes, dtype=np.int32)[mask])
        self.starts = np.concatenate([[0], np.cumsum(self.lengths, dtype=np.int64)])
        self.flat = {n: np.concatenate(c) if c else np.zeros(0, np.int32) for n, c in chunks.items()}

    def __len__(self) -> int:
        return len(self.lengths)

    def rows(self, idx: list[int]) -> dict[str, torch.Tensor]:
        """Model inputs for inputs `idx`, padded to the longest as the tokeniser pads (its side and pad id)."""
        width = max(self.lengths[i] for i in idx)
        left = self.encoder.tokenizer.padding_side == "left"
        pad = {"input_ids": self.encoder.tokenizer.pad_token_id or 0, "token_type_ids": 0, "attention_mask": 0}
        pad["word_shapes"] = 0
        out = {n: torch.full((len(idx), width), pad[n], dtype=torch.long) for n in [*self.flat, "attention_mask"]}
        for row, i in enumerate(idx):
            span = slice(width - self.lengths[i], width) if left else slice(0, self.lengths[i])
            for name, flat in self.flat.items():
                out[name][row, span] = torch.from_numpy(flat[self.starts[i] : self.starts[i + 1]].astype(np.int64))
            out["attention_mask"][row, span] = 1
        return out

    def row_word_ids(self, idx: list[int], width: int) -> list[list[int | None]]:
        """Each input's token-to-word map, laid out as `rows(idx)` lays out its tokens (width = padded length)."""
        left = self.encoder.tokenizer.padding_side == "left"
        return [
            [None] * (width - len(self.word_ids[i])) * left
            + self.word_ids[i]
            + [None] * (width - len(self.word_ids[i])) * (not left)
            for i in idx
        ]

    def batches(self, batch_size: int, desc: str | None = None, show: bool | None = None):
        """(indices, model inputs) for batches of similar length, longest first; a progress bar when `desc` is given
        and there are many batches (or `show` says so)."""
        batches = length_sorted_batches(self.lengths, batch_size)
        show = len(batches) > 20 if show is None else show
        for idx in progress(batches, desc=desc or "", show=bool(desc) and show):
            yield idx, self.rows(idx)


def words_beyond_limit(features, row: int, n_words: int) -> int:
    """How many of row `row`'s n_words the tokeniser's truncation cut off (max_seq_length): they are not read."""
    if not features.encodings[row].overflowing:
        return 0
    return n_words - 1 - max((w for w in features.word_ids(row) if w is not None), default=-1)
