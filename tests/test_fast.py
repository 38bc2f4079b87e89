"""The int8 fast path (mtl.fast): the encoder's input contract, agreement with fp32 on every STS-B test sentence,
and embeddings that do not depend on the rest of the batch."""

import pytest
import torch

import mtl
from mtl.fast import OnnxBackbone
from mtl.measure import cosine_to_reference


@pytest.fixture(scope="module")
def int8_encoder():
    return mtl.SentenceEncoder(device="cpu", precision="int8")


def test_int8_fast_path_keeps_the_input_contract(int8_encoder):
    assert int8_encoder.encode([]).shape == (0, 384)
    embeddings = int8_encoder.encode(["", "   ", "x " * 5000])
    assert embeddings.dtype == torch.float32 and torch.isfinite(embeddings).all()
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))
    with pytest.raises(TypeError, match=r"sentences\[1\] is int"):
        int8_encoder.encode(["fine", 3])
    with pytest.raises(ValueError, match="save the fp32 model"):
        int8_encoder.save("never-written")


@pytest.fixture(scope="module")
def stsb_agreement(encoder, int8_encoder):
    """Per-sentence cosine between int8 and fp32 embeddings over every distinct STS-B test sentence."""
    first, second, _ = mtl.load_stsb("test", mtl.data_dir())
    sentences = list(dict.fromkeys(first + second))
    return cosine_to_reference(int8_encoder.encode(sentences), encoder.encode(sentences))


def test_int8_embeddings_stay_close_to_fp32_on_stsb_sentences(stsb_agreement):
    # Measured on the real STS-B test sentences (batch 32): mean 0.9990, lowest 0.9953; with one activation scale per
    # batch (ONNX Runtime, "onnxruntime-int8") instead, the lowest was 0.956 and 15% of sentences fell below 0.99.
    assert stsb_agreement["min"] >= 0.99
    assert stsb_agreement["mean"] >= 0.998


def test_int8_embedding_does_not_depend_on_the_other_sentences_in_its_batch(int8_encoder):
    # Each token's activations get their own scales, so a short sentence batched with a long one is encoded as alone.
    short, long = "Yes you got it.", "The committee published a detailed 240-page report on regional water usage. " * 3
    alone = int8_encoder.encode([short])
    batched = int8_encoder.encode([short, long])[:1]
    assert torch.nn.functional.cosine_similarity(alone, batched).item() > 0.9999


def test_unknown_quantisation_recipe_is_rejected():
    with pytest.raises(ValueError, match="recipe must be one of"):
        OnnxBackbone(None, ["input_ids"], recipe="int4")


def test_a_profiled_copy_times_every_node_and_computes_the_same(encoder, int8_encoder):
    names = encoder.tokenizer.model_input_names
    profiled = OnnxBackbone(encoder.backbone, names, profile=True)
    features = encoder.tokenize(["A man is playing a guitar.", "Stocks fell sharply on Monday after the report."])
    torch.testing.assert_close(
        profiled(**features).last_hidden_state, int8_encoder.backbone(**features).last_hidden_state
    )
    times = profiled.node_times()
    kinds = {kind for kind, _ in times}
    assert {"FullyConnectedCompressed", "Softmax"} <= kinds  # the int8 weight products, the fp32 attention
    assert all(seconds >= 0 for _, seconds in times) and sum(seconds for _, seconds in times) > 0
    with pytest.raises(ValueError, match="profile=True needs an OpenVINO recipe"):
        OnnxBackbone(encoder.backbone, names, recipe="onnxruntime", profile=True)
