"""Speed of this project against sentence-transformers, measured in one run on this machine: `make bench`.

Prints one table and writes REPORTS_DIR/benchmark.json. Every ratio is against a row measured in the same run,
with the same sentences, batch size and thread count. REPORT_PROFILE=quick runs it on small inputs (CI).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

import mtl
from mtl.encoder import Tokenized, length_sorted_batches, sentence_embedding
from mtl.fast import OnnxBackbone
from mtl.measure import best_time, cosine_to_reference, interleaved_best_times, pair_spearman, peak_rss_growth
from mtl.report import PROJECT_ROOT, pick, write_report
from mtl.report import row as table_row
from mtl.runtime import machine

REPEAT = pick(5, 1)
GOALS = {
    "speedup_vs_sentence_transformers": 3.0,
    "spearman_within_fp32": 0.5,
    "min_cosine_per_sentence": 0.99,
    "predict_raw_text_cost_at_most": 1.10,  # predict on raw text within 10% of the previous predict
}
BATCH_SIZES = (32, 128)
FP32 = "this project, fp32 (torch)"  # the reference for every row's per-sentence cosine, and the encoder flops_and_peak rates
FAST = "this project, int8 (OpenVINO)"  # the fast path: SentenceEncoder(precision="int8")
PER_BATCH = (
    "int8, one activation scale per batch (ONNX Runtime)"  # as sentence-transformers' int8 ONNX export quantises
)


def encode_rows(sentences, gold) -> dict:
    """Throughput (sentences/s) and STS-B test Spearman of each way to encode, at each batch size."""
    from sentence_transformers import SentenceTransformer

    path = mtl.default_model_path()

    def exported(recipe):  # the other recipes of onnx_backbone.py, beside "openvino-int8", which precision="int8" uses
        encoder = mtl.SentenceEncoder(path, device="cpu")
        encoder.backbone = OnnxBackbone(encoder.backbone, encoder.tokenizer.model_input_names, recipe=recipe)
        return encoder

    engines = {
        "sentence-transformers (torch)": lambda: SentenceTransformer(path, device="cpu"),
        FP32: lambda: mtl.SentenceEncoder(path, device="cpu"),
        "this project, fp32 (ONNX Runtime)": lambda: exported("onnxruntime"),
        "this project, fp32 (OpenVINO)": lambda: exported("openvino"),
        FAST: lambda: mtl.SentenceEncoder(path, device="cpu", precision="int8"),
        PER_BATCH: lambda: exported("onnxruntime-int8"),  # sentence-transformers' int8 recipe
        # sentence-transformers' ONNX backends load through optimum-onnx, whose only release requires transformers<4.58
        "sentence-transformers, ONNX": lambda: SentenceTransformer(path, device="cpu", backend="onnx"),
        "sentence-transformers, ONNX int8": lambda: SentenceTransformer(
            path, device="cpu", backend="onnx", model_kwargs={"file_name": "onnx/model_qint8_avx512_vnni.onnx"}
        ),
    }
    rows, models = {}, {}
    for name, build in engines.items():
        try:
            models[name], rows[name] = build(), {}
        except Exception as err:
            rows[name] = {"unavailable": f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"}

    def embed(model, batch_size):
        if isinstance(model, mtl.SentenceEncoder):
            return model.encode(sentences, batch_size=batch_size, show_progress_bar=False)
        return model.encode(sentences, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False).cpu()

    runs = {
        (name, batch_size): (lambda name=name, b=batch_size: embed(models[name], b))
        for name in models
        for batch_size in BATCH_SIZES
    }
    seconds = interleaved_best_times(runs, rounds=REPEAT)
    embedded = {}
    for name, batch_size in runs:
        embedded[name, batch_size] = embeddings = embed(models[name], batch_size)
        rows[name][f"batch {batch_size}"] = {
            "seconds": round(seconds[name, batch_size], 3),
            "sentences_per_s": round(len(sentences) / seconds[name, batch_size], 1),
            "stsb_test_spearman": round(pair_spearman(embeddings, gold), 2),
        }
    fp32 = embedded[FP32, BATCH_SIZES[0]]  # what every row's embeddings are compared with
    reference = rows["sentence-transformers (torch)"]
    for (name, batch_size), embeddings in embedded.items():
        row = rows[name][f"batch {batch_size}"]
        agreement = cosine_to_reference(embeddings, fp32, goal=GOALS["min_cosine_per_sentence"])
        row.update(
            {
                "min_cosine_to_fp32": round(agreement["min"], 4),
                "mean_cosine_to_fp32": round(agreement["mean"], 4),
                "share_below_cosine_goal": round(agreement["share_below_goal"], 4),
                "lowest_cosine_sentence": sentences[agreement["argmin"]],
                "ratio_to_sentence_transformers": round(
                    row["sentences_per_s"] / reference[f"batch {batch_size}"]["sentences_per_s"], 2
                ),
            }
        )
    return rows


def flops_and_peak(sentences, seconds: float) -> dict:
    """Achieved GFLOP/s of the fp32 encoder (matmul FLOPs of its padded batches at batch 32, encoded in `seconds`)
    against a matmul measured now."""
    encoder = mtl.SentenceEncoder(device="cpu")
    config = encoder.backbone.config
    d, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    flops, lengths = 0, encoder.token_lengths(sentences)
    for idx in length_sorted_batches(lengths, BATCH_SIZES[0]):
        n, t = len(idx), max(lengths[i] for i in idx)
        # per layer: Q, K, V, output projections (4 d^2), feed-forward (2 d ff), attention scores and mix (2 t d)
        flops += 2 * n * t * layers * (4 * d * d + 2 * d * ff + 2 * t * d)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    # best of many short runs: a peak, robust to a moment when another process shares the cores
    matmul_seconds = best_time(lambda: [a @ b for _ in range(10)], repeat=pick(20, 2)) / 10
    achieved, peak = flops / seconds / 1e9, 2 * 1024**3 / matmul_seconds / 1e9
    return {
        "encoder_gflop_per_s": round(achieved, 1),
        "matmul_1024_gflop_per_s": round(peak, 1),
        "share_of_matmul_peak": round(achieved / peak, 2),
    }


def fast_path_profile(sentences, st_seconds: float) -> dict:
    """Where the int8 fast path spends a batch-32 encode: seconds in tokenisation, in the OpenVINO graph and in pooling
    (best of REPEAT passes each); the graph's time by operation type, from OpenVINO's per-node counters on a second
    copy of the graph; and the speed-up over sentence-transformers (`st_seconds`, same sentences and run) that the
    path would have if its weight products took no time at all, an upper bound on what faster int8 kernels can give."""
    encoder = mtl.SentenceEncoder(device="cpu", precision="int8")
    names = encoder.tokenizer.model_input_names

    def tokenise():  # as encode does: every sentence once, then each batch padded
        return [features for _, features in Tokenized(encoder, sentences).batches(BATCH_SIZES[0])]

    inputs = tokenise()
    tokens = [encoder.backbone(**features).last_hidden_state for features in inputs]
    seconds = {
        "tokenisation": best_time(tokenise, repeat=REPEAT),
        "OpenVINO graph": best_time(lambda: [encoder.backbone(**features) for features in inputs], repeat=REPEAT),
        "pooling and normalisation": best_time(
            lambda: [
                sentence_embedding(t, f["attention_mask"], encoder.pooling, encoder.normalize)
                for t, f in zip(tokens, inputs)
            ],
            repeat=REPEAT,
        ),
    }
    profiled = OnnxBackbone(mtl.SentenceEncoder(device="cpu").backbone, names, profile=True)
    by_type = Counter()
    for features in inputs:
        profiled(**features)
        for kind, seconds_in_node in profiled.node_times():
            by_type[kind] += seconds_in_node
    graph = sum(by_type.values())
    shares = {kind: round(t / graph, 3) for kind, t in by_type.most_common() if t / graph >= 0.01}
    shares["other"] = round(1 - sum(shares.values()), 3)
    # OpenVINO runs each product with a weight matrix as FullyConnected ("FullyConnectedCompressed" with int8 weights)
    weight_share = sum(t for kind, t in by_type.items() if kind.startswith("FullyConnected")) / graph
    total = sum(seconds.values())
    return {
        "seconds": {stage: round(t, 4) for stage, t in seconds.items()},
        "total_seconds": round(total, 4),
        "graph_time_by_operation": shares,
        "weight_products_share_of_graph": round(weight_share, 3),
        "sentence_transformers_seconds": round(st_seconds, 4),
        "speedup_bound_if_weight_products_took_no_time": round(
            st_seconds / (total - seconds["OpenVINO graph"] * weight_share), 2
        ),
    }


BEFORE = "whitespace words, argmax tags"


def predict_rows(sentences) -> dict:
    """Seconds for multi-task predict with 1 to n tasks (every registered task), for n separate single-task models, and
    for n tasks on the int8 fast path; for n tasks in fp32 and int8 also `predict_words` on whitespace words with
    argmax tags, what predict did before it read raw text (offsets, valid IOB2 tags, entity spans and scores)."""
    tasks = mtl.declare_tasks()
    torch.manual_seed(0)
    model = mtl.MultiTaskModel(mtl.SentenceEncoder(device="cpu"), tasks)
    separate = [mtl.MultiTaskModel(mtl.SentenceEncoder(device="cpu"), [t]) for t in tasks]
    n = len(tasks)
    fast = mtl.MultiTaskModel(mtl.SentenceEncoder(device="cpu", precision="int8"), tasks)
    fast.heads.load_state_dict(model.heads.state_dict())
    words = [sentence.split() for sentence in sentences]  # the previous predict: whitespace words, argmax tags
    runs = {
        f"{k} task(s)": lambda k=k: model.predict(sentences, tasks=[t.name for t in tasks[:k]])
        for k in range(1, n + 1)
    }
    runs[f"{n} separate models"] = lambda: [m.predict(sentences) for m in separate]
    runs[f"{n} task(s), int8 encoder"] = lambda: fast.predict(sentences)
    for name, m in ((f"{n} task(s)", model), (f"{n} task(s), int8 encoder", fast)):
        runs[f"{name}, {BEFORE}"] = lambda m=m: m.predict_words(words, decoding="argmax")
    seconds = interleaved_best_times(runs, rounds=REPEAT)  # every row once per round: drift favours none
    return {
        name: {"seconds": round(s, 3), "ratio_to_1_task": round(s / seconds["1 task(s)"], 2)}
        for name, s in seconds.items()
    }


def training_rows(sentences, labels) -> dict:
    """Training throughput: one fine-tuning step (forward, backward, AdamW) vs heads-only epochs on cached embeddings."""
    task = next(t for t in mtl.declare_tasks() if t.name == "sentiment")
    torch.manual_seed(0)
    model = mtl.MultiTaskModel(mtl.SentenceEncoder(device="cpu"), [task])
    config = mtl.TrainConfig(steps=pick(20, 3), batch_size=32, eval_every=10**9)
    history = mtl.train(model, {task.name: (sentences, labels)}, config)
    encoder = mtl.SentenceEncoder(device="cpu")
    start = time.perf_counter()
    features, label_ids = mtl.cached_features(encoder, task, sentences, labels)
    caching = time.perf_counter() - start
    head = mtl.MultiTaskModel(encoder, [task]).heads[task.name]
    epochs = pick(20, 2)
    head_seconds = best_time(lambda: mtl.fit_head(head, features, label_ids, epochs=epochs), repeat=1)
    return {
        "fine_tuning_sentences_per_s": round(history["examples"] / history["seconds"], 1),
        "cached_heads_sentences_per_s": round(epochs * len(sentences) / head_seconds, 1),
        "embedding_cache_sentences_per_s": round(len(sentences) / caching, 1),
    }


def process_rows() -> dict:
    """Training sentences/s of scripts/train.py on 1 and 2 processes (torchrun, gloo on CPU), the same global batches;
    the cores are split between the processes."""
    rows = {}
    for n in (1, 2):
        launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"] if n > 1 else []
        args = ["--tasks", "sentiment", "--train-rows", str(pick(2000, 96)), "--dev-rows", "0", "--batch-size", "32"]
        args += ["--steps", str(pick(20, 3)), "--freeze", "embeddings"]
        with tempfile.TemporaryDirectory() as folder:
            history_path = Path(folder) / "history.json"
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, torch.get_num_threads() // n)), "TQDM_DISABLE": "1"}
            script = str(PROJECT_ROOT / "scripts" / "train.py")
            done = subprocess.run(
                [sys.executable, *launcher, script, *args, "--history", str(history_path)],
                env=env, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode:
                raise RuntimeError(f"scripts/train.py on {n} process(es) failed:\n{done.stderr[-2000:]}")
            history = json.loads(history_path.read_text())
        rows[f"{n} process(es)"] = {"sentences_per_s": round(history["examples"] / history["seconds"], 1)}
    for row in rows.values():
        row["ratio_to_1_process"] = round(row["sentences_per_s"] / rows["1 process(es)"]["sentences_per_s"], 3)
    return rows


def peak_memory_rows() -> dict:
    """Peak RSS growth while encoding n short sentences: it should follow the output size, not the input."""
    rows = {}
    for n in pick((10_000, 50_000), (1_000, 5_000)):
        growth_kb, output_kb, _ = peak_rss_growth(n)
        rows[str(n)] = {"peak_rss_growth_mb": round(growth_kb / 1024, 1), "output_mb": round(output_kb / 1024, 1)}
    return rows


def declared_rows(figures: dict) -> list[dict]:
    """The README and RESULTS rows of this benchmark, read off the figures it just measured. Speed is not an
    evaluation, so only the quality rows name a split (all of STS-B test)."""
    encode, goals, predict = figures["encode"], figures["goals"], figures["predict"]
    st, fast, per_batch = encode["sentence-transformers (torch)"], encode[FAST], encode[PER_BATCH]
    n = max(int(name.split()[0]) for name in predict if name.endswith("task(s)"))
    rows = []
    for b in (f"batch {size}" for size in BATCH_SIZES):
        rows += [
            table_row(f"encode sentences/s, int8 fast path, {b}", fast[b]["sentences_per_s"], "{:.0f}", None,
                "sentence-transformers torch, same rounds", st[b]["sentences_per_s"]),
            table_row(f"encode speed-up vs sentence-transformers torch, int8 fast path, {b}",
                fast[b]["ratio_to_sentence_transformers"], "{:.2f}x", None, "goal", goals["speedup_vs_sentence_transformers"]),
            *[table_row(f"encode speed-up vs sentence-transformers torch, {runtime} fp32 (no quantisation), {b}",
                  encode[f"this project, fp32 ({runtime})"][b]["ratio_to_sentence_transformers"], "{:.2f}x", None)
              for runtime in ("ONNX Runtime", "OpenVINO") if b in encode[f"this project, fp32 ({runtime})"]],
            table_row(f"STS-B Spearman x100, int8 fast path, {b}", fast[b]["stsb_test_spearman"], "{:.2f}", "test",
                "sentence-transformers torch", st[b]["stsb_test_spearman"]),
            table_row(f"int8 with one activation scale per batch: speed-up vs sentence-transformers torch, {b}",
                per_batch[b]["ratio_to_sentence_transformers"], "{:.2f}x", None, "int8 fast path",
                fast[b]["ratio_to_sentence_transformers"]),
        ]  # fmt: skip
    b32 = f"batch {BATCH_SIZES[0]}"
    profile, training, processes = figures["fast_path_profile"], figures["training"], figures["training_processes"]
    rows += [
        table_row("int8 vs fp32 embedding cosine, lowest over STS-B test sentences", fast[b32]["min_cosine_to_fp32"], "{:.3f}",
            "test", "goal", goals["min_cosine_per_sentence"]),
        table_row("int8 with one activation scale per batch: lowest cosine to fp32", per_batch[b32]["min_cosine_to_fp32"],
            "{:.3f}", "test", "goal", goals["min_cosine_per_sentence"]),
        table_row(f"multi-task predict, {n} tasks vs 1 task", predict[f"{n} task(s)"]["ratio_to_1_task"], "{:.2f}x", None,
            f"{n} separate models", predict[f"{n} separate models"]["ratio_to_1_task"]),
        table_row(f"multi-task predict, {n} tasks on the int8 path, relative to 1 task in fp32",
            predict[f"{n} task(s), int8 encoder"]["ratio_to_1_task"], "{:.2f}x", None, f"{n} tasks in fp32",
            predict[f"{n} task(s)"]["ratio_to_1_task"]),
        *[table_row(f"predict on raw text, time relative to the previous predict (whitespace words, argmax tags), {engine}",
              cost, "{:.3f}x", None, "goal", goals["predict_raw_text_cost_at_most"])
          for engine, cost in figures["predict_raw_text_cost"].items()],
        table_row("fp32 encoder GFLOP/s", figures["flops"]["encoder_gflop_per_s"], "{:.1f}", None, "1024x1024 matmul, same run",
            figures["flops"]["matmul_1024_gflop_per_s"]),
        table_row("training sentences/s, heads on cached embeddings", training["cached_heads_sentences_per_s"], "{:.0f}", None,
            "fine-tuning", training["fine_tuning_sentences_per_s"]),
        table_row("training sentences/s on 2 processes (torchrun, gloo; the 2 cores split between them)",
            processes["2 process(es)"]["sentences_per_s"], "{:.0f}", None, "1 process, same run",
            processes["1 process(es)"]["sentences_per_s"]),
        table_row("int8 fast path, batch 32: share of the OpenVINO graph's time in the int8 weight products",
            profile["weight_products_share_of_graph"], "{:.2f}", None),
        table_row("int8 fast path, batch 32: speed-up bound if the weight products took no time",
            profile["speedup_bound_if_weight_products_took_no_time"], "{:.1f}x", None, "goal",
            goals["speedup_vs_sentence_transformers"]),
    ]  # fmt: skip
    memory = figures["peak_memory"]
    if isinstance(memory, dict):
        small, large = sorted(memory, key=int)
        rows.append(table_row(f"peak memory growth encoding {int(large):,} short sentences, MB", memory[large]["peak_rss_growth_mb"],
                        "{:.1f}", None, f"{int(small):,} sentences", memory[small]["peak_rss_growth_mb"]))  # fmt: skip
    return rows


def main():
    torch.manual_seed(0)
    first, second, gold = mtl.load_stsb("test")
    n = pick(len(first), 100)
    first, second, gold = first[:n], second[:n], gold[:n]
    sentences = first + second
    train_sentences, train_labels = mtl.load_split("sentiment", "train")
    train_sentences, train_labels = train_sentences[: pick(2000, 96)], train_labels[: pick(2000, 96)]
    started = time.perf_counter()
    figures = {
        "goals": GOALS,
        "encode": (encode := encode_rows(sentences, gold)),
        "flops": flops_and_peak(sentences, encode[FP32][f"batch {BATCH_SIZES[0]}"]["seconds"]),
        "fast_path_profile": fast_path_profile(
            sentences, encode["sentence-transformers (torch)"][f"batch {BATCH_SIZES[0]}"]["seconds"]
        ),
        "predict": predict_rows(sentences[: pick(500, 50)]),
        "training": training_rows(train_sentences, train_labels),
        "training_processes": process_rows(),
        "peak_memory": peak_memory_rows()
        if Path("/proc/self/clear_refs").exists()
        else "not measured: needs Linux /proc",
        "settings": {"sentences": len(sentences), "stsb_pairs": n, "repeat": REPEAT, "machine": machine()},
    }
    n_tasks = len(mtl.declare_tasks())
    figures["predict_raw_text_cost"] = {
        engine: round(figures["predict"][row]["seconds"] / figures["predict"][f"{row}, {BEFORE}"]["seconds"], 3)
        for engine, row in (("fp32", f"{n_tasks} task(s)"), ("int8", f"{n_tasks} task(s), int8 encoder"))
    }
    figures["settings"]["seconds"] = round(time.perf_counter() - started, 1)
    path = write_report("benchmark", figures, rows=declared_rows(figures))
    print(f"{'engine':45s} {'batch':>5s} {'sent/s':>8s} {'x ST':>6s} {'STS-B':>6s} {'min cos':>8s}")
    for engine, batches in figures["encode"].items():
        if "unavailable" in batches:
            print(f"{engine:45s} unavailable: {batches['unavailable']}")
        for batch, row in batches.items():
            if batch != "unavailable":
                print(
                    f"{engine:45s} {batch[6:]:>5s} {row['sentences_per_s']:8.0f} {row['ratio_to_sentence_transformers']:6.2f} "
                    f"{row['stsb_test_spearman']:6.2f} {row['min_cosine_to_fp32']:8.4f}"
                )
    for key in (
        "flops",
        "fast_path_profile",
        "predict",
        "predict_raw_text_cost",
        "training",
        "training_processes",
        "peak_memory",
    ):
        print(f"{key}: {json.dumps(figures[key])}")
    print(f"wrote {os.path.relpath(path, PROJECT_ROOT)} on {figures['settings']['machine']}")


if __name__ == "__main__":
    main()
