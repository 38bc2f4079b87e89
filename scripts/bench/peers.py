"""sentence-transformers as a user installs it (`pip install "sentence-transformers[onnx,openvino]"`), run in its own
virtualenv, .venv-peers, built by `make bench` from requirements-peers.txt (a full lock of what pip resolved for that
line). Its optimum-onnx and optimum-intel releases need transformers<4.58, so they cannot live beside this project's
pins (transformers 5.23, sentence-transformers 6.2); each engine is a long-lived worker process of that environment
(peer_worker.py) that the benchmark's rounds call in turn with the project's own engines: the same sentences, batch
sizes and thread count. Without .venv-peers (make test, a plain checkout) each peer row says it was not measured."""

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

import mtl
from bench.common import FAST, FP32, ST, value_range
from mtl.report import PROJECT_ROOT

PEERS_PYTHON = PROJECT_ROOT / ".venv-peers" / "bin" / "python"
LOCK = PROJECT_ROOT / "requirements-peers.txt"
WORKER = Path(__file__).with_name("peer_worker.py")
ABSENT = "not measured: peers environment absent (make bench builds .venv-peers from requirements-peers.txt)"


def peer_version() -> str:
    """sentence-transformers' version in the peers lock: the peer rows are named by it."""
    return re.search(r"^sentence-transformers==(\S+)", LOCK.read_text(), re.M).group(1)


def peer_recipes() -> dict[str, str]:
    """{row name: the worker's recipe}."""
    st = f"sentence-transformers {peer_version()}"
    return {
        f"{st} (torch)": "torch",
        f"{st}, ONNX": "onnx",
        f"{st}, ONNX int8 (dynamic, preset for this CPU)": "onnx-int8",
        f"{st}, OpenVINO": "openvino",
        f"{st}, OpenVINO int8 (static, calibrated on STS-B train)": "openvino-int8",
    }


class Peer:
    """One engine in a worker process of the peers environment; `encode` returns the seconds the worker measured."""

    def __init__(self, python: Path, recipe: str, log):
        # -I (isolated): neither PYTHONPATH nor the worker's folder on its path, nothing of this project in there
        env = dict(os.environ)
        threads = torch.get_num_threads()
        env.update(OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", TQDM_DISABLE="1", TOKENIZERS_PARALLELISM="false")
        self.process = subprocess.Popen(
            [str(python), "-I", str(WORKER), recipe, str(mtl.default_model_path()), str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
        )  # fmt: skip

    def send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"peer worker exited with {self.process.wait()}")
        return json.loads(line)

    def encode(self, batch_size: int) -> float:
        self.send({"encode": batch_size})
        return self.receive()["seconds"]

    def embed(self, batch_size: int) -> torch.Tensor:
        with tempfile.TemporaryDirectory() as folder:
            self.send({"embed": batch_size, "to": str(Path(folder) / "embeddings.npy")})
            return torch.from_numpy(np.load(self.receive()["saved"]))

    def profile(self, batch_size: int) -> dict:
        """{operation type: seconds} over one pass of the sentences through this OpenVINO peer's graph."""
        self.send({"profile": batch_size})
        return self.receive()["seconds_by_operation"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def start_peers(sentences: list[str], calibration: list[str], log, python: Path = PEERS_PYTHON) -> tuple[dict, dict]:
    """({row name: a ready Peer}, {row name: why it is missing}), the workers run by `python` (the peers
    environment's). They build (export, quantise) at the same time; none of it is timed."""
    if not python.exists():
        return {}, {name: ABSENT for name in peer_recipes()}
    started = {name: Peer(python, recipe, log) for name, recipe in peer_recipes().items()}
    for peer in started.values():
        peer.send({"sentences": sentences, "calibration": calibration})
    ready, missing = {}, {}
    for name, peer in started.items():
        try:
            answer = peer.receive()
        except RuntimeError as err:
            answer = {"unavailable": str(err)}
        if "unavailable" in answer:
            missing[name] = answer["unavailable"]
            peer.close()
        else:
            ready[name] = peer
    return ready, missing


def headline(encode: dict, goals: dict, batch_sizes) -> dict:
    """The fast path's speed over the fastest peer, per run: among the peers that meet the fast path's quality bar
    (lowest per-sentence cosine to fp32 >= the goal, STS-B within the goal of fp32), and among all peers. A peer is
    sentence-transformers: the project's pinned one in this process, or any row of the peers environment."""
    peers = [name for name in (ST, *peer_recipes()) if "unavailable" not in encode.get(name, {"unavailable": ""})]
    out = {}
    for b in (f"batch {size}" for size in batch_sizes):
        fp32 = encode[FP32][b]["stsb_test_spearman"]

        def equal_quality(name):
            row = encode[name][b]
            return (
                row["min_cosine_to_fp32"] >= goals["min_cosine_per_sentence"]
                and abs(row["stsb_test_spearman"] - fp32) <= goals["spearman_within_fp32"]
            )

        fast = encode[FAST][b]["sentences_per_s_by_run"]
        figures = {}
        for label, pool in (("equal_quality", [p for p in peers if equal_quality(p)]), ("any_quality", peers)):
            winners, ratios = [], []
            for run, speed in enumerate(fast):
                best = max(pool, key=lambda p: encode[p][b]["sentences_per_s_by_run"][run])
                winners.append(best)
                ratios.append(round(speed / encode[best][b]["sentences_per_s_by_run"][run], 2))
            figures[label] = {
                "fastest_peer_by_run": winners,
                "ratio_by_run": ratios,
                "ratio_range": value_range(ratios),
            }
        figures["below_quality_bar"] = [p for p in peers if not equal_quality(p)]
        figures["goal"] = goals["speedup_vs_best_equal_quality_peer"]
        figures["meets_goal_in_every_run"] = min(figures["equal_quality"]["ratio_by_run"]) >= figures["goal"]
        out[b] = figures
    return out
