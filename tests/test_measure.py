"""The shared measurements: Spearman on pairs, agreement with a reference, interleaved timing."""

import time

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from mtl import measure
from mtl.measure import cosine_to_reference, interleaved_best_times, pair_spearman


def test_pair_spearman_is_the_rank_correlation_of_pair_cosines_with_gold():
    torch.manual_seed(0)
    first, second = torch.randn(20, 8), torch.randn(20, 8)
    gold = np.arange(20.0)
    expected = 100 * spearmanr(torch.nn.functional.cosine_similarity(first, second).numpy(), gold).statistic
    assert pair_spearman(torch.cat([first, second]), gold) == pytest.approx(expected)
    with pytest.raises(ValueError, match="expected 40 embeddings"):
        pair_spearman(first, gold)


def test_cosine_to_reference_finds_the_one_sentence_that_moved():
    reference = torch.eye(4)
    moved = reference.clone()
    moved[2] = torch.tensor([0.0, 1.0, 1.0, 0.0])  # cosine 1/sqrt(2) to its reference
    agreement = cosine_to_reference(moved, reference)
    assert agreement["argmin"] == 2 and agreement["min"] == pytest.approx(2**-0.5)
    assert agreement["share_below_goal"] == 0.25 and agreement["mean"] == pytest.approx((3 + 2**-0.5) / 4)


def test_interleaved_timing_runs_every_run_once_per_round_in_turn():
    calls = []
    seconds = interleaved_best_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3)
    assert calls == ["a", "b"] * (1 + 3) and set(seconds) == {"a", "b"}  # a warm-up round, then 3 timed
    assert all(0 <= s < 1 for s in seconds.values())


def test_interleaved_times_keep_every_round():
    from mtl.measure import interleaved_best_times, interleaved_times

    calls = []
    times = interleaved_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3)
    assert calls == ["a", "b"] * (1 + 3) and {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert set(interleaved_best_times({"a": lambda: None}, rounds=2)) == {"a"}
    calls.clear()
    interleaved_times({"a": lambda: calls.append("a")}, rounds=2, warmup=0)
    assert calls == ["a", "a"]


def test_the_warm_up_round_is_not_timed():
    """A run whose first call is slow (a cache filled, a graph compiled) does not count that call as a round."""
    from mtl.measure import interleaved_times

    calls = []

    def cold_first():
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.3)

    times = interleaved_times({"cold": cold_first}, rounds=2)
    assert len(calls) == 3 and len(times["cold"]) == 2 and max(times["cold"]) < 0.2


def test_bf16_is_timed_only_on_a_cpu_with_bf16_instructions(monkeypatch):
    measure.cpu_bf16_is_faster.cache_clear()
    monkeypatch.setattr(measure, "machine", lambda: {"flags": ["avx2", "avx512f"]})
    monkeypatch.setattr(measure.torch, "mm", lambda *_: pytest.fail("timed a product without bf16 instructions"))
    assert measure.cpu_bf16_is_faster() is False
    measure.cpu_bf16_is_faster.cache_clear()  # the next caller measures this machine again


def test_bf16_is_taken_only_when_its_products_are_measured_faster(monkeypatch):
    monkeypatch.setattr(measure, "machine", lambda: {"flags": ["avx512_bf16"]})
    slow = {torch.bfloat16: 3, torch.float32: 2}  # seconds a product takes, by dtype: bf16 slower here
    ticks = []

    def mm(x, y):
        ticks.append(slow[x.dtype])

    monkeypatch.setattr(measure.torch, "mm", mm)
    monkeypatch.setattr(measure.time, "perf_counter", lambda: sum(ticks))  # a clock that moves only in products
    measure.cpu_bf16_is_faster.cache_clear()
    assert measure.cpu_bf16_is_faster() is False
    slow[torch.bfloat16] = 1  # now twice as fast as fp32
    measure.cpu_bf16_is_faster.cache_clear()
    assert measure.cpu_bf16_is_faster() is True
    measure.cpu_bf16_is_faster.cache_clear()
