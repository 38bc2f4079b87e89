"""What differs between sentence and token tasks: word/sub-token alignment, features per word, metrics, baselines."""

import torch
from test_multitask import HARD_WORDS  # words that tokenise awkwardly

from mtl import kinds


def test_alignment_round_trip_on_hard_words(encoder):
    tags = list(range(len(HARD_WORDS)))
    batch = encoder.tokenize([HARD_WORDS], is_split_into_words=True)
    word_ids = batch.word_ids(0)
    aligned = kinds.align_labels(word_ids, tags)
    assert len(aligned) == len(batch["input_ids"][0])
    assert aligned[0] == aligned[-1] == -100  # [CLS], [SEP]
    # each word's label sits on exactly one sub-token, its first, and reading it back gives the words' labels
    assert [label for label in aligned if label != -100] == tags
    positions = kinds.first_subtoken_positions(word_ids, len(HARD_WORDS))
    assert [aligned[p] for p in positions] == tags
    assert sum(word_ids.count(w) > 1 for w in range(len(HARD_WORDS))) >= 5  # many words really were split


def test_word_features_follow_first_subtokens(encoder):
    sentences = [["Zürich-based", "firm"], [], ["antidisestablishmentarianism"]]
    features, kept = kinds.word_features(encoder, sentences)
    assert kept == [0, 1, 2] and features.shape == (3, encoder.dim)
    batch = encoder.tokenize([sentences[0]], is_split_into_words=True)
    with torch.inference_mode():
        tokens = encoder(batch)["token_embeddings"][0]
    torch.testing.assert_close(features[1], tokens[batch.word_ids(0).index(1)], atol=1e-5, rtol=0)


def test_token_baseline_and_metric_count_entities_not_words():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    token = kinds.KINDS["token"]
    assert token.baseline(gold, gold) == 0.0
    assert type(token.baseline(gold, gold)) is float  # a plain float, so reports print 0.0, not np.float64(0.0)
    assert token.score(gold, [{"tags": ["B-PER", "I-PER", "O", "O"]}])["f1"] == 2 / 3


def test_sentence_baseline_is_the_majority_label():
    assert kinds.KINDS["sentence"].baseline(["a", "a", "b"], ["a", "b", "b", "b"]) == 25.0
