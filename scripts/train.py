"""Train the multi-task model outside the notebook: the registered tasks, notebook 04's loop, one TrainConfig.

One process (CPU, or one GPU when present):
    python scripts/train.py --steps 2200 --checkpoint-dir models/joint
Several processes, each taking its share of every batch (gloo on CPU, nccl on GPUs):
    torchrun --nproc_per_node 2 scripts/train.py --steps 2200 --checkpoint-dir models/joint
(`accelerate launch --num_processes 2` sets up the same environment; accelerate is not a dependency and is untested
here.) On CUDA the forward pass runs in bf16, or fp16 with loss scaling (`--mixed-precision`, default "auto").
Every TrainConfig field is an option (--batch-size, --encoder-lr, --freeze embeddings layer.0, ...). The best
checkpoint by mean dev score is written to <checkpoint-dir>/best, and its test metrics are printed.
"""

import argparse
import dataclasses
import json
from pathlib import Path

import torch

import mtl
from mtl.distributed import device_for_this_process, start_from_environment, world


def options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(mtl.REGISTRY), help="registered task names (default: all)")
    parser.add_argument("--train-rows", type=int, help="first rows of each task's training split (default: all)")
    parser.add_argument(
        "--dev-rows", type=int, default=500, help="first rows of each dev split scored during training"
    )
    parser.add_argument(
        "--test-rows", type=int, help="first rows of each test split scored at the end (default: all; 0: none)"
    )
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--model", help="pretrained encoder: a hub id or a local path (default: the bundled MiniLM)")
    parser.add_argument(
        "--dropout", type=float, help="set every dropout rate, encoder and heads (default: the model's)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from <checkpoint-dir>/last")
    parser.add_argument("--output", help="also save the final weights (not the best) to this folder")
    parser.add_argument(
        "--history", help="write the run's steps per task, examples, seconds and dev evaluations to this JSON file"
    )
    for field in dataclasses.fields(mtl.TrainConfig):
        name = "--" + field.name.replace("_", "-")
        if field.name in ("loss_weights", "head_lrs"):
            parser.add_argument(name, type=json.loads, default={}, help="JSON, e.g. '{\"ner\": 2.0}'")
        elif field.name == "freeze":
            parser.add_argument(name, nargs="*", default=list(mtl.TrainConfig.freeze), help="group names")
        else:
            kind = {int: int, float: float, str: str}.get(type(field.default), str)
            parser.add_argument(name, type=kind, default=field.default)
    return parser


def main(argv=None) -> dict:
    args = options().parse_args(argv)
    start_from_environment()
    rank, n_procs = world()
    fields = {f.name for f in dataclasses.fields(mtl.TrainConfig)}
    config = mtl.TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    tasks = [t for t in mtl.declare_tasks() if t.name in args.tasks]
    unknown = sorted(set(args.tasks) - {t.name for t in tasks})
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}; registered: {list(mtl.REGISTRY)}")
    train_data = {t.name: _first(mtl.load_split(t.name, "train"), args.train_rows) for t in tasks}
    dev_data = {t.name: _first(mtl.load_split(t.name, "dev"), args.dev_rows) for t in tasks} if args.dev_rows else None
    encoder = mtl.SentenceEncoder(args.model, max_seq_length=args.max_seq_length, device=device_for_this_process())
    torch.manual_seed(config.seed)  # the heads start alike in every process
    model = mtl.MultiTaskModel(encoder, tasks)
    if args.dropout is not None:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = args.dropout
    history = mtl.train(model, train_data, config, dev_data=dev_data, resume=args.resume)
    if rank == 0:
        print(
            f"{config.steps} steps, {n_procs} process(es), {history['seconds']:.1f} s, steps per task {history['task_steps']}"
        )
        if args.output:
            model.save(args.output)
        if args.history:
            keep = ("task_steps", "examples", "seconds", "best_step", "best_score", "mixed_precision", "eval")
            Path(args.history).write_text(json.dumps({"processes": n_procs, **{k: history[k] for k in keep}}))
        if config.checkpoint_dir and args.test_rows != 0:
            best = mtl.MultiTaskModel.load(Path(config.checkpoint_dir) / "best", device=encoder.device)
            for task in tasks:
                metrics = mtl.evaluate(best, task.name, *_first(mtl.load_split(task.name, "test"), args.test_rows))
                print(f"{task.name}: test " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
    if n_procs > 1:
        torch.distributed.destroy_process_group()
    return history


def _first(split, n):
    inputs, labels = split
    return inputs[:n], labels[:n]


if __name__ == "__main__":
    main()
