"""The fast CPU inference path: the transformer backbone exported to ONNX and run by OpenVINO with int8 weights.

Built offline from weights already loaded: torch.onnx.export writes the backbone with a dynamic batch and length,
then a recipe picks the runtime and what it quantises. `SentenceEncoder(precision="int8")` uses "openvino-int8" in
place of the PyTorch backbone, so tokenisation, pooling, normalisation and the encode contract are unchanged.
Inference only: no gradients, no trainable parameters. The recipes (scripts/benchmark.py measures each):

  "openvino-int8"     every weight matrix int8, one scale per output channel, stored in the graph as int8 with a
                      DequantizeLinear. OpenVINO's CPU plugin keeps such weights int8 and quantises the input of each
                      product as it runs, for every token, in groups of `activation_group` input channels, each with
                      its own scale, so a sentence is encoded the same whatever else is in its batch. Products of two
                      activations (attention) stay fp32, as does everything else (precision hint f32).
  "onnxruntime-int8"  ONNX Runtime's quantize_dynamic on the graph exported here: the same int8 weights, but one
                      activation scale for the whole batch. A stand-in built by this project, not sentence-transformers'
                      own int8 export (make bench times that one). A short sentence batched with long ones keeps few of
                      the 256 steps, and single embeddings move further (cosine 0.96 at worst).
  "openvino", "onnxruntime"  fp32: what each runtime alone is worth.
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

# Input channels per activation scale in OpenVINO's int8 products. Smaller groups follow each token's values more
# closely, larger ones run faster; notebook 01 measures the trade-off. OpenVINO's own CPU default is 32.
ACTIVATION_GROUP = 64


class _LastHiddenState(nn.Module):
    """The backbone as a function of positional tensors, which is what the exporter traces."""

    def __init__(self, backbone: nn.Module, input_names: list[str]):
        super().__init__()
        self.backbone, self.input_names = backbone, input_names

    def forward(self, *tensors):
        return self.backbone(**dict(zip(self.input_names, tensors))).last_hidden_state


def export(backbone: nn.Module, input_names: list[str], path: Path) -> Path:
    """Write the backbone to `path` as ONNX, with a dynamic batch size and sentence length."""
    example = {name: torch.ones(2, 8, dtype=torch.long) for name in input_names}
    if "token_type_ids" in example:
        example["token_type_ids"].zero_()
    if "attention_mask" in example:
        example["attention_mask"][1, 5:] = 0  # a padded row, so the trace keeps the masking
    with warnings.catch_warnings():  # tracer notes about shape-dependent Python branches that export handles
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(backbone, input_names).eval(),
            tuple(example.values()),
            str(path),
            dynamo=False,
            input_names=input_names,
            output_names=["last_hidden_state"],
            opset_version=17,
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*input_names, "last_hidden_state"]},
        )
    return path


class OnnxBackbone(nn.Module):
    """Drop-in for a Hugging Face backbone at inference: backbone(**inputs).last_hidden_state, computed by the
    runtime that `recipe` names (see the module docstring)."""

    def __init__(
        self,
        backbone: nn.Module,
        input_names: list[str],
        recipe: str = "openvino-int8",
        threads: int | None = None,
        activation_group: int = ACTIVATION_GROUP,
        profile: bool = False,
    ):
        """profile: OpenVINO also times every node of the graph (`node_times`); it slows each call a little, so the
        timed fast path leaves it off and scripts/benchmark.py profiles a second copy."""
        super().__init__()
        if recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {list(RECIPES)}, got {recipe!r}")
        self.config, self.input_names, self.recipe = backbone.config, list(input_names), recipe
        runtime, quantize = RECIPES[recipe]
        if profile and runtime is not _openvino:
            raise ValueError(f"profile=True needs an OpenVINO recipe, got {recipe!r}")
        threads = threads or torch.get_num_threads()  # the same thread count as PyTorch's
        with tempfile.TemporaryDirectory() as tmp:
            path = quantize(export(backbone, self.input_names, Path(tmp) / "backbone.onnx"))
            self.run = runtime(path, threads, activation_group, profile)  # loads the whole graph: the file may go

    @classmethod
    def around(cls, run, config, input_names: list[str], recipe: str = "prebuilt") -> OnnxBackbone:
        """A backbone around a runner built elsewhere (e.g. `openvino_runner` of a graph compiled with other
        settings), so that it runs inside a SentenceEncoder with the same tokeniser, pooling and normalisation."""
        backbone = cls.__new__(cls)
        nn.Module.__init__(backbone)
        backbone.config, backbone.input_names, backbone.recipe, backbone.run = config, list(input_names), recipe, run
        return backbone

    def forward(self, **inputs) -> SimpleNamespace:
        tokens = self.run({name: inputs[name].cpu().numpy() for name in self.input_names})
        return SimpleNamespace(last_hidden_state=torch.from_numpy(tokens))

    def node_times(self) -> list[tuple[str, float]]:
        """(operation type, seconds) for each node of the graph in the last call, when built with profile=True."""
        return [(node.node_type, node.real_time.total_seconds()) for node in self.run.request.profiling_info]


def openvino_config(threads: int, activation_group: int) -> dict:
    """OpenVINO CPU settings of the fast path: threads, fp32 outside the int8 products, the activation group size."""
    return {
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "f32",  # else bf16 where the CPU has it: no approximation beyond the int8 products
        "DYNAMIC_QUANTIZATION_GROUP_SIZE": activation_group,
    }


def _openvino(path: Path, threads: int, activation_group: int, profile: bool):
    import openvino

    config = {**openvino_config(threads, activation_group), "PERF_COUNT": profile}
    return openvino_runner(openvino.Core().compile_model(str(path), "CPU", config))


def openvino_runner(compiled):
    """feed -> last_hidden_state through one inference request of a compiled OpenVINO model."""
    request = compiled.create_infer_request()

    def run(feed):
        return request.infer(feed)[0].copy()  # the request reuses its output buffer on the next call

    run.request, run.compiled = request, compiled
    return run


def _onnxruntime(path: Path, threads: int, activation_group: int, profile: bool):  # group and profile: OpenVINO's
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feed: session.run(["last_hidden_state"], feed)[0]


def _int8_weights(path: Path) -> Path:
    """Each product x @ W with a constant W reads W as int8 through DequantizeLinear (one scale per output column),
    the form in which OpenVINO keeps the weights int8 and runs the product on int8 kernels."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            w = node.input[1]
            scale = np.maximum(np.abs(weights[w]).max(0), 1e-12) / 127
            graph.initializer.extend(
                [
                    numpy_helper.from_array(np.round(weights[w] / scale).astype(np.int8), f"{w}/int8"),  # -127..127
                    numpy_helper.from_array(scale.astype(np.float32), f"{w}/scale"),
                ]
            )
            nodes.append(
                helper.make_node("DequantizeLinear", [f"{w}/int8", f"{w}/scale"], [f"{w}/dequantized"], axis=1)
            )
            node.input[1] = f"{w}/dequantized"
        nodes.append(node)
    graph.ClearField("node")
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]  # the fp32 copies of the weights go
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    onnx.save(model, str(path.with_suffix(".int8.onnx")))
    return path.with_suffix(".int8.onnx")


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


def _unchanged(path: Path) -> Path:
    return path


RECIPES = {  # name: (runtime, what is quantised before it loads the graph)
    "openvino-int8": (_openvino, _int8_weights),
    "openvino": (_openvino, _unchanged),
    "onnxruntime-int8": (_onnxruntime, _per_batch),
    "onnxruntime": (_onnxruntime, _unchanged),
}
