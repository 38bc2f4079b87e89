"""Property-based tests (hypothesis): encode and predict hold their contract on whatever text users send."""

import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mtl

HOSTILE = [
    "",
    " ",
    "\t\n",
    "\x00",
    "\x07\x1b[31m",
    "\u200b",
    "\u200b\u200c\u200d",
    "\ufeff",
    "\u200f\u202e",
    "שלום עולם",
    "مرحبا",
    "e\u0301\u0301\u0301",
    "\u0301",
    "😀",
    "👩‍👩‍👧‍👦",
    "🇫🇷",
    "\U0010ffff",
    "\ud7ff",
    "Z̴̡̛a̶l̷g̸o",
    "a" * 100_000,
    "word " * 20_000,
    "Ünïcödé ßtraße",
]
# Printable and unprintable code points of every category, mixed with the hostile pieces above.
TEXT = st.one_of(
    st.sampled_from(HOSTILE), st.text(max_size=200), st.lists(st.sampled_from(HOSTILE), max_size=4).map(" ".join)
)
PROPERTY = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
TASKS = [
    mtl.Task("sentiment", "sentence", ["negative", "positive"]),
    mtl.Task("ner", "token", ["O", "B-PER", "I-PER"]),
]


@pytest.fixture(scope="module")
def model(encoder):
    torch.manual_seed(0)
    return mtl.MultiTaskModel(encoder, TASKS)


@PROPERTY
@given(sentences=st.lists(TEXT, max_size=6))
def test_encode_gives_finite_unit_vectors_in_order_whatever_the_text(encoder, sentences):
    embeddings = encoder.encode(sentences, batch_size=4)
    assert embeddings.shape == (len(sentences), encoder.dim) and embeddings.dtype == torch.float32
    assert torch.isfinite(embeddings).all()
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(len(sentences)), atol=1e-5, rtol=0)
    for i, sentence in enumerate(sentences):  # batch invariance: each row is what the sentence gives alone
        torch.testing.assert_close(embeddings[i], encoder.encode([sentence])[0], atol=1e-5, rtol=0)


@PROPERTY
@given(sentences=st.lists(TEXT, max_size=5))
def test_predict_answers_every_task_and_covers_every_word_in_order(model, sentences):
    with (
        warnings.catch_warnings()
    ):  # words past max_seq_length are tagged 'O' with a warning: the contract, not a failure
        warnings.filterwarnings("ignore", message=r".*beyond max_seq_length")
        results = model.predict(sentences, batch_size=4)
    assert len(results) == len(sentences)
    for sentence, result in zip(sentences, results):
        assert result["sentiment"]["label"] in ("negative", "positive") and 0 <= result["sentiment"]["score"] <= 1
        for entity in result["ner"]:
            assert entity["text"] == sentence[entity["start"] : entity["end"]] and entity["label"] == "PER"
            assert 0 <= entity["score"] <= 1


@PROPERTY
@given(
    sentences=st.lists(TEXT, max_size=4),
    position=st.integers(0, 4),
    item=st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())),
)
def test_a_non_string_item_raises_type_error_naming_its_index(encoder, model, sentences, position, item):
    position = min(position, len(sentences))
    batch = sentences[:position] + [item] + sentences[position:]
    for call in (encoder.encode, model.predict):
        with pytest.raises(TypeError, match=rf"(sentences|texts)\[{position}\] is {type(item).__name__}"):
            call(batch)
