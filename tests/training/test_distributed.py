"""Training on two processes with torchrun (gloo on the CPU): one writer, loadable, resumable under torchrun."""

import json
import subprocess
import sys
import time

import pytest

from fer.server.access import Owner
from fer.training import runs
from fer.training.config import TrainConfig
from fer.vision.recognizer import EmotionRecognizer
from tests.conftest import ROOT

OWNER = Owner("cli")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([*TORCHRUN, "-m", "fer.train", *args, "--threads", "1"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_two_processes_train_one_run_that_loads_and_resumes_under_torchrun(tiny_csv, tmp_path):
    run = tmp_path / "runs" / "ddp"
    first = _torchrun("--data", str(tiny_csv), "--arch", "cnn1", "--epochs", "2", "--batch-size", "16",
                      "--dry-run", "--epochs-now", "1", "--out", str(run))
    assert first.stdout.count("epoch 1/2") == 1  # one process logs
    assert "2 processes" in first.stdout and "stopped after epoch 1 of 2" in first.stdout
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.json", "history.jsonl", "last.pt"]
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1]
    assert history[0]["train_acc"] >= 0 and json.loads((run / "config.json").read_text())["processes"] == 2
    faces = EmotionRecognizer.load(run / "best.pt")
    assert faces.classifier is not None

    second = _torchrun("--resume", "--out", str(run))
    assert "epochs 2..2" in second.stdout and "epoch 2/2" in second.stdout
    assert [json.loads(line)["epoch"] for line in (run / "history.jsonl").read_text().splitlines()] == [1, 2]
    assert not (run / "pid").exists()


def test_the_training_page_starts_torchrun_and_can_stop_it(tiny_csv, tmp_path):
    runs_dir = tmp_path / "runs"
    cfg = TrainConfig(str(tiny_csv), "cnn1", epochs=500, batch_size=16, dry_run=True)
    run = runs.start(OWNER, runs_dir, "ddp", cfg, threads=1, processes=2)
    deadline = time.time() + 120
    # both processes joined and finished an epoch (its checkpoint, then its history line, are written)
    while not (runs.load_run(run.path).history and (run.path / "last.pt").exists()):
        assert time.time() < deadline, (run.path / "train.log").read_text()
        time.sleep(0.5)
    running = runs.load_run(run.path)
    assert running.status == "running" and b"torch.distributed.run" in \
        (open(f"/proc/{int((run.path / 'pid').read_text())}/cmdline", "rb").read())
    runs.stop(OWNER, running)
    deadline = time.time() + 60
    while subprocess.run(["pgrep", "-f", str(run.path)], capture_output=True).returncode == 0:
        assert time.time() < deadline, "a torchrun process outlived Stop"
        time.sleep(0.5)
    stopped = runs.load_run(run.path)
    assert stopped.status != "running" and (run.path / "last.pt").exists()


@pytest.mark.parametrize("world", [2, 3])
def test_each_process_gets_a_disjoint_share_of_the_epoch(world):
    from fer.training.distributed import Dist, shard

    shares = [shard(100, Dist(rank, world), seed=1, epoch=4).tolist() for rank in range(world)]
    assert set().union(*shares) == set(range(100))
    assert all(len(s) == len(shares[0]) for s in shares)
    assert shard(100, Dist(0, world), 1, 5).tolist() != shares[0]  # set_epoch reshuffles
