"""Raw text in, entity spans out: words with character offsets, well-formed BIO tags, entities with scores.

`split_words` splits text the way the model's tokeniser pre-tokenises it (whitespace, and punctuation as words of its
own), keeping each word's character offsets into the caller's string. `viterbi_tags` decodes a token head's per-word
probabilities into the most probable tag sequence that is valid IOB2 (an `I-X` only after `B-X` or `I-X`);
`entity_spans` turns the tags into entities whose `text` is always `original[start:end]`.
"""

from __future__ import annotations

import functools

import numpy as np

DECODINGS = ("viterbi", "argmax")
SHAPES = ("none", "lower", "Title", "UPPER", "mixed", "digit", "other")  # id 0: a special or padding token


def word_shape(word: str) -> int:
    """The id in SHAPES of a word's form: what an uncased tokeniser throws away ("france" vs "France" vs "FRANCE")."""
    if any(c.isdigit() for c in word):
        return SHAPES.index("digit")
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return SHAPES.index("other")
    if all(c.islower() for c in letters):
        return SHAPES.index("lower")
    if all(c.isupper() for c in letters):
        return SHAPES.index("UPPER")
    return SHAPES.index("Title" if letters[0].isupper() and all(c.islower() for c in letters[1:]) else "mixed")


def token_shapes(word_ids: list[int | None], words: list[str]) -> list[int]:
    """Each token's word shape (0 for special tokens), laid out as the tokeniser laid out the words' tokens."""
    return [0 if word is None else word_shape(words[word]) for word in word_ids]


OPENING, CLOSING = set("([{<\"'“‘«"), set(".,;:!?)]}>\"'”’»…")


def split_words(tokenizer, text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for each word of `text`, with `word == text[start:end]`.

    The tokeniser's pre-tokeniser cuts the text at whitespace and around every punctuation mark, with offsets. Pieces
    written together are then put back together as CoNLL-2003 writes words ("Saint-Germain", "U.S.", "don't"), apart
    from opening punctuation before them, closing punctuation after them and a clitic ("(", "Germany", "'s", ")"). A token
    head reads a word at its first sub-token, as it was trained: read alone, the "-" and "Germain" of a CoNLL word
    "Saint-Germain" sit where training never put a label. A closing "." stays on an abbreviation, an initial or a
    number ("U.S.", "J.", "1.").
    """
    pieces = [(w, s, e) for w, (s, e) in tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)]
    words, run = [], []
    for piece in pieces + [("", -1, -1)]:
        if run and piece[1] != run[-1][2]:  # whitespace between: the run of pieces written together ends
            words += regroup(text, run)
            run = []
        run.append(piece)
    return words


def regroup(text: str, run: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """One run of pieces written together -> opening punctuation, the word, a clitic ('s, 've, ...), closing
    punctuation."""
    if len(run) == 1:  # most runs are one piece: nothing to regroup
        return [(text[run[0][1] : run[0][2]], run[0][1], run[0][2])]
    if not any(char.isalnum() for word, _, _ in run for char in word):  # punctuation alone: "...", "--", "?!"
        return [(text[run[0][1] : run[-1][2]], run[0][1], run[-1][2])]
    opening, clitic, closing = [], [], []
    while len(run) > 1 and run[0][0] in OPENING and not is_clitic(run):
        opening.append(run.pop(0))
    while len(run) > 1 and run[-1][0] in CLOSING and not (run[-1][0] == "." and is_abbreviation(run[:-1])):
        closing.insert(0, run.pop())
    if len(run) > 2 and is_clitic(run[-2:]):
        clitic, run = [(text[run[-2][1] : run[-1][2]], run[-2][1], run[-1][2])], run[:-2]
    if len(closing) > 1 and all(w == "." for w, _, _ in closing):  # an ellipsis stays one word
        closing = [(text[closing[0][1] : closing[-1][2]], closing[0][1], closing[-1][2])]
    start, end = run[0][1], run[-1][2]
    return opening + [(text[start:end], start, end)] + clitic + closing


def is_clitic(pieces: list[tuple[str, int, int]]) -> bool:
    """An apostrophe and one of s, m, d, ll, re, ve: a word of its own in CoNLL-2003 ("Germany 's")."""
    return len(pieces) == 2 and pieces[0][0] in "'’" and pieces[1][0].lower() in ("s", "m", "d", "ll", "re", "ve")


def is_abbreviation(pieces: list[tuple[str, int, int]]) -> bool:
    """Pieces a "." after belongs to: dotted ("U.S"), an initial ("J") or a number ("1." in a ranking)."""
    last = pieces[-1][0]
    dotted = any(a[0] == "." and b[0] != "." for a, b in zip(pieces, pieces[1:]))
    return dotted or (len(pieces) == 1 and (len(last) == 1 and last.isalpha() or last.isdigit()))


def allowed_transitions(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """IOB2 rules as masks: which tag may start a sentence, and which tag may follow which ([previous, next])."""
    return _transitions(tuple(labels))


@functools.cache  # one label set per task: its masks are built once
def _transitions(labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    inside = np.array([tag.startswith("I-") for tag in labels])
    start = ~inside
    follows = np.ones((len(labels), len(labels)), dtype=bool)
    for j, tag in enumerate(labels):
        if tag.startswith("I-"):
            follows[:, j] = [previous in (f"B-{tag[2:]}", tag) for previous in labels]
    start.flags.writeable = follows.flags.writeable = False  # shared by every call: read-only
    return start, follows


def viterbi_tags(probabilities: np.ndarray, labels: list[str]) -> list[int]:
    """The most probable valid IOB2 tag sequence for (words, labels) per-word probabilities: the product of the chosen
    tags' probabilities is maximal among sequences where every `I-X` follows `B-X` or `I-X`."""
    return viterbi_paths([probabilities], labels)[0]


def viterbi_paths(probabilities: list[np.ndarray], labels: list[str]) -> list[list[int]]:
    """viterbi_tags for many sentences at once. A sentence whose most probable tags are already valid keeps them (no
    valid sequence can be more probable); the others run one dynamic programme together, one step per word position,
    a sentence that has ended carrying its scores through unchanged."""
    start, follows = allowed_transitions(labels)
    paths, todo = [[] for _ in probabilities], []
    for i, p in enumerate(probabilities):
        best = p.argmax(-1)
        if len(p) and start[best[0]] and follows[best[:-1], best[1:]].all():
            paths[i] = [int(tag) for tag in best]
        elif len(p):
            todo.append(i)
    if not todo:
        return paths
    lengths = np.array([len(probabilities[i]) for i in todo])
    n, steps, n_labels = len(todo), lengths.max(), len(labels)
    log_p = np.zeros((n, steps, n_labels))
    for row, i in enumerate(todo):
        log_p[row, : lengths[row]] = np.log(np.clip(probabilities[i], 1e-12, 1.0))
    barred = np.where(follows, 0.0, -np.inf)  # [previous, next]
    best = np.where(start, log_p[:, 0], -np.inf)  # (sentences, labels)
    back = np.empty((n, steps, n_labels), dtype=np.int64)
    back[:, 0] = stay = np.arange(n_labels)
    for word in range(1, steps):
        candidates = best[:, :, None] + barred  # (sentences, previous, next)
        pointers = candidates.argmax(1)
        moved = np.take_along_axis(candidates, pointers[:, None, :], 1)[:, 0] + log_p[:, word]
        going = (word < lengths)[:, None]
        best, back[:, word] = np.where(going, moved, best), np.where(going, pointers, stay)
    tags = np.empty((n, steps), dtype=np.int64)
    tags[:, -1] = best.argmax(1)
    for word in range(steps - 1, 0, -1):
        tags[:, word - 1] = back[np.arange(n), word, tags[:, word]]
    for row, i in enumerate(todo):
        paths[i] = [int(tag) for tag in tags[row, : lengths[row]]]
    return paths


def entity_spans(text: str, words: list[tuple[str, int, int]], tags: list[str], scores: list[float]) -> list[dict]:
    """IOB2 tags of `words` -> [{"text", "label", "start", "end", "score"}], offsets into `text`; an entity's score is
    the mean of its words' tag probabilities. An `I-X` after `O` or another type starts an entity (as seqeval reads it)."""
    entities, current = [], None
    for (_, start, end), tag, score in zip(words, tags, scores):
        prefix, label = tag[:2], tag[2:]
        if current and prefix == "I-" and label == current["label"]:
            current["end"], current["scores"] = end, current["scores"] + [score]
            continue
        if current:
            entities.append(current)
        current = {"label": label, "start": start, "end": end, "scores": [score]} if prefix in ("B-", "I-") else None
    if current:
        entities.append(current)
    return [
        {"text": text[e["start"] : e["end"]], "label": e["label"], "start": e["start"], "end": e["end"],
         "score": sum(e["scores"]) / len(e["scores"])}
        for e in entities
    ]  # fmt: skip


def raw_text_entity_f1(model, task: str, word_lists: list[list[str]], tag_lists: list[list[str]]) -> float:
    """Entity F1 x100 of `model.predict` on each sentence's words joined by single spaces: predicted spans against the
    gold entities' character spans in that string (exact start, end and type), micro-averaged as seqeval does."""
    texts = [" ".join(words) for words in word_lists]
    predicted = model.predict(texts, tasks=[task])
    gold, found = set(), set()
    for i, (text, words, tags) in enumerate(zip(texts, word_lists, tag_lists)):
        starts = np.cumsum([0] + [len(w) + 1 for w in words])
        spans = [(w, int(s), int(s) + len(w)) for w, s in zip(words, starts)]
        gold |= {(i, e["start"], e["end"], e["label"]) for e in entity_spans(text, spans, tags, [1.0] * len(tags))}
        found |= {(i, e["start"], e["end"], e["label"]) for e in predicted[i][task]}
    hits = len(gold & found)
    return 100 * 2 * hits / (len(gold) + len(found)) if gold or found else 100.0
