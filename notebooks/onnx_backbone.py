"""The fast CPU inference path: the transformer backbone run by ONNX Runtime, its weights quantised to int8.

Built offline from weights already loaded: torch.onnx.export writes the backbone with a dynamic batch and length,
then ONNX Runtime quantises it. `SentenceEncoder(precision="int8")` uses the "dynamic" recipe in place of the
PyTorch backbone, so tokenisation, pooling, normalisation and the encode contract are unchanged. Inference only:
no gradients, no trainable parameters. The recipes (scripts/benchmark.py measures each):

  "dynamic"              every weight matrix int8 (one scale per output channel); the activations entering each
                         product quantised with one scale per batch at run time. Products of two activations
                         (attention) stay fp32. The fastest; short sentences move most (one scale per batch).
  "dynamic-fp32-ffn-out" the same, but each layer's feed-forward output product stays fp32.
  "weight-only"          int8 weights in blocks of 32 (ONNX Runtime's MatMulNBits), activations quantised per
                         block of 32 values: much closer to fp32, slower.
  None                   no quantisation: what ONNX Runtime alone is worth.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn


class _LastHiddenState(nn.Module):
    """The backbone as a function of positional tensors, which is what the exporter traces."""

    def __init__(self, backbone: nn.Module, input_names: list[str]):
        super().__init__()
        self.backbone, self.input_names = backbone, input_names

    def forward(self, *tensors):
        return self.backbone(**dict(zip(self.input_names, tensors))).last_hidden_state


class OnnxBackbone(nn.Module):
    """Drop-in for a Hugging Face backbone at inference: backbone(**inputs).last_hidden_state, computed by ONNX Runtime."""

    def __init__(self, backbone: nn.Module, input_names: list[str], quantize: str | None = "dynamic", threads: int | None = None):
        super().__init__()
        import onnxruntime

        if quantize not in RECIPES:
            raise ValueError(f"quantize must be one of {list(RECIPES)}, got {quantize!r}")
        self.config, self.input_names, self.quantize = backbone.config, list(input_names), quantize
        example = {name: torch.ones(2, 8, dtype=torch.long) for name in self.input_names}
        if "token_type_ids" in example:
            example["token_type_ids"].zero_()
        if "attention_mask" in example:
            example["attention_mask"][1, 5:] = 0  # a padded row, so the trace keeps the masking
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "backbone.onnx"
            with warnings.catch_warnings():  # tracer notes about shape-dependent Python branches that export handles
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _LastHiddenState(backbone, self.input_names).eval(), tuple(example.values()), str(path), dynamo=False,
                    input_names=self.input_names, output_names=["last_hidden_state"], opset_version=17,
                    dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*self.input_names, "last_hidden_state"]},
                )
            if quantize:
                path = RECIPES[quantize](path)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads or torch.get_num_threads()  # the same thread count as PyTorch's
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, **inputs) -> SimpleNamespace:
        feed = {name: inputs[name].cpu().numpy() for name in self.input_names}
        (tokens,) = self.session.run(["last_hidden_state"], feed)
        return SimpleNamespace(last_hidden_state=torch.from_numpy(tokens))


@contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _dynamic(path: Path, keep_fp32=lambda name: False) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kept = [node.name for node in onnx.load(str(path)).graph.node if node.op_type == "MatMul" and keep_fp32(node.name)]
    with _quiet_root_logger():  # quantize_dynamic logs advice on pre-processing to the root logger
        quantize_dynamic(path, path.with_suffix(".int8.onnx"), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=kept)
    return path.with_suffix(".int8.onnx")


def _weight_only(path: Path) -> Path:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    settings = dict(bits=8, block_size=32, is_symmetric=True, accuracy_level=4)  # level 4: int8 arithmetic
    quantizer = MatMulNBitsQuantizer(onnx.load(str(path)), algo_config=DefaultWeightOnlyQuantConfig(**settings), **settings)
    with _quiet_root_logger():  # it logs every node it skips
        quantizer.process()
    quantizer.model.save_model_to_file(str(path.with_suffix(".int8.onnx")))
    return path.with_suffix(".int8.onnx")


RECIPES = {
    None: lambda path: path,
    "dynamic": _dynamic,
    "dynamic-fp32-ffn-out": lambda path: _dynamic(path, keep_fp32=lambda name: "/output/dense/" in name and "attention" not in name),
    "weight-only": _weight_only,
}
