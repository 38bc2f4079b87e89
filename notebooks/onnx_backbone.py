"""The fast CPU inference path: the transformer backbone run by ONNX Runtime with int8 weights and activations.

Built offline from weights already loaded: torch.onnx.export writes the backbone with a dynamic batch and length,
then one of the recipes below quantises its weight products. `SentenceEncoder(precision="int8")` uses "per-token"
in place of the PyTorch backbone, so tokenisation, pooling, normalisation and the encode contract are unchanged.
Inference only: no gradients, no trainable parameters. The recipes (scripts/benchmark.py measures each):

  "per-token"  every weight matrix int8 (one scale per output channel); the input of each product quantised to
               uint8 at run time with its own scale and zero point for every token. Products of two activations
               (attention) stay fp32. Every STS-B test sentence stays within cosine 0.99 of fp32.
  "per-batch"  ONNX Runtime's quantize_dynamic, the recipe of sentence-transformers' int8 ONNX export: the same
               weights, but one activation scale for the whole batch. Faster, but a short sentence batched with
               long ones keeps few of the 256 steps, and single embeddings move further (cosine 0.96 at worst).
  None         no quantisation: what ONNX Runtime alone is worth.
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

    def __init__(self, backbone: nn.Module, input_names: list[str], quantize: str | None = "per-token", threads: int | None = None):
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


def _per_batch(path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():  # quantize_dynamic logs advice on pre-processing to the root logger
        quantize_dynamic(path, path.with_suffix(".int8.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    return path.with_suffix(".int8.onnx")


def _per_token(path: Path) -> Path:
    """Rewrites each product x @ W with a constant W into integer arithmetic, with one scale per token.

    W becomes int8 Wq with a scale sw per output column. Each row (token) of x becomes uint8 q = round(x / s) + z,
    its scale s and zero point z from that row's own range, so x ~ s (q - z). ONNX Runtime's integer product takes
    one zero point per tensor, not per row, so z is taken out of it:
        x @ W ~ s * (sw * (q @ Wq) - z * sw * column_sums(Wq)),  with q @ Wq on uint8 x int8 kernels.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes = []

    def op(kind, inputs, output, **attributes):
        nodes.append(helper.make_node(kind, inputs, [output], **attributes))
        return output

    def constant(name, value, dtype=np.float32):
        graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    zero, one, eps = constant("q/zero", 0), constant("q/one", 1), constant("q/eps", 1e-8)
    step = constant("q/step", 1 / 254)  # 254 steps, not 255: rounding can then never leave 0..255
    quantized = {}
    for node in list(graph.node):
        if node.op_type != "MatMul" or node.input[1] not in weights:
            nodes.append(node)
            continue
        x, w = node.input
        if x not in quantized:  # query, key and value read the same input: quantise it once
            high = op("Max", [op("ReduceMax", [x], f"{x}/max", axes=[-1]), zero], f"{x}/high")  # the range holds 0
            low = op("Min", [op("ReduceMin", [x], f"{x}/min", axes=[-1]), zero], f"{x}/low")
            scale = op("Max", [op("Mul", [op("Sub", [high, low], f"{x}/range"), step], f"{x}/scale_unclamped"), eps], f"{x}/scale")
            inverse = op("Div", [one, scale], f"{x}/inverse")
            minus_zero = op("Round", [op("Mul", [low, inverse], f"{x}/low_steps")], f"{x}/minus_zero")  # -z
            steps = op("Round", [op("Mul", [x, inverse], f"{x}/in_steps")], f"{x}/rounded")
            q = op("Cast", [op("Sub", [steps, minus_zero], f"{x}/shifted")], f"{x}/uint8", to=TensorProto.UINT8)
            quantized[x] = q, scale, minus_zero
        q, scale, minus_zero = quantized[x]
        w_scale = np.maximum(np.abs(weights[w]).max(0), 1e-12) / 127
        w_int8 = np.round(weights[w] / w_scale).astype(np.int8)  # within -127..127 by construction
        scaled = op("MatMulIntegerToFloat", [q, constant(f"{w}/int8", w_int8, np.int8), one, constant(f"{w}/scale", w_scale)],
                    f"{w}/scaled", domain="com.microsoft")  # ONNX Runtime's fused integer product, cast and scale
        correction = op("Mul", [minus_zero, constant(f"{w}/column_sums", w_int8.sum(0, dtype=np.int64) * w_scale)], f"{w}/correction")
        op("Mul", [op("Add", [scaled, correction], f"{w}/corrected"), scale], node.output[0])
    graph.ClearField("node")
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]  # the fp32 copies of the weights go
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(path.with_suffix(".int8.onnx")))
    return path.with_suffix(".int8.onnx")


RECIPES = {None: lambda path: path, "per-token": _per_token, "per-batch": _per_batch}
