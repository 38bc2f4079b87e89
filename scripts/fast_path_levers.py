"""The OpenVINO runtime's own levers on the int8 fast path, each timed against sentence-transformers in one run.

Issue 20 asks whether the runtime's settings close the gap to 3x before anything is written by hand. Rows, all on
every STS-B test sentence at batch 32 and 128, timed in interleaved rounds with sentence-transformers (torch):
  - the fast path as shipped (`SentenceEncoder(precision="int8")`: OpenVINO defaults plus mtl.fast.openvino_config);
  - PERFORMANCE_HINT "LATENCY" and "THROUGHPUT", one request at a time (what `encode` does);
  - THROUGHPUT with two requests in flight (AsyncInferQueue), so the next batch is tokenised while one runs;
  - static int8 from NNCF post-training quantisation (activations quantised with scales calibrated on 512 STS-B train
    sentences, transformer preset), when nncf is installed (`pip install nncf==3.4.0`; not a project dependency).
Each row also gets the STS-B test Spearman and the lowest per-sentence cosine to fp32, the fast path's hard
requirements (within 0.5 of fp32; 0.99). Writes REPORTS_DIR/fast_path_levers.json. REPORT_PROFILE=quick: small inputs.
"""

import tempfile
from functools import partial
from pathlib import Path

import openvino
import torch

import mtl
from mtl.encoder import Tokenized, sentence_embedding
from mtl.fast import ACTIVATION_GROUP, RECIPES, OnnxBackbone, export, openvino_config, openvino_runner
from mtl.measure import cosine_to_reference, interleaved_best_times, pair_spearman
from mtl.report import pick, write_report
from mtl.runtime import machine

BATCH_SIZES = (32, 128)
ST = "sentence-transformers (torch)"


def encode_async(encoder, sentences, batch_size: int, jobs: int = 2) -> torch.Tensor:
    """`encode` with `jobs` inference requests in flight: the next batch is tokenised while earlier ones run."""
    queue = openvino.AsyncInferQueue(encoder.backbone.run.compiled, jobs)
    out, pending = torch.empty(len(sentences), encoder.dim), {}

    def finished(request, i):
        idx, mask = pending.pop(i)
        tokens = torch.from_numpy(request.get_output_tensor(0).data.copy())
        out[idx] = sentence_embedding(tokens, mask, encoder.pooling, encoder.normalize)

    queue.set_callback(finished)
    for i, (idx, features) in enumerate(Tokenized(encoder, sentences).batches(batch_size)):
        pending[i] = idx, features["attention_mask"]
        queue.start_async({n: features[n].numpy() for n in encoder.backbone.input_names}, userdata=i)
    queue.wait_all()
    return out


def static_int8(onnx_path: Path, encoder, calibration: list[str]):
    """NNCF post-training quantisation: int8 weights and activations with scales fixed on `calibration`."""
    import nncf

    names = encoder.tokenizer.model_input_names
    batches = [encoder.tokenize(calibration[i : i + 32]) for i in range(0, len(calibration), 32)]
    items = [{n: b[n].numpy() for n in names} for b in batches]
    return nncf.quantize(
        openvino.Core().read_model(str(onnx_path)),
        nncf.Dataset(items),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(items),
    )


def main():
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    first, second, gold = mtl.load_stsb("test")
    n = pick(len(first), 100)
    sentences, gold = first[:n] + second[:n], gold[:n]
    train_first, train_second, _ = mtl.load_stsb("train")
    calibration = (train_first + train_second)[: pick(512, 64)]
    reference = mtl.SentenceEncoder(device="cpu")
    names = reference.tokenizer.model_input_names
    core, threads = openvino.Core(), torch.get_num_threads()

    def with_graph(graph, **settings):  # an fp32 encoder around a compiled graph, tokeniser and pooling unchanged
        encoder = mtl.SentenceEncoder(device="cpu")
        config = {**openvino_config(threads, ACTIVATION_GROUP), **settings}
        runner = openvino_runner(core.compile_model(graph, "CPU", config))
        encoder.backbone = OnnxBackbone.around(runner, encoder.backbone.config, names)
        return encoder

    def encodes(encoder):  # batch size -> embeddings of every sentence, through `encode`
        return lambda batch_size: encoder.encode(sentences, batch_size=batch_size, show_progress_bar=False)

    st = SentenceTransformer(mtl.default_model_path(), device="cpu")
    levers = {ST: lambda b: st.encode(sentences, batch_size=b, convert_to_tensor=True, show_progress_bar=False).cpu()}
    unavailable = {}
    levers["fast path as shipped"] = encodes(mtl.SentenceEncoder(device="cpu", precision="int8"))
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = export(reference.backbone, names, Path(folder) / "backbone.onnx")
        int8 = core.read_model(str(RECIPES["openvino-int8"][1](onnx_path)))
        hinted = {hint: with_graph(int8, PERFORMANCE_HINT=hint) for hint in ("LATENCY", "THROUGHPUT")}
        levers |= {f"PERFORMANCE_HINT {hint}": encodes(encoder) for hint, encoder in hinted.items()}
        levers["THROUGHPUT, 2 requests in flight"] = partial(encode_async, hinted["THROUGHPUT"], sentences)
        try:
            levers["static int8 (NNCF)"] = encodes(with_graph(static_int8(onnx_path, reference, calibration)))
        except ImportError as err:
            unavailable["static int8 (NNCF)"] = f"{type(err).__name__}: {err}"

    runs = {(name, b): partial(encode, b) for name, encode in levers.items() for b in BATCH_SIZES}
    seconds = interleaved_best_times(runs, rounds=pick(5, 1))
    fp32 = reference.encode(sentences)
    rows = {name: {} for name in levers}
    for (name, b), encode in runs.items():
        embeddings = encode()
        rate, st_rate = len(sentences) / seconds[name, b], len(sentences) / seconds[ST, b]
        rows[name][f"batch {b}"] = {
            "sentences_per_s": round(rate, 1),
            "sentence_transformers_sentences_per_s": round(st_rate, 1),
            "ratio_to_sentence_transformers": round(rate / st_rate, 2),
            "stsb_test_spearman": round(pair_spearman(embeddings, gold), 2),
            "min_cosine_to_fp32": round(cosine_to_reference(embeddings, fp32)["min"], 4),
        }
    rows |= {name: {"unavailable": why} for name, why in unavailable.items()}
    figures = {
        "levers": rows,
        "fp32_stsb_test_spearman": round(pair_spearman(fp32, gold), 2),
        "settings": {
            "sentences": len(sentences),
            "calibration_sentences": len(calibration),
            "threads": threads,
            "machine": machine(),
        },
    }
    write_report("fast_path_levers", figures)
    for name, batches in rows.items():
        for batch, row in batches.items():
            print(
                f"{name:36s} {batch:9s} "
                + ("  ".join(f"{k} {v}" for k, v in row.items()) if batch != "unavailable" else row)
            )


if __name__ == "__main__":
    main()
