"""One sentence-transformers engine in the peers environment (.venv-peers, requirements-peers.txt), answering the
benchmark's requests: the peers as a user installs them, `pip install "sentence-transformers[onnx,openvino]"`, which
cannot live beside this project's pins.

Run by scripts/bench/peers.py as `.venv-peers/bin/python peer_worker.py RECIPE MODEL_FOLDER THREADS`; it imports
nothing from this project (the peers environment does not have it). One JSON object a line each way:
  first answer     {"ready": true, "sentence_transformers": version, "built_seconds": s} or {"unavailable": why}
  {"sentences": [...], "calibration": [...]}  -> {"ok": true}   (calibration: for the static int8 recipe only)
  {"encode": batch_size}                      -> {"seconds": s}  (timed here, so the pipe costs no row anything)
  {"embed": batch_size, "to": path}           -> {"saved": path} (float32 .npy, for the quality columns)
  {"profile": batch_size}                     -> {"seconds_by_operation": {type: s}} (OpenVINO recipes only)
The model folder is copied first: the exports write beside the model, and the original lives in a package.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

RECIPES = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")


def dynamic_preset() -> str:
    """sentence-transformers' dynamic int8 preset that matches this CPU, as its docs advise choosing it."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def static_openvino_int8(folder: Path, threads: int, calibration: list[str]):
    """What `export_static_quantized_openvino_model` does (optimum-intel's OVQuantizer, its default
    OVQuantizationConfig, 300 sentences padded to 384 tokens), calibrated on local sentences instead of GLUE SST-2
    from the hub, which an offline machine cannot reach; that function also needs `datasets`, which the extra does
    not install. The quantizer takes an nncf.Dataset, so neither is needed."""
    import nncf
    import numpy as np
    from optimum.intel import OVConfig, OVQuantizationConfig, OVQuantizer
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", backend="openvino", model_kwargs=openvino_kwargs(threads))
    config = OVQuantizationConfig()
    texts = calibration[: config.num_samples or 300]
    features = [model.tokenizer(t, padding="max_length", max_length=384, truncation=True) for t in texts]
    ov_model = model[0].auto_model
    items = [{k: np.array([v], dtype=np.int64) for k, v in f.items() if k in ov_model.input_names} for f in features]
    quantizer = OVQuantizer.from_pretrained(ov_model)
    with tempfile.TemporaryDirectory() as saved:
        quantizer.quantize(
            calibration_dataset={"model": nncf.Dataset(items)},
            ov_config=OVConfig(quantization_config=config),
            save_directory=saved,
        )
        for suffix in (".xml", ".bin"):  # named as sentence-transformers' own export names it
            target = folder / "openvino" / f"openvino_model_qint8_quantized{suffix}"
            target.parent.mkdir(exist_ok=True)
            shutil.copy(Path(saved) / "openvino" / f"openvino_model{suffix}", target)
    return SentenceTransformer(
        str(folder), device="cpu", backend="openvino",
        model_kwargs=openvino_kwargs(threads, "openvino/openvino_model_qint8_quantized.xml"),
    )  # fmt: skip


def openvino_kwargs(threads: int, file_name: str | None = None) -> dict:
    kwargs = {"ov_config": {"INFERENCE_NUM_THREADS": threads}}  # the thread count every row runs with
    return {**kwargs, "file_name": file_name} if file_name else kwargs


def onnx_kwargs(threads: int, file_name: str | None = None) -> dict:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    kwargs = {"session_options": options, "provider": "CPUExecutionProvider"}
    return {**kwargs, "file_name": file_name} if file_name else kwargs


def build(recipe: str, folder: Path, threads: int, calibration: list[str]):
    import torch
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    torch.set_num_threads(threads)
    if recipe == "torch":
        return SentenceTransformer(str(folder), device="cpu")
    if recipe == "onnx":
        return SentenceTransformer(str(folder), device="cpu", backend="onnx", model_kwargs=onnx_kwargs(threads))
    if recipe == "onnx-int8":
        preset = dynamic_preset()
        exported = SentenceTransformer(str(folder), device="cpu", backend="onnx", model_kwargs=onnx_kwargs(threads))
        export_dynamic_quantized_onnx_model(exported, preset, str(folder))
        return SentenceTransformer(
            str(folder), device="cpu", backend="onnx",
            model_kwargs=onnx_kwargs(threads, f"onnx/model_qint8_{preset}.onnx"),
        )  # fmt: skip
    if recipe == "openvino":
        return SentenceTransformer(
            str(folder), device="cpu", backend="openvino", model_kwargs=openvino_kwargs(threads)
        )
    return static_openvino_int8(folder, threads, calibration)


def graph_profile(model, sentences: list[str], batch_size: int, threads: int) -> dict:
    """An OpenVINO peer's graph time by operation type, from OpenVINO's per-node counters on a second compilation of
    the same graph (the timed one stays without counters), fed the batches sentence-transformers' encode makes
    (longest sentences first, each batch padded to its longest)."""
    import openvino

    transformer = model[0]
    compiled = openvino.Core().compile_model(
        transformer.auto_model.model, "CPU", {"PERF_COUNT": "YES", "INFERENCE_NUM_THREADS": threads}
    )
    request, names = compiled.create_infer_request(), {i.get_any_name() for i in compiled.inputs}
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
    by_type = {}
    for start in range(0, len(order), batch_size):
        batch = [sentences[i] for i in order[start : start + batch_size]]
        features = transformer.tokenize(batch)
        request.infer({k: v.numpy() for k, v in features.items() if k in names})
        for node in request.profiling_info:
            if node.status == node.Status.EXECUTED:
                by_type[node.node_type] = by_type.get(node.node_type, 0.0) + node.real_time.total_seconds()
    return by_type


def main():
    recipe, source, threads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    channel = os.fdopen(os.dup(1), "w")  # the answers; anything a library prints goes to stderr instead
    os.dup2(2, 1)

    def answer(message: dict):
        channel.write(json.dumps(message) + "\n")
        channel.flush()

    setup = json.loads(sys.stdin.readline())
    sentences = setup["sentences"]
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "model"
        shutil.copytree(source, folder)
        started = time.perf_counter()
        try:
            model = build(recipe, folder, threads, setup.get("calibration", []))
            model.encode(sentences[:64], batch_size=32)  # compiles the graph before the warm-up round
        except Exception as err:
            traceback.print_exc()  # into the benchmark's log of the peers
            answer({"unavailable": f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200]}"})
            return
        import sentence_transformers

        built = round(time.perf_counter() - started, 1)
        answer({"ready": True, "sentence_transformers": sentence_transformers.__version__, "built_seconds": built})
        for line in sys.stdin:
            request = json.loads(line)
            if "encode" in request:
                start = time.perf_counter()
                model.encode(sentences, batch_size=request["encode"], show_progress_bar=False)
                answer({"seconds": time.perf_counter() - start})
            elif "embed" in request:
                import numpy as np

                embeddings = model.encode(sentences, batch_size=request["embed"], show_progress_bar=False)
                np.save(request["to"], embeddings.astype(np.float32))
                answer({"saved": request["to"]})
            elif "profile" in request:
                answer({"seconds_by_operation": graph_profile(model, sentences, request["profile"], threads)})


if __name__ == "__main__":
    main()
