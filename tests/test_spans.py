"""Raw text to entity spans: word offsets on hostile text, valid IOB2 decoding, entities that are substrings."""

import itertools

import numpy as np
import pytest
from test_properties import HOSTILE

from mtl import spans
from mtl.encoder import check_texts

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
ORDINARY = [
    "Lionel Messi signed for Inter Miami after leaving Paris Saint-Germain.",
    "(U.S. officials) said \"no\", J. Smith won't go; Acme Inc. and Germany's team...",
    "1. Michael Schumacher ( Germany ) Ferrari 1:45.2",
    "Tabs\tand\nnewlines  and   spaces, café, e\u0301, 日本語の文, 😀👩‍👩‍👧‍👦 emoji.",
]


@pytest.mark.parametrize("text", ORDINARY + HOSTILE + [" ".join(HOSTILE)])
def test_every_word_is_the_text_at_its_offsets_and_nothing_but_whitespace_is_left_out(encoder, text):
    words = spans.split_words(encoder.tokenizer, text)
    assert all(word == text[start:end] and word for word, start, end in words)
    assert all(a[2] <= b[1] for a, b in itertools.pairwise(words))  # in order, not overlapping
    covered = set(itertools.chain.from_iterable(range(start, end) for _, start, end in words))
    for i, char in enumerate(text):  # what no word covers is whitespace or what the tokeniser drops
        assert i in covered or char.isspace() or not encoder.tokenizer.tokenize(char)


def test_punctuation_is_split_as_conll_writes_it(encoder):
    words = [w for w, _, _ in spans.split_words(encoder.tokenizer, ORDINARY[0] + " " + ORDINARY[1])]
    assert words[7:11] == ["leaving", "Paris", "Saint-Germain", "."]
    assert words[11:15] == ["(", "U.S.", "officials", ")"]
    assert words[16:20] == ['"', "no", '"', ","]
    assert words[20:23] == ["J.", "Smith", "won't"]
    assert words[-7:] == ["Acme", "Inc", ".", "and", "Germany", "'s", "team", "..."][-7:]


def test_viterbi_finds_the_most_probable_valid_sequence_by_brute_force():
    rng = np.random.default_rng(0)
    start, follows = spans.allowed_transitions(LABELS)
    for _ in range(50):
        probabilities = rng.dirichlet(np.ones(len(LABELS)), size=rng.integers(1, 6))
        valid = [
            path
            for path in itertools.product(range(len(LABELS)), repeat=len(probabilities))
            if start[path[0]] and all(follows[a, b] for a, b in itertools.pairwise(path))
        ]
        best = max(valid, key=lambda path: np.prod([probabilities[i, t] for i, t in enumerate(path)]))
        assert tuple(spans.viterbi_tags(probabilities, LABELS)) == best
    assert spans.viterbi_tags(np.empty((0, len(LABELS))), LABELS) == []


def test_a_batch_of_sentences_of_different_lengths_decodes_as_each_sentence_alone():
    rng = np.random.default_rng(1)
    batch = [rng.dirichlet(np.ones(len(LABELS)), size=n) for n in rng.integers(0, 12, size=40)]
    batch.append(np.eye(len(LABELS))[[1, 2, 0]] * 0.9 + 0.02)  # already valid: kept as it is
    alone = [spans.viterbi_tags(p, LABELS) for p in batch]
    assert spans.viterbi_paths(batch, LABELS) == alone
    assert alone[-1] == [1, 2, 0] and any(len(p) == 0 for p in batch)


def test_an_inside_tag_is_barred_after_O_and_after_another_type():
    probabilities = np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [0.1, 0.0, 0.0, 0.0, 0.0]]) + np.eye(5)[[0, 2]] * 0.9
    assert [LABELS[t] for t in spans.viterbi_tags(probabilities, LABELS)] != ["O", "I-PER"]
    assert [LABELS[t] for t in spans.viterbi_tags(np.eye(5)[[3, 2]] * 0.9 + 0.02, LABELS)][1] != "I-PER"


def test_entity_spans_join_inside_tags_and_average_scores():
    text = "Angela Merkel met Acme Corp staff"
    words = [(w, text.index(w), text.index(w) + len(w)) for w in text.split()]
    tags = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "I-PER"]
    entities = spans.entity_spans(text, words, tags, [0.9, 0.7, 1.0, 0.8, 0.6, 0.5])
    assert [(e["text"], e["label"], e["start"], e["end"]) for e in entities] == [
        ("Angela Merkel", "PER", 0, 13),
        ("Acme Corp", "ORG", 18, 27),
        ("staff", "PER", 28, 33),  # an I- after another type starts an entity, as seqeval reads it
    ]
    assert [e["score"] for e in entities] == pytest.approx([0.8, 0.7, 0.5])


def test_check_texts_names_the_lone_surrogate():
    assert check_texts(["ok", "\ud7ff"]) == ["ok", "\ud7ff"]
    with pytest.raises(ValueError, match=r"texts\[2\] holds '\\udc00' at character 1"):
        check_texts(["a", "b", "x\udc00"])


def test_raw_text_gives_the_entity_f1_of_the_conll_words(encoder):
    """CoNLL-2003 test sentences joined by single spaces: predict on the raw strings finds the entities that
    predict_words finds on the words, so entity F1 agrees with evaluate (random heads tag plenty of entities)."""
    import torch

    import mtl

    torch.manual_seed(0)
    task = next(t for t in mtl.declare_tasks() if t.name == "ner")
    model = mtl.MultiTaskModel(encoder, [task])
    words, tags = mtl.load_split("ner", "test")
    words, tags = words[:300], tags[:300]
    raw = spans.raw_text_entity_f1(model, "ner", words, tags)
    assert raw == pytest.approx(mtl.evaluate(model, "ner", words, tags)["f1"], abs=0.2)
    predicted = model.predict([" ".join(w) for w in words])
    by_words = model.predict_words(words)
    agree = 0
    for sentence, raw_result, word_result in zip(words, predicted, by_words):
        starts = np.cumsum([0] + [len(w) + 1 for w in sentence])
        offsets = [(w, int(s), int(s) + len(w)) for w, s in zip(sentence, starts)]
        text = " ".join(sentence)
        expected = spans.entity_spans(text, offsets, word_result["ner"]["tags"], word_result["ner"]["scores"])
        agree += [(e["start"], e["end"], e["label"]) for e in raw_result["ner"]] == [
            (e["start"], e["end"], e["label"]) for e in expected
        ]
    assert agree >= 0.97 * len(words) and sum(len(r["ner"]) for r in predicted) > 100
