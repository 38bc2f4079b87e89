"""MultiTaskModel: word alignment, one forward pass for every task, predict, save/load."""

import hashlib
import json
import pickle
import shutil

import pytest
import torch
from safetensors.torch import save_file
from sentence_transformers import SentenceTransformer

import mtl
from mtl import checkpoint, kinds, multitask, spans, training

NER = mtl.Task("ner", "token", ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"])
TASKS = [
    mtl.Task("question_type", "sentence", ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]),
    mtl.Task("sentiment", "sentence", ["negative", "positive"]),
    NER,
]
HARD_WORDS = [
    "Zürich-based",
    "co-operation",
    "1,234.56",
    "U.S.",
    "(",
    "naïve",
    "café",
    "😀",
    "'s",
    "antidisestablishmentarianism",
    "!!!",
    "O'Neill",
]


def rounded(value):
    """Predictions with scores to 4 decimals: padding in a batch moves a softmax in its 7th digit."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return [rounded(v) for v in value] if isinstance(value, list) else value


@pytest.fixture(scope="module")
def model(encoder):
    torch.manual_seed(0)
    return mtl.MultiTaskModel(encoder, TASKS)


def test_one_encoder_pass_per_batch_whatever_the_tasks(model):
    calls = []
    hook = model.encoder.backbone.register_forward_hook(lambda *_: calls.append(1))
    try:
        model.predict(["one sentence", "two sentences here", "three"], batch_size=32)
        assert len(calls) == 1
        model.predict(["one sentence", "two sentences here", "three"], tasks=["sentiment"], batch_size=2)
        assert len(calls) == 3
    finally:
        hook.remove()


def test_predict_returns_every_task_for_every_sentence(model):
    sentences = ["Angela Merkel visited Paris on Tuesday.", "what is the capital of Peru ?"]
    results = model.predict(sentences)
    assert len(results) == 2
    for sentence, result in zip(sentences, results):
        assert set(result) == {"question_type", "sentiment", "ner"}
        for task in ("question_type", "sentiment"):
            assert result[task]["label"] in model.tasks[task].labels and 0 <= result[task]["score"] <= 1
        for entity in result["ner"]:
            assert entity["text"] == sentence[entity["start"] : entity["end"]]
            assert entity["label"] in ("PER", "ORG", "LOC", "MISC") and 0 <= entity["score"] <= 1


def test_predict_words_tags_every_word_and_scores_are_the_softmax_of_the_logits(model):
    words = [["Angela", "Merkel", "visited", "Paris", "."], ["what", "is", "the", "capital", "of", "Peru", "?"]]
    results = model.predict_words(words)
    features = model.encoder.tokenize(words, is_split_into_words=True)
    with torch.inference_mode():
        logits = model(features)
    for row, result in enumerate(results):
        assert len(result["ner"]["tags"]) == len(words[row]) and all(t in NER.labels for t in result["ner"]["tags"])
        probabilities = logits["sentiment"][row].softmax(-1)
        assert result["sentiment"]["label"] == TASKS[1].labels[int(probabilities.argmax())]
        assert result["sentiment"]["score"] == pytest.approx(float(probabilities.max()), abs=1e-5)
    argmax = model.predict_words(words, decoding="argmax")
    first = kinds.first_subtoken_positions(features.word_ids(0), len(words[0]))
    assert argmax[0]["ner"]["tags"] == [NER.labels[int(logits["ner"][0, p].argmax())] for p in first]
    with pytest.raises(ValueError, match="decoding must be one of"):
        model.predict_words(words, decoding="greedy")
    with pytest.raises(TypeError, match="use predict for raw text"):
        model.predict_words(["Angela Merkel"])


def test_predict_subset_and_batching_agree(model):
    sentences = ["short", "a much longer sentence that needs padding in a batch", "medium length one"]
    full = rounded(model.predict(sentences, batch_size=1))
    assert rounded(model.predict(sentences, batch_size=3)) == full
    assert rounded(model.predict(sentences, tasks=["sentiment"])) == [{"sentiment": r["sentiment"]} for r in full]


def test_predict_on_empty_inputs(model):
    assert model.predict([]) == []
    (empty,) = model.predict([""])
    assert empty["ner"] == [] and empty["sentiment"]["label"] in ("negative", "positive")


def test_predict_rejects_unknown_tasks_and_non_strings(model):
    with pytest.raises(ValueError, match="unknown task"):
        model.predict(["x"], tasks=["topic"])
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
        model.predict(["x", None])


def test_a_lone_surrogate_is_a_value_error_naming_its_index(model):
    with pytest.raises(ValueError, match=r"texts\[1\] holds '\\ud800' at character 4, a lone surrogate"):
        model.predict(["fine", "abc \ud800"])
    with pytest.raises(ValueError, match=r"word_lists\[0\]\[1\] holds"):
        model.predict_words([["abc", "\udfff"]])


def test_words_beyond_max_length_are_not_read_and_a_warning_counts_them():
    torch.manual_seed(0)
    short = mtl.MultiTaskModel(mtl.SentenceEncoder(max_seq_length=8, device="cpu"), [NER])
    sentence = "one two three four five six seven eight nine ten"
    with pytest.warns(UserWarning, match="4 word\\(s\\) beyond max_seq_length=8 were not read"):
        (result,) = short.predict_words([sentence.split()])
    assert result["ner"]["tags"][6:] == ["O"] * 4 and result["ner"]["scores"][6:] == [None] * 4
    assert None not in result["ner"]["scores"][:6]
    with pytest.warns(UserWarning, match="4 word\\(s\\) beyond"):
        (entities,) = short.predict([sentence])
    assert all(entity["end"] <= sentence.index("seven") for entity in entities["ner"])
    features = short.encoder.tokenize([sentence.split()], is_split_into_words=True)
    assert kinds.words_beyond_limit(features, 0, 10) == 4


def test_a_fourth_task_needs_only_its_declaration(encoder):
    intent = mtl.Task("intent", "sentence", [f"intent_{i}" for i in range(77)])
    model = mtl.MultiTaskModel(encoder, TASKS + [intent])
    assert model.heads["intent"][-1].out_features == 77
    (result,) = model.predict(["I lost my card, please block it"])
    assert result["intent"]["label"] in intent.labels


def test_save_load_round_trip_gives_identical_predictions(model, tmp_path):
    sentences = ["Angela Merkel visited Paris.", "how many people live in Lima ?", "a dull , lifeless film"]
    model.save(tmp_path / "model")
    model.save(tmp_path / "model")  # overwriting an existing checkpoint works and leaves no staging folder behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    loaded = mtl.MultiTaskModel.load(tmp_path / "model", tasks=TASKS, device="cpu")
    assert rounded(loaded.predict(sentences)) == rounded(model.predict(sentences))
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name


def test_saved_encoder_loads_in_sentence_transformers(model, tmp_path):
    model.save(tmp_path / "model")
    sentences = ["A first sentence.", "And a second, longer one with more words."]
    reference = SentenceTransformer(str(tmp_path / "model" / "encoder"), device="cpu")
    torch.testing.assert_close(
        torch.from_numpy(reference.encode(sentences)), model.encoder.encode(sentences), atol=1e-5, rtol=0
    )


def test_mismatched_checkpoint_fails_clearly(model, tmp_path):
    model.save(tmp_path / "model")
    other = [TASKS[0], mtl.Task("sentiment", "sentence", ["negative", "neutral", "positive"]), NER]
    with pytest.raises(ValueError, match="checkpoint tasks .* do not match"):
        mtl.MultiTaskModel.load(tmp_path / "model", tasks=other)
    weights = {k: v for k, v in model.heads.state_dict().items()}
    weights["sentiment.1.weight"] = torch.zeros(3, model.encoder.dim)
    save_file(weights, tmp_path / "model" / "heads.safetensors")
    with pytest.raises(ValueError, match="heads.safetensors: SHA-256 differs"):
        mtl.MultiTaskModel.load(tmp_path / "model")
    config_path = tmp_path / "model" / "config.json"  # even with a matching checksum, the shapes are checked
    config = json.loads(config_path.read_text())
    config["sha256"]["heads.safetensors"] = hashlib.sha256(
        (tmp_path / "model" / "heads.safetensors").read_bytes()
    ).hexdigest()
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="heads.safetensors: head weights do not match config.json"):
        mtl.MultiTaskModel.load(tmp_path / "model")


def test_interrupted_save_leaves_the_previous_checkpoint_intact(model, tmp_path, monkeypatch):
    model.save(tmp_path / "model")
    before = mtl.MultiTaskModel.load(tmp_path / "model").predict(["Angela Merkel visited Paris."])
    bias = model.heads["sentiment"][1].bias
    original = bias.detach().clone()
    with torch.no_grad():
        bias += 1.0  # a changed model, whose save dies half-way through
    monkeypatch.setattr(multitask, "save_file", lambda *args, **kwargs: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with pytest.raises(KeyboardInterrupt):
            model.save(tmp_path / "model")
    finally:
        with torch.no_grad():
            bias.copy_(original)
    assert mtl.MultiTaskModel.load(tmp_path / "model").predict(["Angela Merkel visited Paris."]) == before


def test_a_save_killed_between_its_renames_leaves_the_previous_checkpoint_readable(model, tmp_path):
    model.save(tmp_path / "model")
    (tmp_path / "model").rename(tmp_path / "model.old")  # moved aside; the new one never put in place
    assert multitask.whole_checkpoint(tmp_path / "model") == tmp_path / "model.old"
    assert mtl.MultiTaskModel.load(tmp_path / "model").predict(["Angela Merkel visited Paris."])
    model.save(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_save_killed_before_removing_old_does_not_block_the_next(model, tmp_path):
    model.save(tmp_path / "model")
    shutil.copytree(tmp_path / "model", tmp_path / "model.old")  # killed after the rename, before old/ was removed
    model.save(tmp_path / "model")
    assert not (tmp_path / "model.old").exists()
    assert mtl.MultiTaskModel.load(tmp_path / "model").predict(["Angela Merkel visited Paris."])


@pytest.mark.parametrize("name", multitask.WEIGHT_FILES)
@pytest.mark.parametrize("damage", ["truncate", "flip a byte"])
def test_truncated_or_tampered_weights_fail_clearly(model, tmp_path, name, damage):
    model.save(tmp_path / "model")
    path = tmp_path / "model" / name
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{name}: SHA-256 differs from config.json's"):
        mtl.MultiTaskModel.load(tmp_path / "model")


def test_a_corrupt_config_names_its_file_and_line(model, tmp_path):
    model.save(tmp_path / "model")
    (tmp_path / "model" / "config.json").write_text('{\n  "tasks": [\n')
    with pytest.raises(ValueError, match=r"config.json:3: not valid JSON"):
        mtl.MultiTaskModel.load(tmp_path / "model")


CODE_RAN = []


def run_code(marker):
    CODE_RAN.append(marker)


class Payload:
    """Unpickling this object would call run_code."""

    def __reduce__(self):
        return run_code, ("pwned",)


def test_checkpoints_never_unpickle_code(model, tmp_path):
    model.save(tmp_path / "model", extra={"trainer_state.pt": {"step": 1, "payload": Payload()}})
    mtl.MultiTaskModel.load(tmp_path / "model")  # weights are safetensors and JSON: nothing to unpickle
    with pytest.raises(pickle.UnpicklingError):  # and the trainer state is read with weights_only=True
        checkpoint.load_run(model, None, tmp_path / "model")
    assert CODE_RAN == []


def test_models_start_in_eval_mode_and_encode_keeps_it(encoder, model):
    assert not model.training and not model.heads.training
    encoder.encode(["x"])
    assert not encoder.backbone.training
    model.train()
    encoder.encode(["x"])
    assert encoder.backbone.training  # encode restores the caller's mode
    model.eval()


@pytest.mark.parametrize("wordpiece", [True, False], ids=["wordpiece", "bpe"])
def test_each_kind_reads_the_same_tokens_in_training_prediction_and_evaluation(
    model, bpe_encoder, wordpiece, monkeypatch
):
    """One tokenisation rule per kind: the rows a task trains on (collate) are the rows predict and evaluate feed
    the encoder for the same text: the text itself for a sentence task, its words for a token task. With BPE the
    two rules give different tokens, so predict runs one pass per rule."""
    if not wordpiece:
        torch.manual_seed(0)
        model = mtl.MultiTaskModel(bpe_encoder, TASKS)
    texts = ["Where is the U.S. Open held, and who won it in 1999?", "A naïve café-owner's (short) review!!!"]
    words = [[w for w, _, _ in spans.split_words(model.encoder.tokenizer, text)] for text in texts]
    seen = []
    forward = model.encoder.forward
    monkeypatch.setattr(model.encoder, "forward", lambda features: seen.append(features) or forward(features))

    def rows(features):  # unpadded rows, as a set: inference sorts by length
        return {tuple(r[m.bool()].tolist()) for r, m in zip(features["input_ids"], features["attention_mask"])}

    for task, inputs, labels in (
        ("sentiment", texts, ["negative"] * 2),
        ("ner", words, [["O"] * len(w) for w in words]),
    ):
        trained, _ = training.collate(model, task, inputs, labels)
        seen.clear()
        model.predict(texts, tasks=[task], batch_size=2)
        mtl.evaluate(model, task, inputs, labels)
        assert [rows(features) for features in seen] == [rows(trained)] * 2


def test_tokenised_once_batches_equal_the_tokeniser_padding(encoder):
    sentences = ["short", "a much longer sentence with several more words in it", "", "mid length one"]
    tokens = mtl.encoder.Tokenized(encoder, sentences)
    padded = encoder.tokenize([sentences[i] for i in (1, 0, 3)])
    rows = tokens.rows([1, 0, 3])
    assert set(rows) == set(padded) - {"token_type_ids"} | ({"token_type_ids"} & set(padded))
    for name in padded:
        assert torch.equal(rows[name], padded[name]), name
    assert tokens.lengths == [len(ids) for ids in encoder.tokenizer(sentences)["input_ids"]]


def test_word_shapes_keep_the_capitalisation_an_uncased_tokeniser_drops(encoder):
    shape = lambda word: spans.SHAPES[spans.word_shape(word)]
    assert [shape(w) for w in ("france", "France", "FRANCE", "iPhone", "1996", "U.S.", ",")] == [
        "lower", "Title", "UPPER", "mixed", "digit", "UPPER", "other",
    ]  # fmt: skip
    words = [["Angela", "Merkel", "visited", "PARIS", "."], ["in", "1996"]]
    features = kinds.KINDS["token"].tokenize(encoder, words)
    assert torch.equal(features["input_ids"][0], encoder.tokenize([["angela", "merkel", "visited", "paris", "."]],
                       is_split_into_words=True)["input_ids"][0])  # fmt: skip
    first = [p for p in kinds.first_subtoken_positions(features.word_ids(0), 5)]
    assert [spans.SHAPES[features["word_shapes"][0, p]] for p in first] == [
        "Title",
        "Title",
        "lower",
        "UPPER",
        "other",
    ]
    assert features["word_shapes"][0, 0] == 0 and features["word_shapes"][1, -1] == 0  # [CLS] and padding
    rows = mtl.encoder.Tokenized(encoder, words, is_split_into_words=True).rows([0, 1])
    assert torch.equal(rows["word_shapes"], features["word_shapes"])  # evaluation reads what training read


def test_a_model_with_word_shapes_trains_predicts_saves_and_loads(encoder, tmp_path):
    torch.manual_seed(0)
    model = mtl.MultiTaskModel(encoder, TASKS, word_shapes=True)
    assert isinstance(model.heads["ner"], multitask.ShapedTokenHead)
    assert isinstance(model.heads["sentiment"], torch.nn.Sequential)  # sentence heads are unchanged
    words = [["Angela", "Merkel", "visited", "Paris", "."], ["the", "film", "was", "dull"]]
    tags = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["O", "O", "O", "O"]]
    config = mtl.TrainConfig(steps=6, batch_size=2, head_lr=1e-2, warmup_ratio=0.0, freeze=("encoder",), seed=0)
    history = mtl.train(model, {"ner": (words, tags)}, config)
    assert history["loss"][-1][2] < history["loss"][0][2]
    lower = [[w.lower() for w in ws] for ws in words]  # the same tokens: only the shapes differ
    with torch.no_grad():
        cased, uncased = (model(kinds.KINDS["token"].tokenize(encoder, w), ["ner"])["ner"] for w in (words, lower))
    assert not torch.allclose(cased, uncased)  # the head reads the shapes
    model.save(tmp_path / "model")
    loaded = mtl.MultiTaskModel.load(tmp_path / "model", device="cpu")
    sentences = ["Angela Merkel visited Paris.", "angela merkel visited paris."]
    assert rounded(loaded.predict(sentences)) == rounded(model.predict(sentences))
    assert mtl.evaluate(loaded, "ner", words, tags) == mtl.evaluate(model, "ner", words, tags)
    with pytest.raises(ValueError, match="ner's head reads word shapes"):
        model(encoder.tokenize(["Angela Merkel"]), tasks=["ner"])
