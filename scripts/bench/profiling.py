"""Where the encoders' time goes: the fp32 encoder's FLOPs against a matmul measured in the same run, and the int8
fast path by stage (tokenisation, OpenVINO graph, pooling) and by graph operation (OpenVINO's per-node counters)."""

from collections import Counter

import torch

import mtl
from bench.common import BATCH_SIZES, REPEAT
from mtl.encoder import Tokenized, length_sorted_batches, sentence_embedding
from mtl.fast import OnnxBackbone
from mtl.measure import best_time


def encoder_flops(config, batches) -> int:
    """Matmul FLOPs of one forward pass over `batches` of (rows, padded length): per layer, the Q, K, V and output
    projections (4 d^2), the feed-forward (2 d ff), attention scores and mix (2 t d), per token."""
    d, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return sum(2 * n * t * layers * (4 * d * d + 2 * d * ff + 2 * t * d) for n, t in batches)


def matmul_peak(dtype: torch.dtype = torch.float32, size: int = 1024) -> float:
    """GFLOP/s of a size x size matmul in `dtype`, best of many short runs: a peak, robust to a moment when another
    process shares the cores."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # the first call picks and builds the kernel
    seconds = best_time(lambda: [a @ b for _ in range(10)], repeat=4 * REPEAT) / 10
    return 2 * size**3 / seconds / 1e9


def flops_and_peak(sentences, seconds: float) -> dict:
    """Achieved GFLOP/s of the fp32 encoder (matmul FLOPs of its padded batches at batch 32, encoded in `seconds`)
    against a matmul measured now."""
    encoder = mtl.SentenceEncoder(device="cpu")
    lengths = encoder.token_lengths(sentences)
    batches = [(len(idx), max(lengths[i] for i in idx)) for idx in length_sorted_batches(lengths, BATCH_SIZES[0])]
    achieved, peak = encoder_flops(encoder.backbone.config, batches) / seconds / 1e9, matmul_peak()
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
    # OpenVINO runs each product with a weight matrix as FullyConnected ("FullyConnectedCompressed" with int8 weights)
    weight_share = sum(t for kind, t in by_type.items() if kind.startswith("FullyConnected")) / graph
    total = sum(seconds.values())
    return {
        "seconds": {stage: round(t, 4) for stage, t in seconds.items()},
        "total_seconds": round(total, 4),
        "graph_time_by_operation": shares(by_type),
        "graph_seconds_by_operation": {kind: round(t, 4) for kind, t in by_type.most_common()},
        "weight_products_share_of_graph": round(weight_share, 3),
        "sentence_transformers_seconds": round(st_seconds, 4),
        "speedup_bound_if_weight_products_took_no_time": round(
            st_seconds / (total - seconds["OpenVINO graph"] * weight_share), 2
        ),
    }


def shares(by_type: Counter) -> dict:
    """Each operation type's share of a graph's time (those of at least 1%, the rest as "other")."""
    graph = sum(by_type.values())
    out = {kind: round(t / graph, 3) for kind, t in by_type.most_common() if t / graph >= 0.01}
    out["other"] = round(1 - sum(out.values()), 3)
    return out


def graphs_side_by_side(fast_path: dict, peer_graphs: dict) -> dict:
    """The fast path's OpenVINO graph beside each OpenVINO peer's, at batch 32 on the same sentences (per-node
    counters, one pass each): total graph seconds, seconds in the products with a weight matrix (FullyConnected,
    FullyConnectedCompressed with int8 weights), and each operation type's share."""
    graphs = {"this project, int8 fast path": fast_path["graph_seconds_by_operation"], **peer_graphs}
    out = {}
    for name, by_type in graphs.items():
        if "unavailable" in by_type:
            out[name] = by_type
            continue
        weights = sum(t for kind, t in by_type.items() if kind.startswith("FullyConnected"))
        out[name] = {
            "graph_seconds": round(sum(by_type.values()), 4),
            "weight_products_seconds": round(weights, 4),
            "rest_seconds": round(sum(by_type.values()) - weights, 4),
            "graph_time_by_operation": shares(Counter(by_type)),
        }
    return out
