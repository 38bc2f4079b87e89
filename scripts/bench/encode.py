"""Encode speed and quality of every engine, this project's and sentence-transformers' (in this process and in the
peers environment), timed in the same interleaved rounds on every STS-B test sentence at each batch size."""

import tempfile
from pathlib import Path

import mtl
from bench.common import BATCH_SIZES, FAST, FP32, GOALS, PER_BATCH, ST, interleaved_runs, seconds_of, spread
from bench.peers import headline, peer_recipes, start_peers
from mtl.fast import OnnxBackbone
from mtl.measure import cosine_to_reference, pair_spearman


def project_engines() -> dict:
    """{row name: a builder} for the engines that run in this process."""
    from sentence_transformers import SentenceTransformer

    path = mtl.default_model_path()

    def exported(recipe):  # the other recipes of mtl.fast, beside "openvino-int8", which precision="int8" uses
        encoder = mtl.SentenceEncoder(path, device="cpu")
        encoder.backbone = OnnxBackbone(encoder.backbone, encoder.tokenizer.model_input_names, recipe=recipe)
        return encoder

    return {
        ST: lambda: SentenceTransformer(path, device="cpu"),
        FP32: lambda: mtl.SentenceEncoder(path, device="cpu"),
        "this project, fp32 (ONNX Runtime)": lambda: exported("onnxruntime"),
        "this project, fp32 (OpenVINO)": lambda: exported("openvino"),
        FAST: lambda: mtl.SentenceEncoder(path, device="cpu", precision="int8"),
        PER_BATCH: lambda: exported("onnxruntime-int8"),  # sentence-transformers' int8 recipe
    }


def encode_rows(sentences: list[str], gold, calibration: list[str], n_runs: int, peers_python: Path) -> dict:
    """{"rows": {engine: {"batch B": figures} or {"unavailable": why}}, "peers_vs_fast_path": headline}.

    Each row: sentences/s (best round over all runs), per run, the spread across one run's rounds (the largest of
    the runs), STS-B test Spearman, the lowest and mean per-sentence cosine to this project's fp32 embeddings, and
    the ratio to sentence-transformers (torch) of the same rounds, overall and per run."""
    rows, models = {}, {}
    for name, build in project_engines().items():
        try:
            models[name], rows[name] = build(), {}
        except Exception as err:
            rows[name] = {"unavailable": f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"}

    def embed(model, batch_size):
        if isinstance(model, mtl.SentenceEncoder):
            return model.encode(sentences, batch_size=batch_size, show_progress_bar=False)
        return model.encode(sentences, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False).cpu()

    with tempfile.TemporaryDirectory() as folder, open(Path(folder) / "peers.log", "w+") as log:
        peers, missing = start_peers(sentences, calibration, log, peers_python)
        try:
            rows.update({name: {} for name in peers} | {name: {"unavailable": why} for name, why in missing.items()})
            runs = {}
            for batch_size in BATCH_SIZES:
                for name, model in models.items():
                    runs[name, batch_size] = seconds_of(lambda m=model, b=batch_size: embed(m, b))
                for name, peer in peers.items():
                    runs[name, batch_size] = lambda p=peer, b=batch_size: p.encode(b)
            times = interleaved_runs(runs, n_runs)
            embedded = {
                (name, b): peers[name].embed(b) if name in peers else embed(models[name], b) for name, b in runs
            }
            graphs = {}
            for name, peer in peers.items():
                if peer_recipes()[name].startswith("openvino"):
                    try:  # a profile that fails is reported as such; the timings above stand
                        graphs[name] = peer.profile(BATCH_SIZES[0])
                    except Exception as err:
                        graphs[name] = {"unavailable": f"{type(err).__name__}: {err}"}
        finally:
            for peer in peers.values():
                peer.close()
            log.seek(0)
            if missing and (text := log.read()):
                print(f"the peers environment's log, for the rows it could not build:\n{text[-3000:]}")
    fp32 = embedded[FP32, BATCH_SIZES[0]]  # what every row's embeddings are compared with
    for (name, batch_size), embeddings in embedded.items():
        by_run = times[name, batch_size]
        agreement = cosine_to_reference(embeddings, fp32, goal=GOALS["min_cosine_per_sentence"])
        best = min(min(run) for run in by_run)
        rows[name][f"batch {batch_size}"] = {
            "seconds": round(best, 3),
            "sentences_per_s": round(len(sentences) / best, 1),
            "sentences_per_s_by_run": [round(len(sentences) / min(run), 1) for run in by_run],
            "spread_across_rounds": round(max(spread(run) for run in by_run), 3),
            "stsb_test_spearman": round(pair_spearman(embeddings, gold), 2),
            "min_cosine_to_fp32": round(agreement["min"], 4),
            "mean_cosine_to_fp32": round(agreement["mean"], 4),
            "share_below_cosine_goal": round(agreement["share_below_goal"], 4),
            "lowest_cosine_sentence": sentences[agreement["argmin"]],
        }
    for batches in rows.values():
        for b, row in batches.items():
            if b != "unavailable":
                reference = rows[ST][b]
                row["ratio_to_sentence_transformers"] = round(row["sentences_per_s"] / reference["sentences_per_s"], 2)
                row["ratio_to_sentence_transformers_by_run"] = [
                    round(mine / theirs, 2)
                    for mine, theirs in zip(row["sentences_per_s_by_run"], reference["sentences_per_s_by_run"])
                ]
    return {"rows": rows, "peers_vs_fast_path": headline(rows, GOALS, BATCH_SIZES), "peer_graphs": graphs}
