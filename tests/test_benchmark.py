"""The benchmark runs end to end (quick profile) and reports every row against its same-run reference.

Its timings are printed, never asserted: speed is judged from the ratios in reports/benchmark.json. It runs without
the peers environment (make bench builds .venv-peers; make test never does), so the peer rows say why they are missing.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_writes_every_row_with_its_ratio(tmp_path):
    env = {**os.environ, "REPORT_PROFILE": "quick", "REPORTS_DIR": str(tmp_path)}
    absent = tmp_path / "no-peers" / "bin" / "python"  # even where a .venv-peers exists
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--peers-python", str(absent)],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)
    figures = json.loads((tmp_path / "benchmark.json").read_text())
    measured = {
        (engine, int(batch[6:])): row
        for engine, batches in figures["encode"].items()
        for batch, row in batches.items()
        if batch != "unavailable"
    }
    fast, fp32s = (
        "this project, int8 (OpenVINO)",
        (
            "sentence-transformers (torch)",
            "this project, fp32 (torch)",
            "this project, fp32 (ONNX Runtime)",
            "this project, fp32 (OpenVINO)",
        ),
    )
    for engine in (*fp32s, fast, "int8, one activation scale per batch (ONNX Runtime)"):
        for batch_size in (32, 128):
            row = measured[engine, batch_size]
            assert row["sentences_per_s"] > 0 and 0 < row["stsb_test_spearman"] <= 100
            assert 0.9 < row["min_cosine_to_fp32"] <= row["mean_cosine_to_fp32"] < 1.0001
    for batch_size in (
        32,
        128,
    ):  # the same fp32 model through PyTorch, sentence-transformers, ONNX Runtime or OpenVINO
        for fp32 in fp32s:
            assert measured[fp32, batch_size]["min_cosine_to_fp32"] > 0.9999
    for batch_size in (32, 128):
        assert measured[fast, batch_size]["min_cosine_to_fp32"] >= 0.99
        assert measured["sentence-transformers (torch)", batch_size]["ratio_to_sentence_transformers"] == 1.0
        reference = measured["sentence-transformers (torch)", batch_size]["stsb_test_spearman"]
        for same_numbers in fp32s:  # the same model in fp32
            assert abs(measured[same_numbers, batch_size]["stsb_test_spearman"] - reference) < 0.01
    peers = [
        engine for engine in figures["encode"] if engine.startswith("sentence-transformers ") and engine != fp32s[0]
    ]
    assert len(peers) == 5 and all(figures["encode"][p]["unavailable"].startswith("not measured") for p in peers)
    for batch_size in (32, 128):  # sentence-transformers in this process is then the only peer
        versus = figures["peers_vs_fast_path"][f"batch {batch_size}"]
        assert versus["any_quality"]["fastest_peer_by_run"] == [fp32s[0]]
        fast_by_run = measured[fast, batch_size]["ratio_to_sentence_transformers_by_run"]
        assert versus["any_quality"]["ratio_by_run"] == fast_by_run and len(fast_by_run) == 1  # one run when quick
        assert measured[fast, batch_size]["spread_across_rounds"] >= 0
    precision = figures["training_precision"]["rows"]
    assert set(precision) == {f"{p}, {b}" for p in ("fp32", "bf16") for b in ("random batches", "grouped by length")}
    assert precision["fp32, random batches"]["ratio_to_fp32_random"] == 1.0
    for name, row in precision.items():
        share = row[f"share_of_{name[:4]}_matmul_peak"]
        assert 0 < share < 1.5 and row["padded_tokens"] >= row["tokens"] > row["rows"] > 0
    assert precision["fp32, grouped by length"]["padded_tokens"] < precision["fp32, random batches"]["padded_tokens"]
    assert 0 < figures["flops"]["share_of_matmul_peak"] < 2
    assert set(figures["predict"]) == {
        "1 task(s)",
        "2 task(s)",
        "3 task(s)",
        "3 separate models",
        "3 task(s), int8 encoder",
        "3 task(s), whitespace words, argmax tags",
        "3 task(s), int8 encoder, whitespace words, argmax tags",
    }
    assert set(figures["predict_raw_text_cost"]) == {"fp32", "int8"}
    assert set(figures["training_processes"]) == {"1 process(es)", "2 process(es)"}
    assert figures["training_processes"]["1 process(es)"]["ratio_to_1_process"] == 1.0
    assert figures["training"]["cached_heads_sentences_per_s"] > figures["training"]["fine_tuning_sentences_per_s"] > 0
    assert figures["settings"]["profile"] == "quick" and figures["settings"]["machine"]["cores"] >= 1
    assert fast in done.stdout  # the table is printed


def test_fast_path_levers_run_each_lever_on_the_same_graph_against_the_same_reference(tmp_path):
    env = {**os.environ, "REPORT_PROFILE": "quick", "REPORTS_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fast_path_levers.py")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads((tmp_path / "fast_path_levers.json").read_text())  # written only if every ratio checks out
    levers = figures["levers"]
    shipped = levers["fast path as shipped"]["batch 32"]
    hints = ["PERFORMANCE_HINT LATENCY", "PERFORMANCE_HINT THROUGHPUT", "THROUGHPUT, 2 requests in flight"]
    assert shipped["min_cosine_to_fp32"] >= 0.99
    for lever in hints:  # a setting of the runtime, not of the graph: the same embeddings up to summation order
        for batch in ("batch 32", "batch 128"):
            assert abs(levers[lever][batch]["min_cosine_to_fp32"] - shipped["min_cosine_to_fp32"]) <= 0.0002
            assert abs(levers[lever][batch]["stsb_test_spearman"] - shipped["stsb_test_spearman"]) <= 0.02
    assert levers["sentence-transformers (torch)"]["batch 32"]["ratio_to_sentence_transformers"] == 1.0
    nncf = levers["static int8 (NNCF)"]
    assert "unavailable" in nncf or nncf["batch 32"]["sentences_per_s"] > 0
    assert figures["settings"]["machine"]["cores"] >= 1
