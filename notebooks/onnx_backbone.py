"""The fast CPU inference path: the transformer backbone run by ONNX Runtime, its weights quantised to int8.

Built offline from weights already loaded: torch.onnx.export writes the backbone with a dynamic batch and length,
then ONNX Runtime's dynamic quantisation stores every weight matrix as int8 (one scale per output channel) and
quantises the activations entering each matrix product per batch, at run time. Products of two activations
(attention scores) stay in fp32. Inference only: no gradients, no trainable parameters. `SentenceEncoder(precision="int8")`
uses it in place of the PyTorch backbone, so tokenisation, pooling, normalisation and the encode contract are unchanged.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
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

    def __init__(self, backbone: nn.Module, input_names: list[str], quantize: bool = True, threads: int | None = None):
        super().__init__()
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic

        self.config, self.input_names, self.quantize = backbone.config, list(input_names), quantize
        example = {name: torch.ones(2, 8, dtype=torch.long) for name in self.input_names}
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
                logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic's root-logger advice on pre-processing
                quantize_dynamic(path, path.with_suffix(".int8.onnx"), weight_type=QuantType.QInt8, per_channel=True)
                path = path.with_suffix(".int8.onnx")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads or torch.get_num_threads()  # the same thread count as PyTorch's
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, **inputs) -> SimpleNamespace:
        feed = {name: inputs[name].cpu().numpy() for name in self.input_names}
        (tokens,) = self.session.run(["last_hidden_state"], feed)
        return SimpleNamespace(last_hidden_state=torch.from_numpy(tokens))
