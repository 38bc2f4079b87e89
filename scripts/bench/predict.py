"""Multi-task predict against one task, separate models and the previous predict; peak memory while encoding."""

from pathlib import Path

import torch

import mtl
from bench.common import REPEAT
from mtl.measure import interleaved_best_times, peak_rss_growth
from mtl.report import pick

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


def raw_text_cost(predict: dict) -> dict:
    """predict on raw text over the previous predict (whitespace words, argmax tags), in fp32 and on the int8 path."""
    n = max(int(name.split()[0]) for name in predict if name.endswith("task(s)"))
    return {
        engine: round(predict[row]["seconds"] / predict[f"{row}, {BEFORE}"]["seconds"], 3)
        for engine, row in (("fp32", f"{n} task(s)"), ("int8", f"{n} task(s), int8 encoder"))
    }


def peak_memory_rows() -> dict | str:
    """Peak RSS growth while encoding n short sentences: it should follow the output size, not the input."""
    if not Path("/proc/self/clear_refs").exists():
        return "not measured: needs Linux /proc"
    rows = {}
    for n in pick((10_000, 50_000), (1_000, 5_000)):
        growth_kb, output_kb, _ = peak_rss_growth(n)
        rows[str(n)] = {"peak_rss_growth_mb": round(growth_kb / 1024, 1), "output_mb": round(output_kb / 1024, 1)}
    return rows
