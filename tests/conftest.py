import importlib
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the hub, however pytest is started
if os.environ.get("PYTEST_XDIST_WORKER"):  # make test runs a worker per core: one thread each, and in what it starts,
    os.environ["OMP_NUM_THREADS"] = "1"  # so that two workers' matrix products do not take turns on the same cores
    # (set before torch is imported below, which reads it for its own thread count)

import pytest  # noqa: E402
import torch  # noqa: E402

import mtl  # noqa: E402


@pytest.fixture
def script(monkeypatch):
    """A loader of scripts/<name>.py as a module: the scripts are files, not a package, and import their siblings by
    name, so the folder goes on sys.path for the test."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "scripts"))
    return importlib.import_module


@pytest.fixture(scope="session")
def encoder():
    return mtl.SentenceEncoder(device="cpu")


@pytest.fixture
def sentiment_runs():
    """What tests of Experiments.run train: one sentence task on eight short rows ({task: (inputs, labels)}, also the
    dev rows), and a model factory whose heads start from the seed."""
    sentiment = mtl.Task("sentiment", "sentence", ["negative", "positive"])
    texts = ["a wonderful film", "dull and lifeless", "brilliant acting", "a tedious mess"] * 2
    data = {"sentiment": (texts, ["positive", "negative"] * 4)}

    def make_model(seed):
        torch.manual_seed(seed)
        return mtl.MultiTaskModel(mtl.SentenceEncoder(max_seq_length=16, device="cpu"), [sentiment])

    return data, make_model


@pytest.fixture(scope="session")
def bpe_encoder(tmp_path_factory):
    """A one-layer RoBERTa-style encoder with a byte-level BPE tokeniser trained on a few sentences: a model whose
    tokens for a text differ from its tokens for the text's words (a space is part of a BPE token), unlike WordPiece."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer, tokenizer.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(["Where is the U.S. Open held, and who won it in 1999?"] * 5, trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
    path = tmp_path_factory.mktemp("bpe")
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        add_prefix_space=True,  # fmt: skip  (words of a word list are read as if a space came before each)
    ).save_pretrained(path)
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=66, pad_token_id=1,
    )  # fmt: skip
    RobertaModel(config).save_pretrained(path)
    return mtl.SentenceEncoder(path, device="cpu", max_seq_length=64)
