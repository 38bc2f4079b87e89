"""SentenceEncoder: parity with sentence-transformers, batching, and the input contract."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

import mtl
from mtl.encoder import length_sorted_batches, pool
from mtl.measure import peak_rss_growth


@pytest.fixture(scope="module")
def stsb_sentences():
    first, second, _ = mtl.load_stsb("test", mtl.data_dir())
    return (first + second)[:400]


def test_matches_sentence_transformers(encoder, stsb_sentences):
    reference = SentenceTransformer(mtl.default_model_path(), device="cpu")
    expected = torch.from_numpy(reference.encode(stsb_sentences, batch_size=32))
    assert (encoder.encode(stsb_sentences) - expected).abs().max() <= 1e-5


def test_output_is_float32_cpu_in_input_order(encoder, stsb_sentences):
    sentences = stsb_sentences[:50]
    embeddings = encoder.encode(sentences, batch_size=8)
    assert embeddings.dtype == torch.float32 and embeddings.device.type == "cpu"
    assert embeddings.shape == (50, encoder.dim)
    shuffled = np.random.default_rng(0).permutation(50)
    torch.testing.assert_close(
        encoder.encode([sentences[i] for i in shuffled], batch_size=8), embeddings[shuffled], atol=1e-6, rtol=0
    )


def test_batch_invariance(encoder):
    short = "A cat sits on the mat."
    long_ones = ["This sentence is considerably longer than the short one, so the batch is padded a lot. " * 4] * 7
    alone = encoder.encode([short])
    in_batch = encoder.encode(long_ones + [short], batch_size=8)[-1:]
    assert (alone - in_batch).abs().max() <= 1e-5


def test_empty_list_gives_zero_rows(encoder):
    assert encoder.encode([]).shape == (0, encoder.dim)


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_and_whitespace_strings_embed_finitely(encoder, text):
    embedding = encoder.encode([text])
    assert torch.isfinite(embedding).all()
    assert embedding.norm() == pytest.approx(1.0, abs=1e-5)


def test_non_string_item_names_its_index(encoder):
    with pytest.raises(TypeError, match=r"sentences\[2\] is int"):
        encoder.encode(["a", "b", 3])


def test_bare_string_is_rejected(encoder):
    with pytest.raises(TypeError, match="wrap one sentence"):
        encoder.encode("a sentence")


def test_long_input_is_truncated_to_max_seq_length(encoder):
    long_text = "word " * 2000  # 10,000 characters, 2,000 tokens
    assert len(long_text) == 10_000
    # everything past the first max_seq_length tokens is cut, so a 300-word prefix embeds identically
    torch.testing.assert_close(encoder.encode([long_text]), encoder.encode(["word " * 300]), atol=1e-6, rtol=0)
    assert encoder.token_lengths([long_text]) == [encoder.max_seq_length]


def test_normalisation_switch(encoder):
    sentences = ["One sentence.", "Another, longer sentence about something else."]
    raw = mtl.SentenceEncoder(normalize=False, device="cpu").encode(sentences)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(torch.nn.functional.normalize(raw, dim=1), encoder.encode(sentences), atol=1e-6, rtol=0)


def test_pooling_ignores_padding():
    tokens = torch.tensor([[[1.0, 5.0], [3.0, -1.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(pool(tokens, mask, "mean"), torch.tensor([[2.0, 2.0]]))
    torch.testing.assert_close(pool(tokens, mask, "max"), torch.tensor([[3.0, 5.0]]))
    torch.testing.assert_close(pool(tokens, mask, "cls"), torch.tensor([[1.0, 5.0]]))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"pooling": "median"}, "pooling must be"), ({"max_seq_length": 1000}, "max_seq_length must be")],
)
def test_bad_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mtl.SentenceEncoder(device="cpu", **kwargs)


def test_length_sorted_batches_cover_every_index_once():
    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = length_sorted_batches(lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert [[lengths[i] for i in b] for b in batches] == [[9, 8, 7], [5, 3, 2], [1]]


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_saved_encoder_loads_in_sentence_transformers(tmp_path, pooling):
    encoder = mtl.SentenceEncoder(pooling=pooling, max_seq_length=128, device="cpu")
    encoder.save(tmp_path / "encoder")
    reference = SentenceTransformer(str(tmp_path / "encoder"), device="cpu")
    sentences = ["A short one.", "A somewhat longer sentence, with a comma and more words in it."]
    assert reference.max_seq_length == 128
    torch.testing.assert_close(
        torch.from_numpy(reference.encode(sentences)), encoder.encode(sentences), atol=1e-5, rtol=0
    )


@pytest.fixture(scope="module")
def tiny_model_dir(encoder, tmp_path_factory):
    """A one-layer, 32-dimensional BERT with the real tokenizer: the same code path as the real model, 100x cheaper."""
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(encoder.tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    encoder.tokenizer.save_pretrained(path)
    return path


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to measure peak memory")
def test_encode_memory_grows_with_the_output_not_the_input_and_shows_progress(tiny_model_dir):
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}  # the progress bar is part of what is tested
    growth, output, progress = peak_rss_growth(100_000, tiny_model_dir, max_seq_length=16, env=env)
    assert "encode: 100%" in progress  # a progress bar on long inputs
    # Peak memory while encoding 100,000 sentences: the output tensor plus a bounded working set (batches, the
    # sorted order, one chunk of tokenised text), not a copy of the tokenised input.
    assert growth < 2 * output + 48 * 1024, (growth, output)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_unsupported_precision_is_rejected_on_cpu(precision):
    with pytest.raises(ValueError, match="precision must be"):
        mtl.SentenceEncoder(device="cpu", precision=precision)


@pytest.fixture(scope="module")
def cls_model_dir(tmp_path_factory):
    """all-MiniLM-L6-v2 saved by sentence-transformers itself with CLS pooling, no Normalize and max length 64."""
    from sentence_transformers import models

    transformer = models.Transformer(mtl.default_model_path(), max_seq_length=64)
    path = tmp_path_factory.mktemp("cls")
    SentenceTransformer(modules=[transformer, models.Pooling(384, pooling_mode="cls")], device="cpu").save(str(path))
    return path


def test_a_sentence_transformers_folder_encodes_as_sentence_transformers_does(cls_model_dir, stsb_sentences):
    encoder = mtl.SentenceEncoder(cls_model_dir, device="cpu")
    assert (encoder.pooling, encoder.normalize, encoder.max_seq_length) == ("cls", False, 64)
    reference = SentenceTransformer(str(cls_model_dir), device="cpu")
    expected = torch.from_numpy(reference.encode(stsb_sentences[:100], batch_size=32))
    assert (encoder.encode(stsb_sentences[:100]) - expected).abs().max() <= 1e-5


def test_explicit_settings_override_the_folders(cls_model_dir):
    encoder = mtl.SentenceEncoder(cls_model_dir, pooling="mean", normalize=True, max_seq_length=32, device="cpu")
    assert (encoder.pooling, encoder.normalize, encoder.max_seq_length) == ("mean", True, 32)
    assert encoder.encode(["a sentence"]).norm() == pytest.approx(1.0, abs=1e-5)


def test_a_module_the_encoder_cannot_reproduce_is_an_error_naming_the_file(cls_model_dir, tmp_path):
    import shutil

    folder = shutil.copytree(cls_model_dir, tmp_path / "dense")
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match=r"modules.json: module sentence_transformers.models.Dense is not supported"):
        mtl.SentenceEncoder(folder, device="cpu")


def test_lower_casing_reads_text_as_lower_case(bpe_encoder):
    """do_lower_case on a cased tokeniser (the BPE test model's): upper-case text gives the lower-case text's tokens."""
    lower = mtl.SentenceEncoder(bpe_encoder.model_name_or_path, do_lower_case=True, device="cpu")
    assert not torch.equal(
        bpe_encoder.tokenize(["WHERE Is"])["input_ids"], bpe_encoder.tokenize(["where is"])["input_ids"]
    )
    assert torch.equal(lower.tokenize(["WHERE Is"])["input_ids"], bpe_encoder.tokenize(["where is"])["input_ids"])
