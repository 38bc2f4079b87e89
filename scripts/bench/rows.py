"""The benchmark's README and RESULTS rows, read off the figures it just measured, and the table it prints."""

import json

from bench.common import BATCH_SIZES, FAST, PER_BATCH, ST
from bench.training import HEADLINE, REFERENCE
from mtl.report import row as table_row


def machine_words(machine: dict) -> str:
    return f"{machine['cpu']}, {machine['cores']} cores"


def span(values: list[float], pattern: str = "{:.2f}x") -> str:
    """A range over runs in words: '1.21x-1.25x over 2 runs'."""
    low, high = (pattern.format(v) for v in (min(values), max(values)))
    return f"{low}-{high} over {len(values)} runs" if low != high else f"{low} in each of {len(values)} runs"


def peer_rows(figures: dict) -> list[dict]:
    """Per batch size: the fast path's speed-up over the fastest sentence-transformers peer that meets its quality bar,
    and over the fastest at any quality, each as its range over runs, with the machine."""
    rows, machine = [], machine_words(figures["settings"]["machine"])
    for b in (f"batch {size}" for size in BATCH_SIZES):
        versus = figures["peers_vs_fast_path"][b]
        equal, anything = versus["equal_quality"], versus["any_quality"]
        peer = {
            label: ", ".join(dict.fromkeys(f["fastest_peer_by_run"]))
            for label, f in (("equal", equal), ("any", anything))
        }
        rows += [
            table_row(f"encode speed-up over the fastest sentence-transformers peer of equal quality, int8 fast path, {b}",
                f"{span(equal['ratio_by_run'])} ({machine})", "{}", None, f"goal; peer: {peer['equal']}",
                "{:.2f}x".format(versus["goal"])),
            table_row(f"encode speed-up over the fastest sentence-transformers peer at any quality, int8 fast path, {b}",
                span(anything["ratio_by_run"]), "{}", None, f"peer: {peer['any']}"),
        ]  # fmt: skip
    return rows


def training_precision_rows(figures: dict) -> list[dict]:
    precision = figures["training_precision"]
    rows = [table_row(f"training sentences/s, mtl.train on every task, {HEADLINE} over {REFERENCE}",
                      span(precision["rows"][HEADLINE]["ratio_to_fp32_random_by_run"]), "{}", None, "goal",
                      "{:.2f}x".format(figures["goals"]["training_bf16_grouped_vs_fp32_random"]))]  # fmt: skip
    for name, row in precision["rows"].items():
        dtype = "bf16" if name.startswith("bf16") else "fp32"
        rows.append(table_row(f"training sentences/s, {name}: share of the {dtype} matmul peak (same rounds)",
                              row[f"share_of_{dtype}_matmul_peak"], "{:.3f}", None, "sentences/s",
                              "{:.0f}".format(row["sentences_per_s"])))  # fmt: skip
    return rows


def declared_rows(figures: dict) -> list[dict]:
    """The README and RESULTS rows of this benchmark. Speed is not an evaluation, so only the quality rows name a
    split (all of STS-B test)."""
    encode, goals, predict = figures["encode"], figures["goals"], figures["predict"]
    st, fast, per_batch = encode[ST], encode[FAST], encode[PER_BATCH]
    n = max(int(name.split()[0]) for name in predict if name.endswith("task(s)"))
    rows = peer_rows(figures)
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
        *training_precision_rows(figures),
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


def print_table(figures: dict) -> None:
    print(f"{'engine':62s} {'batch':>5s} {'sent/s':>8s} {'x ST':>6s} {'by run':>12s} {'STS-B':>6s} {'min cos':>8s}")
    for engine, batches in figures["encode"].items():
        if "unavailable" in batches:
            print(f"{engine:62s} {batches['unavailable']}")
            continue
        for batch, row in batches.items():
            by_run = "/".join(f"{r:.2f}" for r in row["ratio_to_sentence_transformers_by_run"])
            print(f"{engine:62s} {batch[6:]:>5s} {row['sentences_per_s']:8.0f} {row['ratio_to_sentence_transformers']:6.2f} "
                  f"{by_run:>12s} {row['stsb_test_spearman']:6.2f} {row['min_cosine_to_fp32']:8.4f}")  # fmt: skip
    for key in ("peers_vs_fast_path", "flops", "fast_path_profile", "graphs_side_by_side", "predict", "predict_raw_text_cost",
                "training_precision", "training", "training_processes", "peak_memory"):  # fmt: skip
        print(f"{key}: {json.dumps(figures[key])}")
