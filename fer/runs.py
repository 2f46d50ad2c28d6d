"""Training runs as the training page sees them: start `python -m fer.train` in the background, follow,
stop, resume, and promote a run's model to the default. No streamlit here.

A run is a directory runs/NAME/ written by fer.train, plus train.log (its stdout/stderr) and pid
(while it runs). One training at a time per runs folder: the trainer holds an exclusive lock on
runs/.train.lock (see fer/trainlock.py) from before it starts until it exits, so any number of
simultaneous Starts, from any number of browser sessions, start exactly one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fer.files import DEFAULT_MODEL, ROOT, onnx_path, sidecar_path
from fer.model import load_checkpoint
from fer.train_config import TrainConfig
from fer.trainlock import LOCK_ENV, lock_path, try_lock

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
    """True if pid is a live fer.train process (not a zombie, not a reused pid)."""
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


def start(runs_dir: Path, name: str, cfg: TrainConfig, threads: int | None = None) -> Run:
    """Start a new run of `cfg` in its own session (it outlives page reruns and closed tabs). One at a time."""
    if not NAME_RE.match(name):
        raise ValueError("Run names use letters, digits, '-', '_' and '.', up to 64 characters.")
    if (runs_dir / name).exists():
        raise ValueError(f"A run named '{name}' exists; pick another name or resume it.")
    return _launch(runs_dir, runs_dir / name, cfg.argv(), threads)


def resume(run: Run, threads: int | None = None) -> Run:
    """Continue a stopped run from its last.pt, with the settings saved in it."""
    return _launch(run.path.parent, run.path, ["--resume"], threads)


def _launch(runs_dir: Path, path: Path, args: list[str], threads: int | None) -> Run:
    runs_dir.mkdir(parents=True, exist_ok=True)
    fd = try_lock(lock_path(runs_dir))
    if fd is None:
        busy = running(runs_dir)
        raise RuntimeError(f"Training '{busy[0].name}' is already running; stop it first." if busy else
                           "A training is already starting; wait for it, or stop it first.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-u", "-m", "fer.train", *args, "--out", str(path),
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


def stop(run: Run) -> None:
    """Stop a running training; its last finished epoch stays in last.pt, so Resume continues it."""
    pid = _running_pid(run.path)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    (run.path / "pid").unlink(missing_ok=True)


def save_upload(runs_dir: Path, filename: str, data: bytes) -> Path:
    """Store an uploaded dataset under runs/uploads/ only if fer.data can read it; else ValueError, nothing kept."""
    from fer.data import load_dataset

    suffix = ".csv.gz" if filename.lower().endswith(".csv.gz") else Path(filename).suffix.lower()
    if suffix not in (".csv", ".csv.gz", ".zip"):
        raise ValueError(f"{filename}: upload a .csv, .csv.gz or .zip dataset.")
    uploads = runs_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=uploads, suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        ds = load_dataset(tmp)
        if "Training" not in ds.split_names:
            raise ValueError(f"{filename}: has no Training split.")
    except ValueError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ValueError(str(e).replace(tmp, filename)) from None
    final = uploads / (re.sub(r"[^A-Za-z0-9_.-]", "_", Path(filename).name.removesuffix(suffix)) + suffix)
    os.replace(tmp, final)
    return final


def promote(model: Path, default: Path = DEFAULT_MODEL) -> Path | None:
    """Make `model` the default, with its ONNX export for the app; the previous default is kept as <name>.prev.pt.

    Everything is written and checked beside the default first, then moved into place, so a bad model or a
    failed export leaves the old default untouched. Returns the backup (None when there was no default).
    """
    from fer.export import export_onnx  # imports torch.onnx: only the training page needs it

    load_checkpoint(model)  # refuse a broken file before touching anything
    default.parent.mkdir(parents=True, exist_ok=True)
    staged = default.with_name(f".{default.stem}.staged.pt")
    staged_onnx = onnx_path(staged)
    try:
        shutil.copyfile(model, staged)
        export_onnx(staged, staged_onnx)  # checks the copy; its sidecar records the hash of the default-to-be
        backup = None
        if default.exists():
            backup = default.with_suffix(".prev.pt")
            fd, tmp = tempfile.mkstemp(dir=default.parent, suffix=".tmp")
            os.close(fd)
            shutil.copyfile(default, tmp)
            os.replace(tmp, backup)
        os.replace(staged, default)
        os.replace(staged_onnx, onnx_path(default))
        os.replace(sidecar_path(staged_onnx), sidecar_path(default))
    finally:
        for leftover in (staged, staged_onnx, sidecar_path(staged_onnx)):
            leftover.unlink(missing_ok=True)
    return backup
