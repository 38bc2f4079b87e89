"""Speed of this project against sentence-transformers, and of its training, measured in one run on this machine:
`make bench` (which first builds the peers environment, .venv-peers, from requirements-peers.txt).

Usage: python scripts/benchmark.py [--runs N] [--peers-python PATH]
  --runs          complete runs of the interleaved encode and training rounds (default 2; 1 in the quick profile):
                  each ratio is reported per run and as its range over the runs
  --peers-python  the peers environment's python (default .venv-peers/bin/python); where it does not exist, the
                  peer rows say they were not measured

Prints one table and writes REPORTS_DIR/benchmark.json. Every ratio is against a row measured in the same rounds,
with the same sentences, batch size and thread count; the parts live in scripts/bench/ (one module per thing
measured). REPORT_PROFILE=quick runs it on small inputs (CI, tests/test_benchmark.py).
"""

import argparse
import os
import time
from pathlib import Path

import torch
from bench.common import BATCH_SIZES, FP32, GOALS, ROUNDS, ST
from bench.encode import encode_rows
from bench.peers import PEERS_PYTHON
from bench.predict import peak_memory_rows, predict_rows, raw_text_cost
from bench.profiling import fast_path_profile, flops_and_peak, graphs_side_by_side
from bench.rows import declared_rows, print_table
from bench.training import precision_rows, process_rows, training_rows

import mtl
from mtl.report import PROJECT_ROOT, pick, write_report
from mtl.runtime import machine


def main(n_runs: int, peers_python: Path):
    torch.manual_seed(0)
    first, second, gold = mtl.load_stsb("test")
    n = pick(len(first), 100)
    first, second, gold = first[:n], second[:n], gold[:n]
    sentences = first + second
    calibration = mtl.load_stsb("train")[0][: pick(300, 64)]  # for the peers' static int8; never a test sentence
    train_sentences, train_labels = mtl.load_split("sentiment", "train")
    train_sentences, train_labels = train_sentences[: pick(2000, 96)], train_labels[: pick(2000, 96)]
    started = time.perf_counter()
    encoded = encode_rows(sentences, gold, calibration, n_runs, peers_python)
    b32 = f"batch {BATCH_SIZES[0]}"
    figures = {
        "goals": GOALS,
        "encode": encoded["rows"],
        "peers_vs_fast_path": encoded["peers_vs_fast_path"],
        "flops": flops_and_peak(sentences, encoded["rows"][FP32][b32]["seconds"]),
        "fast_path_profile": (profile := fast_path_profile(sentences, encoded["rows"][ST][b32]["seconds"])),
        "graphs_side_by_side": graphs_side_by_side(profile, encoded["peer_graphs"]),
        "predict": (predict := predict_rows(sentences[: pick(500, 50)])),
        "predict_raw_text_cost": raw_text_cost(predict),
        "training_precision": precision_rows(n_runs),
        "training": training_rows(train_sentences, train_labels),
        "training_processes": process_rows(),
        "peak_memory": peak_memory_rows(),
        "settings": {"sentences": len(sentences), "stsb_pairs": n, "runs": n_runs, "rounds_per_run": ROUNDS,
                     "warm_up_rounds_per_run": 1, "calibration_sentences": len(calibration), "machine": machine()},
    }  # fmt: skip
    figures["settings"]["seconds"] = round(time.perf_counter() - started, 1)
    path = write_report("benchmark", figures, rows=declared_rows(figures))
    print_table(figures)
    print(f"wrote {os.path.relpath(path, PROJECT_ROOT)} on {figures['settings']['machine']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=pick(2, 1))
    parser.add_argument("--peers-python", type=Path, default=PEERS_PYTHON)
    args = parser.parse_args()
    main(args.runs, args.peers_python)
