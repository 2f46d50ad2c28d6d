"""Training runs as the training page sees them: start `python -m fer.train` in the background, follow,
stop, resume, and promote a run's model to the default. No streamlit here.

A run is a directory runs/NAME/ written by fer.training.loop, plus train.log (its stdout/stderr) and pid
(while it runs). One training at a time per runs folder: the trainer holds an exclusive lock on
runs/.train.lock (see fer/server/locks.py) from before it starts until it exits, so any number of
simultaneous Starts, from any number of browser sessions, start exactly one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fer.files import DEFAULT_MODEL, ROOT, atomic_write, onnx_path, sidecar_path
from fer.server.access import Owner, require
from fer.server.locks import LOCK_ENV, lock_path, try_lock
from fer.training import history
from fer.training.config import TrainConfig
from fer.training.history import Entry

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
UPLOAD_QUOTA = 2 << 30  # bytes in runs/uploads/
UPLOAD_MAX_AGE_S = 7 * 24 * 3600  # an upload no run uses is removed after a week


@dataclass
class Run:
    name: str
    path: Path
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    status: str = "stopped"  # running | finished | stopped | failed
    error: str | None = None

    @property
    def epochs(self) -> int:
        return int(self.config.get("epochs", 0))

    @property
    def smoke(self) -> bool:
        """A smoke test (--dry-run: 2 batches per epoch): it checks the pipeline, its figures mean nothing."""
        return bool(self.config.get("dry_run"))

    @property
    def best_model(self) -> Path:
        return self.path / "best.pt"

    def log_tail(self, lines: int = 20) -> str:
        log = self.path / "train.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def eta_seconds(self) -> float | None:
        if not self.history or self.status != "running":
            return None
        per_epoch = sum(h["seconds"] for h in self.history) / len(self.history)
        return per_epoch * (self.epochs - len(self.history))


def _alive(pid: int) -> bool:
    """True if pid is a live fer.training.loop process (not a zombie, not a reused pid)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return False
    if state == "Z":
        try:  # our own finished child: reap it
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    # An empty cmdline: the child is still being exec'd (just after Popen).
    return not cmdline or b"fer.train" in cmdline


def _running_pid(path: Path) -> int | None:
    try:
        pid = int((path / "pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def load_run(path: Path) -> Run:
    run = Run(path.name, path)
    try:
        run.config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        run.config = {}
    hist = path / "history.jsonl"
    if hist.exists():
        run.history = [json.loads(line) for line in hist.read_text().splitlines() if line.strip()]
    if _running_pid(path):
        run.status = "running"
    elif run.config and len(run.history) >= run.epochs:
        run.status = "finished"
    else:
        errors = [line for line in run.log_tail(200).splitlines() if line.startswith(("error:", "Traceback"))
                  or "Error" in line.split(":")[0]]
        if errors:
            run.status, run.error = "failed", errors[-1].removeprefix("error: ")
    return run


def list_runs(runs_dir: Path) -> list[Run]:
    """Runs, newest first."""
    if not runs_dir.is_dir():
        return []
    dirs = [p for p in runs_dir.iterdir()
            if p.is_dir() and ((p / "config.json").exists() or (p / "train.log").exists())]
    return [load_run(p) for p in sorted(dirs, key=lambda p: p.stat().st_mtime, reverse=True)]


def running(runs_dir: Path) -> list[Run]:
    """Every run whose trainer is alive (normally one; a run started by hand elsewhere shows up too)."""
    return [r for r in list_runs(runs_dir) if r.status == "running"]


def start(owner: Owner, runs_dir: Path, name: str, cfg: TrainConfig, threads: int | None = None,
          processes: int = 1) -> Run:
    """Start a new run of `cfg` in its own session (it outlives page reruns and closed tabs). One at a time.
    processes > 1: torchrun with that many DistributedDataParallel processes (threads is per process)."""
    require(owner)
    if not NAME_RE.match(name):
        raise ValueError("Run names use letters, digits, '-', '_' and '.', up to 64 characters.")
    if (runs_dir / name).exists():
        raise ValueError(f"A run named '{name}' exists; pick another name or resume it.")
    return _launch(runs_dir, runs_dir / name, cfg.argv(), threads, processes)


def resume(owner: Owner, run: Run, threads: int | None = None, processes: int = 1) -> Run:
    """Continue a stopped run from its last.pt, with the settings saved in it."""
    require(owner)
    return _launch(run.path.parent, run.path, ["--resume"], threads, processes)


def _launch(runs_dir: Path, path: Path, args: list[str], threads: int | None, processes: int = 1) -> Run:
    runs_dir.mkdir(parents=True, exist_ok=True)
    fd = try_lock(lock_path(runs_dir))
    if fd is None:
        busy = running(runs_dir)
        raise RuntimeError(f"Training '{busy[0].name}' is already running; stop it first." if busy else
                           "A training is already starting; wait for it, or stop it first.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] \
            if processes > 1 else []
        cmd = [sys.executable, "-u", *launcher, "-m", "fer.train", *args, "--out", str(path),
               *(["--threads", str(threads)] if threads else [])]
        with open(path / "train.log", "a") as log:
            # NOTE: the child inherits the locked descriptor and holds the lock until it exits.
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, pass_fds=(fd,), env={**os.environ, LOCK_ENV: str(fd)})
        (path / "pid").write_text(str(proc.pid))
    finally:
        os.close(fd)
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()  # no zombie when it ends
    return load_run(path)


def stop(owner: Owner, run: Run) -> None:
    """Stop a running training; its last finished epoch stays in last.pt, so Resume continues it."""
    require(owner)
    pid = _running_pid(run.path)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    (run.path / "pid").unlink(missing_ok=True)


def save_upload(owner: Owner, runs_dir: Path, filename: str, data: bytes) -> Path:
    """Keep an uploaded dataset under runs/uploads/ if it can be trained on; else ValueError, nothing kept.

    Stored under its content hash (two people's files never overwrite each other, and a file already
    validated is not parsed again on the next page run); old unused uploads are cleaned up first, and
    the folder has a size quota.
    """
    from fer.training.data import check_trainable, load_dataset

    require(owner)
    suffix = ".csv.gz" if filename.lower().endswith(".csv.gz") else Path(filename).suffix.lower()
    if suffix not in (".csv", ".csv.gz", ".zip"):
        raise ValueError(f"{filename}: upload a .csv, .csv.gz or .zip dataset.")
    uploads = runs_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    final = uploads / f"{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
    if final.is_file():
        return final
    clean_uploads(runs_dir)
    used = sum(p.stat().st_size for p in uploads.iterdir() if p.is_file())
    if used + len(data) > UPLOAD_QUOTA:
        raise ValueError(f"{filename}: the uploads folder is full ({used / 1e6:.0f} MB of "
                         f"{UPLOAD_QUOTA / 1e6:.0f} MB); delete old runs first.")

    def check(staged: Path) -> None:
        try:
            check_trainable(load_dataset(staged, name=final.name))
        except ValueError as e:
            raise ValueError(str(e).replace(str(staged), filename)) from None

    with atomic_write(final, check=check) as f:
        f.write(data)
    return final


def clean_uploads(runs_dir: Path, max_age_s: float = UPLOAD_MAX_AGE_S) -> list[Path]:
    """Remove uploads that no run uses and that are older than `max_age_s`; returns what was removed."""
    uploads = runs_dir / "uploads"
    if not uploads.is_dir():
        return []
    used = {str(r.config.get("data")) for r in list_runs(runs_dir)}
    now, removed = time.time(), []
    for p in uploads.iterdir():
        if p.is_file() and str(p) not in used and now - p.stat().st_mtime > max_age_s:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def delete(owner: Owner, run: Run) -> None:
    """Delete a run that is not running, and its uploaded dataset when no other run uses it."""
    require(owner)
    if _running_pid(run.path) is not None:
        raise RuntimeError(f"Training '{run.name}' is running; stop it first.")
    data = run.config.get("data")
    shutil.rmtree(run.path)
    runs_dir = run.path.parent
    if data and Path(data).parent == runs_dir / "uploads" and \
            all(str(r.config.get("data")) != str(data) for r in list_runs(runs_dir)):
        Path(data).unlink(missing_ok=True)


def public_test_accuracy(meta: dict) -> float | None:
    """A checkpoint's PublicTest accuracy as stored by training (validation) or `fer.training.evaluate --record`."""
    metrics = meta.get("metrics") or {}
    if metrics.get("val_split") == "PublicTest" and metrics.get("val_accuracy") is not None:
        return float(metrics["val_accuracy"])
    recorded = metrics.get("PublicTest") or {}
    return float(recorded["accuracy"]) if "accuracy" in recorded else None


def _figures(meta: dict) -> dict:
    private = ((meta.get("metrics") or {}).get("PrivateTest") or {}).get("accuracy")
    return {"public_test": public_test_accuracy(meta), "private_test": private}


def promotion_check(model: Path, default: Path = DEFAULT_MODEL) -> tuple[float | None, float | None]:
    """(candidate's, current default's) PublicTest accuracy, for the page to show before promoting."""
    from fer.model import load_checkpoint  # torch: the owner's actions only; visitors' views stay torch-free

    current = public_test_accuracy(load_checkpoint(default)[1]) if default.is_file() else None
    return public_test_accuracy(load_checkpoint(model)[1]), current


def promote(owner: Owner, model: Path, default: Path = DEFAULT_MODEL, allow_worse: bool = False) -> Entry | None:
    """Make `model` the default, with its ONNX export for the app. Returns the history entry of the old default.

    The old default goes to the model history first (fer/training/history.py), so nothing is ever lost. A model
    whose PublicTest accuracy is below the default's, or unknown, needs `allow_worse` (ValueError otherwise).
    Everything is written and checked beside the default first, then moved into place, so a bad model or a
    failed export leaves the old default untouched.
    """
    from fer.model import load_checkpoint

    require(owner)
    load_checkpoint(model)  # refuse a broken file before touching anything
    candidate, current = promotion_check(model, default)
    if not allow_worse and (candidate is None or (current is not None and candidate < current)):
        raise ValueError("its PublicTest accuracy is " + (f"{candidate:.1%}" if candidate is not None else "unknown")
                         + (f", the current default's {current:.1%}" if current is not None else "")
                         + "; confirm to promote it anyway.")
    lock = try_lock(history.history_dir(default) / ".promote.lock")  # two sessions promoting at once
    if lock is None:
        raise ValueError("another model is being made the default right now; try again in a moment.")
    try:
        return _promote(model, default)
    finally:
        os.close(lock)


def _promote(model: Path, default: Path) -> Entry | None:
    from fer.model import load_checkpoint
    from fer.training.export import export_onnx  # imports torch.onnx: only the training page needs it

    staged = default.with_name(f".{default.stem}.staged.pt")
    staged_onnx = onnx_path(staged)
    try:
        shutil.copyfile(model, staged)
        export_onnx(staged, staged_onnx)  # checks the copy; its sidecar records the hash of the default-to-be
        old = history.archive(default, _figures(load_checkpoint(default)[1])) if default.is_file() else None
        os.replace(staged, default)
        os.replace(staged_onnx, onnx_path(default))
        os.replace(sidecar_path(staged_onnx), sidecar_path(default))
    finally:
        for leftover in (staged, staged_onnx, sidecar_path(staged_onnx)):
            leftover.unlink(missing_ok=True)
    return old


def restore(owner: Owner, entry: Entry, default: Path = DEFAULT_MODEL) -> Entry | None:
    """Put a former default back (the current one goes to the history in turn)."""
    return promote(owner, entry.path, default, allow_worse=True)
