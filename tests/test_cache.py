"""The run cache: a run trained before is replayed (its dev figures, per-example counts, history and kept weights)
without training, and any change to what decides its figures (steps, rows, the model's start, seed, dev curve,
decoding, the package's code) trains it afresh; an entry is written whole."""

import dataclasses
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import mtl
from mtl import experiments
from mtl.cache import RunCache, code_of


def test_a_cached_run_replays_its_figures_and_weights_and_a_change_to_what_decides_them_trains_afresh(
    tmp_path, monkeypatch, sentiment_runs
):
    data, make_model = sentiment_runs
    trained = []
    real_train = experiments.train
    monkeypatch.setattr(experiments, "train", lambda *a, **k: trained.append(a[2].steps) or real_train(*a, **k))
    config = mtl.TrainConfig(steps=2, batch_size=4, eval_every=1, head_lr=1e-2, warmup_ratio=0.0)
    first = experiments.Experiments(dev_data=data, cache=RunCache(tmp_path))
    record = first.run("a", make_model, data, config, seeds=(0,), curve=True, keep=True)
    weights = {k: v.clone() for k, v in first.models["a"][0].state_dict().items()}
    assert trained == [2] and first.replayed == []

    again = experiments.Experiments(dev_data=data, cache=RunCache(tmp_path))
    assert again.run("a", make_model, data, config, seeds=(0,), curve=True, keep=True) == record
    assert trained == [2]  # replayed: nothing trained
    assert np.array_equal(again.counts["a"]["sentiment"], first.counts["a"]["sentiment"])
    assert all(torch.equal(v, weights[k]) for k, v in again.models["a"][0].state_dict().items())
    assert again.histories["a"][0]["seconds"] == first.histories["a"][0]["seconds"]  # the original run's time
    assert [r["arm"] for r in again.replayed] == ["a"] and "cores" in again.replayed[0]["trained"]["machine"]

    texts, labels = data["sentiment"]
    flipped = {"sentiment": (texts, labels[1:] + labels[:1])}  # every label the other class
    changes = {
        "steps": lambda exp: exp.run("a", make_model, data, dataclasses.replace(config, steps=3), seeds=(0,)),
        "rows": lambda exp: exp.run("a", make_model, flipped, config, seeds=(0,), curve=True),
        "heads' start": lambda exp: exp.run("a", lambda s: make_model(s + 7), data, config, seeds=(0,), curve=True),
        "seed": lambda exp: exp.run("a", make_model, data, config, seeds=(1,), curve=True),
        "no curve": lambda exp: exp.run("a", make_model, data, config, seeds=(0,)),
        "decoding": lambda exp: (setattr(exp, "decoding", "argmax"), exp.run("a", make_model, data, config,
                                                                          seeds=(0,), curve=True)),
    }  # fmt: skip
    for what, change in changes.items():
        before = len(trained)
        change(experiments.Experiments(dev_data=data, cache=RunCache(tmp_path)))
        assert len(trained) == before + 1, f"a change of {what} replayed a run trained without it"
    monkeypatch.setattr(mtl.cache, "package_digest", lambda: "another version of mtl/")
    experiments.Experiments(dev_data=data, cache=RunCache(tmp_path)).run("a", make_model, data, config, seeds=(0,))
    assert len(trained) == len(changes) + 2  # the code changed: trained again
    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)  # another machine (its thread count, here)
    experiments.Experiments(dev_data=data, cache=RunCache(tmp_path)).run("a", make_model, data, config, seeds=(0,))
    assert len(trained) == len(changes) + 3
    assert not list(tmp_path.glob("*.tmp"))  # every entry was renamed into place whole


def test_a_run_cached_without_its_weights_trains_again_when_its_model_is_kept(tmp_path, sentiment_runs):
    data, make_model = sentiment_runs
    config = mtl.TrainConfig(steps=1, batch_size=4, warmup_ratio=0.0)
    cache = RunCache(tmp_path)
    experiments.Experiments(dev_data=data, cache=cache).run("a", make_model, data, config, seeds=(0,))
    (entry,) = tmp_path.iterdir()
    assert not (entry / "model.pt").exists()  # not kept: the weights are not written
    kept = experiments.Experiments(dev_data=data, cache=cache)
    kept.run("a", make_model, data, config, seeds=(0,), keep=True)
    assert kept.replayed == [] and (entry / "model.pt").exists()  # trained, and now written with its weights


def test_the_code_digest_ignores_comments_and_docstrings_and_nothing_else():
    source = 'def f(x):\n    """Double."""\n    return 2 * x  # why\n'
    assert code_of(source) == code_of("def f(x):\n    return 2 * x\n")
    assert code_of(source) != code_of("def f(x):\n    return 3 * x\n")
    assert code_of('def f():\n    """Only a docstring."""\n') == code_of("def f():\n    pass\n")
    assert code_of('x = "a string statement"\n') != code_of("x = 1\n")  # a string value is code


def test_a_remembered_measurement_is_computed_once_per_key_code_and_machine(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "notebooks"))
    import helpers

    monkeypatch.setattr(helpers, "PROFILE", "full")
    monkeypatch.setenv("RUN_CACHE", str(tmp_path))
    calls = []

    def measure():
        calls.append(1)
        return {"step": 0.3 * len(calls)}

    first = helpers.remembered("step time", ["MiniLM", 60], measure)
    assert helpers.remembered("step time", ["MiniLM", 60], measure) == first == {"step": 0.3}  # replayed
    assert helpers.remembered("step time", ["mpnet", 60], measure) == {"step": 0.6}  # another key: measured
    monkeypatch.setattr(mtl.cache, "package_digest", lambda: "another version of mtl/")
    assert helpers.remembered("step time", ["MiniLM", 60], measure) == {"step": pytest.approx(0.9)}  # other code
    assert len(calls) == 3 and len(list((tmp_path / "values").glob("*.json"))) == 3
    monkeypatch.setenv("RUN_CACHE", "off")
    helpers.remembered("step time", ["MiniLM", 60], measure)
    assert len(calls) == 4  # no cache: measured afresh


def test_the_key_covers_the_code_of_every_top_level_module_and_leaves_out_the_words_subpackage(tmp_path):
    # A copy of the package whose files can be edited; its cache module hashes the copy (package_digest reads the
    # folder it is in).
    copy = tmp_path / "mtl"
    shutil.copytree(Path(mtl.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))

    def digest():
        spec = importlib.util.spec_from_file_location("cache_copy", copy / "cache.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.package_digest()

    before = digest()
    words = copy / "words" / "training_loop.py"
    words.write_text(words.read_text() + "\nREWORDED = 'a sentence the report writes'\n")
    assert digest() == before  # words decide no run's figure: rewording a report replays its runs
    figures = copy / "figures.py"
    figures.write_text(figures.read_text() + "\nCHANGED = 1\n")
    assert digest() != before  # code that can change a figure trains afresh
