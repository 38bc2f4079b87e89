"""The training loop: it learns, its parameter groups and samplers are what they claim, it stops on NaN,
it is deterministic, and it resumes where it stopped."""

import dataclasses
from collections import Counter

import numpy as np
import pytest
import torch

import mtl
from mtl import checkpoint, measure, multitask, training
from mtl.sampling import BatchStream, task_schedule

SENTIMENT = mtl.Task("sentiment", "sentence", ["negative", "positive"])
NER = mtl.Task("ner", "token", ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"])
TINY = {
    "sentiment": (
        [
            "a wonderful , moving film",
            "dull and lifeless",
            "brilliant acting throughout",
            "a tedious mess",
            "charming and funny",
            "clumsy , boring script",
            "a delightful surprise",
            "dreadful from start to end",
        ],
        ["positive", "negative"] * 4,
    ),
    "ner": (
        [
            ["Angela", "Merkel", "visited", "Paris"],
            ["Reuters", "reported", "from", "Tokyo"],
            ["John", "Smith", "joined", "Siemens"],
            ["the", "World", "Bank", "met", "in", "Lima"],
        ],
        [
            ["B-PER", "I-PER", "O", "B-LOC"],
            ["B-ORG", "O", "O", "B-LOC"],
            ["B-PER", "I-PER", "O", "B-ORG"],
            ["O", "B-ORG", "I-ORG", "O", "O", "B-LOC"],
        ],
    ),
}


def fresh_model():
    torch.manual_seed(0)
    return mtl.MultiTaskModel(mtl.SentenceEncoder(max_seq_length=32, device="cpu"), [SENTIMENT, NER])


def config(**overrides):
    settings = dict(steps=12, batch_size=4, head_lr=1e-2, encoder_lr=1e-4, eval_every=4, warmup_ratio=0.0, seed=0)
    return mtl.TrainConfig(**{**settings, **overrides})


def test_loop_fits_a_tiny_set():
    model = fresh_model()
    history = mtl.train(model, TINY, config(steps=60, sampling="round_robin"))
    losses = {t: [loss for _, task, loss in history["loss"] if task == t] for t in TINY}
    for task, values in losses.items():
        assert sum(values[-5:]) / 5 < sum(values[:5]) / 5 / 5, task
    assert mtl.evaluate(model, "sentiment", *TINY["sentiment"])["accuracy"] == 100.0
    assert mtl.evaluate(model, "ner", *TINY["ner"])["f1"] == 100.0


def test_parameter_groups_cover_each_trainable_parameter_once_with_rates_falling_with_depth():
    model = fresh_model()
    groups = mtl.parameter_groups(model, config(freeze=(), layer_decay=0.8))
    grouped = [id(p) for g in groups for p in g["params"]]
    assert len(grouped) == len(set(grouped)) == sum(1 for p in model.parameters() if p.requires_grad)
    assert {g["name"] for g in groups} == {"embeddings", "head.sentiment", "head.ner", *mtl.layers(0, 5)}
    rate = {g["name"]: g["lr"] for g in groups}
    assert rate["head.sentiment"] == rate["head.ner"] == 1e-2
    assert rate["layer.5"] == pytest.approx(1e-4)
    chain = [rate[f"layer.{i}"] for i in range(5, -1, -1)] + [rate["embeddings"]]
    assert all(lower == pytest.approx(upper * 0.8) for upper, lower in zip(chain, chain[1:]))
    for group in groups:
        for param in group["params"]:
            name = next(n for n, p in model.named_parameters() if p is param)
            assert group["weight_decay"] == (0.0 if name.endswith(".bias") or "LayerNorm" in name else 0.01), name


def test_uniform_rate_when_decay_is_one():
    groups = mtl.parameter_groups(fresh_model(), config(freeze=(), layer_decay=1.0))
    assert {g["lr"] for g in groups if not g["name"].startswith("head.")} == {1e-4}


def test_freezing_by_name_leaves_parameters_out_and_unchanged():
    model = fresh_model()
    frozen = ("embeddings", *mtl.layers(0, 2), "head.sentiment")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.freeze(*frozen)
    groups = mtl.parameter_groups(model, config(freeze=frozen))
    assert not {g["name"] for g in groups} & set(frozen)
    model.unfreeze()
    mtl.train(model, TINY, config(steps=6, freeze=frozen, sampling="round_robin"))
    for name, param in model.named_parameters():
        changed = not torch.equal(before[name], param)
        assert changed == param.requires_grad == (multitask.parameter_group_name(name) not in (*frozen, "pooler")), (
            name
        )
        if multitask.parameter_group_name(name) in frozen:
            assert not param.requires_grad and not changed, name


@pytest.mark.parametrize("sampling, temperature", [("proportional", 1.0), ("temperature", 2.0), ("temperature", 5.0)])
def test_sampler_frequencies_match_their_definition(sampling, temperature):
    sizes = {"a": 5000, "b": 1000, "c": 200}
    schedule = task_schedule(sizes, mtl.TrainConfig(steps=20000, sampling=sampling, temperature=temperature, seed=1))
    weights = {t: n ** (1 / temperature) for t, n in sizes.items()}
    counts = Counter(schedule)
    for task, weight in weights.items():
        assert counts[task] / 20000 == pytest.approx(weight / sum(weights.values()), abs=0.01), task


def test_round_robin_cycles_through_the_tasks():
    assert task_schedule({"a": 5, "b": 500, "c": 50}, mtl.TrainConfig(steps=7, sampling="round_robin")) == list(
        "abcabca"
    )


def test_unknown_sampling_is_rejected():
    with pytest.raises(ValueError, match="sampling must be"):
        mtl.task_probabilities({"a": 1}, "uniform")
    with pytest.raises(ValueError, match="sampling must be"):
        mtl.TrainConfig(sampling="uniform")


def test_a_misspelt_freeze_group_is_rejected_naming_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown parameter group\(s\) \['embedding'\].*'embeddings', 'layer.<i>'"):
        mtl.TrainConfig(freeze=("embedding",))
    model = fresh_model()
    for group in ("layer.6", "head.topic"):  # well formed, but this model has no such group
        with pytest.raises(ValueError, match=rf"unknown parameter group\(s\) \['{group}'\].*'layer.5'"):
            model.freeze(group)


def test_loss_weights_for_an_unknown_task_are_rejected():
    with pytest.raises(ValueError, match=r"loss_weights names unknown task\(s\) \['sentimnet'\]"):
        mtl.train(fresh_model(), TINY, config(loss_weights={"sentimnet": 2.0}))


def test_building_parameter_groups_changes_nothing():
    model = fresh_model().freeze("encoder")
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    groups = mtl.parameter_groups(model, config(freeze=()))
    assert {n: p.requires_grad for n, p in model.named_parameters()} == before
    assert {g["name"] for g in groups} == {"head.sentiment", "head.ner"}


@pytest.mark.parametrize("grouped", [True, False])
def test_batch_stream_visits_every_example_once_per_epoch(grouped):
    inputs = [" ".join(["w"] * n) for n in range(1, 24)]
    stream = BatchStream(inputs, list(range(23)), 5, seed=0, lengths=list(range(1, 24)) if grouped else None)
    seen = [label for _ in range(5) for label in stream.next()[1]]
    assert sorted(seen) == list(range(23))
    assert stream.epoch == 0 and stream.position == 5


def test_grouped_batches_pad_little_and_stay_a_random_draw():
    lengths = np.random.default_rng(0).integers(5, 60, size=3200).tolist()

    def padded_share(stream):
        batches = [[lengths[i] for i in stream.next()[1]] for _ in range(100)]
        return 1 - sum(map(sum, batches)) / sum(len(b) * max(b) for b in batches)

    rows = list(range(3200))
    grouped = BatchStream(rows, rows, 32, seed=0, lengths=lengths)
    assert padded_share(grouped) < 0.05 < 0.3 < padded_share(BatchStream(rows, rows, 32, seed=0))
    epochs = [BatchStream(rows, rows, 32, seed=0, lengths=lengths, epoch=e).batches[0] for e in range(3)]
    assert epochs[0] != epochs[1] != epochs[2]  # reshuffled every epoch


def test_same_seed_same_metrics(tmp_path):
    first = mtl.train(fresh_model(), TINY, config(), dev_data=TINY)
    second = mtl.train(fresh_model(), TINY, config(), dev_data=TINY)
    assert [loss for _, _, loss in first["loss"]] == [loss for _, _, loss in second["loss"]]
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in first["eval"]] == [
        {k: v for k, v in e.items() if k != "seconds"} for e in second["eval"]
    ]


def interrupt_at(model, call: int, error):
    """Make the encoder's n-th forward call fail with `error`."""
    calls = []

    def hook(module, args, output):
        calls.append(1)
        if len(calls) == call:
            raise error

    return model.encoder.backbone.register_forward_hook(hook)


@pytest.mark.parametrize("precision", ["no", "fp16"])
def test_nan_loss_stops_with_step_and_task_and_keeps_the_last_good_checkpoint(tmp_path, precision):
    model = fresh_model()
    poison = model.heads["ner"].register_forward_hook(lambda m, a, out: out * float("nan") if model.training else out)
    with pytest.raises(mtl.TrainingDiverged, match=r"loss is nan at step 2, task 'ner'"):
        mtl.train(
            model,
            TINY,
            config(sampling="round_robin", eval_every=1, checkpoint_dir=str(tmp_path), mixed_precision=precision),
            dev_data=TINY,
        )
    poison.remove()
    saved = mtl.MultiTaskModel.load(tmp_path / "best")
    assert len(saved.predict_words([["Angela", "Merkel", "visited", "Paris"]])[0]["ner"]["tags"]) == 4
    assert not any(torch.isnan(p).any() for p in saved.parameters())


def test_exploding_learning_rate_stops_with_step_and_task_and_keeps_the_last_good_checkpoint(tmp_path):
    model = fresh_model()
    history = mtl.train(model, TINY, config(steps=4, checkpoint_dir=str(tmp_path)), dev_data=TINY)
    assert history["best_step"] is not None
    with pytest.raises(mtl.TrainingDiverged, match=r"at step 1, task '(sentiment|ner)'; the last good checkpoint is"):
        mtl.train(model, TINY, config(head_lr=1e38, encoder_lr=1e38, checkpoint_dir=str(tmp_path)), dev_data=TINY)
    saved = mtl.MultiTaskModel.load(tmp_path / "best")
    assert all(torch.isfinite(p).all() for p in saved.parameters())
    assert saved.predict(["a wonderful , moving film"])[0]["sentiment"]["label"] in SENTIMENT.labels


@pytest.mark.parametrize("precision, killed_between_renames", [("no", False), ("fp16", False), ("no", True)])
def test_resume_continues_where_it_stopped(tmp_path, precision, killed_between_renames):
    settings = config(mixed_precision=precision)  # fp16: the loss scale is saved and restored too
    checkpointed = config(mixed_precision=precision, checkpoint_dir=str(tmp_path))
    straight = fresh_model()
    expected = mtl.train(straight, TINY, settings, dev_data=TINY)

    interrupted = fresh_model()
    hook = interrupt_at(
        interrupted, call=7, error=KeyboardInterrupt()
    )  # dies during step 7; last/ was saved at step 4
    with pytest.raises(KeyboardInterrupt):
        mtl.train(interrupted, TINY, checkpointed, dev_data=TINY)
    hook.remove()
    if killed_between_renames:  # save() had moved last/ aside and not yet put the new one in place
        (tmp_path / "last").rename(tmp_path / "last.old")
    resumed = fresh_model()
    history = mtl.train(resumed, TINY, checkpointed, dev_data=TINY, resume=True)

    assert [loss for _, _, loss in history["loss"]] == pytest.approx(
        [loss for _, _, loss in expected["loss"]], abs=1e-6
    )
    assert history["task_steps"] == expected["task_steps"]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)


def test_a_resumed_run_goes_on_in_the_precision_it_started_in(tmp_path, monkeypatch):
    """ "auto" is timed at each launch; a resume on a machine now too busy to time bf16 faster still trains in bf16,
    and ends at the uninterrupted run's weights. Asking for another precision explicitly is refused by name."""
    checkpointed = config(mixed_precision="auto", checkpoint_dir=str(tmp_path))
    monkeypatch.setattr(training, "cpu_bf16_is_faster", lambda: True)
    straight = fresh_model()
    expected = mtl.train(straight, TINY, config(mixed_precision="auto"), dev_data=TINY)
    assert expected["mixed_precision"] == "bfloat16"
    interrupted = fresh_model()
    hook = interrupt_at(interrupted, call=7, error=KeyboardInterrupt())  # last/ was saved at step 4
    with pytest.raises(KeyboardInterrupt):
        mtl.train(interrupted, TINY, checkpointed, dev_data=TINY)
    hook.remove()

    monkeypatch.setattr(training, "cpu_bf16_is_faster", lambda: False)  # the relaunch times fp32 as faster
    with pytest.raises(ValueError, match=r"was trained in bfloat16, and a resumed run goes on in the precision"):
        mtl.train(fresh_model(), TINY, config(mixed_precision="no", checkpoint_dir=str(tmp_path)), TINY, resume=True)
    resumed = fresh_model()
    history = mtl.train(resumed, TINY, checkpointed, dev_data=TINY, resume=True)
    assert history["mixed_precision"] == "bfloat16"
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)


def test_processes_that_restored_different_runs_stop_before_training(tmp_path, monkeypatch):
    """Resumed processes compare what they restored before any step, and stop naming each one's account if they differ
    (here process 1 pretends to have read a later checkpoint), rather than meeting at mismatched all-reduces."""
    settings = config(steps=4, eval_every=2, checkpoint_dir=str(tmp_path))
    mtl.train(fresh_model(), TINY, settings, dev_data=TINY)
    monkeypatch.setattr(checkpoint, "gather", lambda record: [record, {**record, "step": record["step"] + 2}])
    with pytest.raises(
        RuntimeError, match=r"different runs(.|\n)*process 0: \{'step': 4,(.|\n)*process 1: \{'step': 6,"
    ):
        mtl.train(fresh_model(), TINY, settings, dev_data=TINY, resume=True)


def test_resuming_with_nothing_saved_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        mtl.train(fresh_model(), TINY, config(checkpoint_dir=str(tmp_path)), dev_data=TINY, resume=True)


@pytest.mark.parametrize("bf16_faster", [True, False])
def test_mixed_precision_auto_is_bf16_on_a_cpu_whose_bf16_products_are_faster_else_fp32(monkeypatch, bf16_faster):
    cpu = torch.device("cpu")
    monkeypatch.setattr(training, "cpu_bf16_is_faster", lambda: bf16_faster)
    assert training.autocast_dtype("auto", cpu) is (torch.bfloat16 if bf16_faster else None)
    assert training.autocast_dtype("no", cpu) is None
    assert training.autocast_dtype("bf16", cpu) is torch.bfloat16
    assert training.autocast_dtype("fp16", cpu) is torch.float16
    with pytest.raises(ValueError, match=r"mixed_precision must be one of \('auto', 'no', 'bf16', 'fp16'\)"):
        config(mixed_precision="fp8")


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_mixed_precision_runs_the_forward_pass_in_half_precision_and_learns_what_fp32_learns(precision, dtype):
    start = {k: v.clone() for k, v in fresh_model().state_dict().items()}
    reference = fresh_model()
    mtl.train(reference, TINY, config(mixed_precision="no"))
    model = fresh_model()
    seen = []
    first_linear = next(m for m in model.encoder.backbone.modules() if isinstance(m, torch.nn.Linear))
    first_linear.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    history = mtl.train(model, TINY, config(mixed_precision=precision))
    assert history["mixed_precision"] == str(dtype).removeprefix("torch.")
    assert set(seen) == {dtype}  # the encoder's products ran under autocast
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights AdamW updates stay fp32
    update = {
        name: torch.cat([(m.state_dict()[k] - start[k]).flatten() for k in start if start[k].is_floating_point()])
        for name, m in (("fp32", reference), (precision, model))
    }
    assert not torch.equal(update[precision], update["fp32"])  # half precision changed the arithmetic...
    assert torch.nn.functional.cosine_similarity(update[precision], update["fp32"], dim=0) > 0.9  # ...not the lesson


def test_a_parameter_in_no_group_is_an_error_naming_it():
    model = fresh_model()
    model.encoder.backbone.adapter = torch.nn.Linear(2, 2)  # a weight parameter_group_name has no group for
    with pytest.raises(ValueError, match=r"'encoder.backbone.adapter.weight' belongs to no parameter group"):
        mtl.parameter_groups(model, config())


def test_weight_decay_applies_to_matrices_only():
    for group in mtl.parameter_groups(fresh_model(), config(weight_decay=0.05)):
        assert group["weight_decay"] == (0.05 if group["params"][0].dim() >= 2 else 0.0)
        assert len({p.dim() >= 2 for p in group["params"]}) == 1


def test_checkpoints_are_chosen_by_the_registry_metric(monkeypatch):
    task = mtl.Task("sentiment", "sentence", ["negative", "positive"])
    assert checkpoint.selection_metric(task) == "accuracy"
    monkeypatch.setitem(mtl.REGISTRY, "sentiment", dataclasses.replace(mtl.REGISTRY["sentiment"], metric="macro_f1"))
    assert checkpoint.selection_metric(task) == "macro_f1"
    assert checkpoint.selection_metric(mtl.Task("unregistered", "token", ["O"])) == "f1"


def test_drift_measures_how_far_each_group_moved():
    model = fresh_model()
    before = measure.encoder_snapshot(model)
    assert set(measure.drift(model, before).values()) == {0.0}
    with torch.no_grad():
        for name, param in model.encoder.named_parameters():
            if multitask.parameter_group_name("encoder." + name) == "layer.0":
                param.mul_(1.1)  # every weight of layer 0 moves by 10% of itself
    moved = measure.drift(model, before)
    assert moved["layer.0"] == pytest.approx(0.1, rel=1e-4)
    assert all(value == 0.0 for group, value in moved.items() if group != "layer.0")


def test_each_head_can_have_its_own_rate():
    model = fresh_model()
    rates = {g["name"]: g["lr"] for g in mtl.parameter_groups(model, config(head_lrs={"ner": 3e-3}))}
    assert rates["head.ner"] == 3e-3 and rates["head.sentiment"] == 1e-2  # the other head keeps head_lr
    with pytest.raises(ValueError, match="head_lrs names unknown task"):
        mtl.train(fresh_model(), TINY, config(head_lrs={"topic": 1e-3}))


def test_sampling_all_trains_every_task_at_every_step():
    history = mtl.train(fresh_model(), TINY, config(steps=5, sampling="all"))
    assert history["task_steps"] == {"sentiment": 5, "ner": 5}
    assert [step for step, _, _ in history["loss"]] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert mtl.task_probabilities({"a": 5, "b": 500}, "all") == {"a": 1.0, "b": 1.0}


def test_a_teacher_moves_the_target_from_its_predictions_to_the_gold_labels():
    model, teacher = fresh_model(), fresh_model()
    teacher.eval()
    model.eval()  # no dropout, so the two passes below see the same logits
    inputs, labels = TINY["sentiment"]
    gold, _ = training.batch_losses(model, "sentiment", inputs, labels)
    assert training.batch_losses(model, "sentiment", inputs, labels, teacher, 1.0)[0].item() == pytest.approx(
        gold.item()
    )
    with torch.no_grad():
        logits = model(mtl.collate(model, "sentiment", inputs, labels)[0], tasks=["sentiment"])["sentiment"]
    p = logits.softmax(-1)
    own_entropy = -(p * p.log()).sum(-1).mean().item()  # the teacher is an identical copy: its target is p itself
    assert training.batch_losses(model, "sentiment", inputs, labels, teacher, 0.0)[0].item() == pytest.approx(
        own_entropy, rel=1e-5
    )
    half = training.batch_losses(model, "sentiment", inputs, labels, teacher, 0.5)[0].item()
    assert half == pytest.approx((gold.item() + own_entropy) / 2, rel=1e-5)


def test_distillation_trains_and_refuses_a_teacher_that_cannot_teach(bpe_encoder):
    teacher = fresh_model()
    history = mtl.train(fresh_model(), TINY, config(steps=4), teachers={"sentiment": teacher})
    assert history["task_steps"]["sentiment"] + history["task_steps"]["ner"] == 4
    assert not any(p.requires_grad for p in teacher.parameters())  # the teacher is not trained
    other_labels = mtl.MultiTaskModel(
        mtl.SentenceEncoder(max_seq_length=32, device="cpu"), [mtl.Task("sentiment", "sentence", ["bad", "good"])]
    )
    with pytest.raises(ValueError, match="must have that task with the labels"):
        mtl.train(fresh_model(), TINY, config(steps=2), teachers={"sentiment": other_labels})
    other_tokens = mtl.MultiTaskModel(bpe_encoder, [SENTIMENT])
    with pytest.raises(ValueError, match="tokenises differently"):
        mtl.train(fresh_model(), TINY, config(steps=2), teachers={"sentiment": other_tokens})
    with pytest.raises(ValueError, match="teachers names unknown task"):
        mtl.train(fresh_model(), TINY, config(steps=2), teachers={"topic": teacher})
