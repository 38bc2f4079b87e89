"""Training across 2 CPU processes (torchrun, gloo) gives the weights of one process with the same global batch, seed
and steps; a 2-process run killed, as a whole job or at any write and rename of a checkpoint save or during a resume,
resumes to the weights of an uninterrupted one; and a worker does not outlive its launcher."""

import inspect
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import mtl
from mtl.checkpoint import resume_run
from mtl.distributed import share
from mtl.multitask import whole_checkpoint

ROOT = Path(__file__).resolve().parent.parent
# question_type, not sentiment: its training file is read in milliseconds where SST-2's carve costs each process
# seconds, and these tests start about 20 of them
SMALL = ["--tasks", "question_type", "ner", "--train-rows", "24", "--dev-rows", "8", "--batch-size", "5"]
SMALL += [
    "--max-seq-length",
    "32",
    "--warmup-ratio",
    "0",
    "--head-lr",
    "1e-2",
    "--encoder-lr",
    "1e-4",
    "--test-rows",
    "0",
]


def command(processes: int, *args: str) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    return [*(launcher if processes > 1 else [sys.executable]), "scripts/train.py", *SMALL, *args]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}


def launch(processes: int, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(processes, *args), cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=600
    )


def train(processes: int, *args: str) -> None:
    result = launch(processes, *args)
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
    # batch 5 splits into 3 + 2 rows; dropout off, so that the runs differ only in how each batch's sums are split;
    # fp32, since bf16 products round differently for a 3-row and a 5-row batch, far above this tolerance
    args = ("--steps", "8", "--eval-every", "100", "--dropout", "0", "--mixed-precision", "no")
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


def saved_step(checkpoints: Path) -> int | None:
    """The step of the checkpoint a resume would read (last/, or last.old/ after a save killed between its renames)."""
    state = whole_checkpoint(checkpoints / "last") / "trainer_state.pt"
    return torch.load(state, weights_only=True)["step"] if state.exists() else None


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (torchrun's workers), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "(command name)": state, ppid, ...
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def gone(pids: list[int], within: float = 60.0) -> bool:
    """Whether every one of `pids` has ended within `within` seconds (a bound on waiting, not a timing claim)."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(alive(pid) for pid in pids)


# The killed runs: dropout on (each process's RNG is restored too), a checkpoint every 2 steps. 8 steps: a test process
# slowed by other work still kills a run after its first checkpoint and before it ends. fp32 named, not "auto": "auto"
# is timed at each launch, and on a busy machine the uninterrupted run and a killed one can time it differently (a
# resumed run keeps its own first launch's precision: tests/test_training.py)
KILLED = ("--steps", "8", "--eval-every", "2", "--mixed-precision", "no")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The final weights of the killed runs' configuration trained without interruption."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    train(2, *KILLED, "--checkpoint-dir", str(folder / "checkpoints"), "--output", str(folder / "final"))
    return folder / "final"


def test_a_killed_two_process_run_resumes_to_the_same_weights(tmp_path, uninterrupted):
    # the whole job is killed (launcher and workers, SIGKILL) once last/ holds a checkpoint, wherever it then is
    run = subprocess.Popen(
        command(2, *KILLED, "--checkpoint-dir", str(tmp_path / "killed")),
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while saved_step(tmp_path / "killed") is None and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    ended = run.poll()
    workers = children(run.pid)
    kill(workers + [run.pid])  # the workers first: the launcher cannot react to their end
    run.wait()
    assert gone(workers)
    stopped_at = saved_step(tmp_path / "killed")
    assert stopped_at is not None, "the run ended first" if ended is not None else "no checkpoint within 600 s"
    assert ended is None and len(workers) == 2 and stopped_at < 8, "the run finished before it was killed"

    train(2, *KILLED, "--checkpoint-dir", str(tmp_path / "killed"), "--resume", "--output", str(tmp_path / "resumed"))
    assert max_difference(uninterrupted, tmp_path / "resumed") <= 1e-5


def test_workers_end_with_their_launcher(tmp_path):
    """torchrun starts its workers in sessions of their own, so killing the launcher's process group does not reach
    them: they must end by themselves (mtl.distributed.die_with_launcher), or they go on writing checkpoints."""
    worker = tmp_path / "worker.py"
    worker.write_text(
        "import os, sys, time\n"
        "from mtl.distributed import start_from_environment\n"
        "start_from_environment()\n"
        "open(sys.argv[1] + os.environ['RANK'], 'w').write(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    run = subprocess.Popen(
        [*launcher, str(worker), str(tmp_path / "pid")], cwd=ROOT, env=ENV, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    files = [tmp_path / f"pid{rank}" for rank in range(2)]
    try:
        deadline = time.monotonic() + 300
        while not all(f.exists() and f.read_text() for f in files) and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = [int(f.read_text()) for f in files]
        os.killpg(run.pid, signal.SIGKILL)  # the launcher's group: the launcher alone
        run.wait()
        assert gone(workers)
    finally:
        kill([int(f.read_text()) for f in files if f.exists() and f.read_text()])


# Each launch of the kill-anywhere chain dies at one kill point (MTL_KILL_AT, mtl.runtime.kill_point), and the next
# goes on from whatever the killed one left: from scratch while no last/ is whole, else resumed. The first launches
# die in the saves at step 2, the rest resume from step 2 and die in the saves at step 4; the last runs to the end.
KILLS = [
    "best: put in place",  # a fresh run dies once best/ is saved, before last/ exists: nothing to resume
    "best: moved aside",  # the next save of best/ dies between its renames: best.old/ alone holds best
    "last: trainer_state.pt written",  # dies writing last.tmp/
    "last: old removed",  # dies after the save at step 2 completed
    "resume: checkpoint chosen",
    "last: moved aside",  # the save at step 4 dies between its renames: last.old/ alone holds step 2
    "resume: checkpoint loaded",  # resuming from last.old/
    "last: encoder/ written",
    "last: heads.safetensors written",
    "last: config.json written",
    "last: put in place",  # last/ holds step 4 and a stale last.old/ step 2: the next resume must read last/
]


def test_a_run_killed_at_every_write_and_rename_of_a_save_and_during_resume_loses_nothing(tmp_path, uninterrupted):
    saves = inspect.getsource(mtl.MultiTaskModel.save).replace("{name}", "trainer_state.pt")
    points = set(re.findall(r'kill_point\(f"\{path\.name\}: (.+?)"\)', saves))
    resumes = set(re.findall(r'kill_point\("(.+?)"\)', inspect.getsource(resume_run)))
    assert len(points) == 7 and len(resumes) == 2
    assert {k.split(": ", 1)[1] for k in KILLS if not k.startswith("resume")} == points  # every window of save
    assert {k for k in KILLS if k.startswith("resume")} == resumes

    checkpoints, best_saved, last_step = tmp_path / "killed", False, 0
    for point in KILLS:
        resume = ["--resume"] if saved_step(checkpoints) is not None else []
        result = launch(2, *KILLED, "--checkpoint-dir", str(checkpoints), *resume, env={**ENV, "MTL_KILL_AT": point})
        assert result.returncode != 0 and f"SIGKILL at {point!r}" in result.stderr, (point, result.stderr[-3000:])
        step = saved_step(checkpoints) or 0
        assert step >= last_step, f"killed at {point!r}: the checkpoint went back from step {last_step} to {step}"
        last_step = step
        best_saved = best_saved or whole_checkpoint(checkpoints / "best").exists()
        if best_saved:  # whole, wherever the kill left it (MultiTaskModel.load reads best.old/ if need be)
            mtl.MultiTaskModel.load(checkpoints / "best", device="cpu")
    assert last_step == 4
    train(2, *KILLED, "--checkpoint-dir", str(checkpoints), "--resume", "--output", str(tmp_path / "resumed"))
    assert max_difference(uninterrupted, tmp_path / "resumed") <= 1e-5
