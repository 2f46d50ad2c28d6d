"""Exclusive locks across threads and processes: one training per runs folder, one refresh per server.

The trainer holds an exclusive `flock` on runs/.train.lock. `flock` locks belong to an open file
description, so two threads of one server (two browser sessions) exclude each other just as two
processes do, and the kernel drops the lock when its holder exits, even on a crash: a stale lock
cannot block the next training. The training page takes the lock, then hands the descriptor to the
`fer.training.loop` process it starts (LOCK_ENV names it), so no second Start can slip in between.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = ".train.lock"
LOCK_ENV = "FER_TRAIN_LOCK_FD"  # set by runs.start: the trainer already holds the lock on this descriptor


def lock_path(runs_dir: Path) -> Path:
    return runs_dir / LOCK_NAME


def try_lock(path: Path) -> int | None:
    """An open descriptor holding the exclusive lock on `path`, or None when someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def hold_for_trainer(out: Path, under_torchrun: bool = False) -> int | None:
    """For `fer.training.loop`: the lock it inherited from runs.start, or a lock on OUT's parent folder taken now.

    Under torchrun started by runs.start, torchrun itself holds the inherited lock (its processes do not get
    the descriptor): None. Raises ValueError when another training holds it. Returns the descriptor;
    closing it releases the lock.
    """
    inherited = os.environ.pop(LOCK_ENV, None)  # popped: a process this one starts must not think it holds it
    if inherited:
        return None if under_torchrun else int(inherited)
    fd = try_lock(lock_path(out.parent))
    if fd is None:
        raise ValueError(f"another training is running in {out.parent}; wait for it or stop it first.")
    return fd
