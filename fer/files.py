"""Where the project's files live, and how a model's files belong together. Torch-free.

A checkpoint `<name>.pt` ships with `<name>.onnx` (its whole inference graph, see fer/training/export.py) and
`<name>.onnx.json`, the sidecar, which records the SHA-256 of the checkpoint bytes the export was made
from. An export is trusted only while that hash matches. The app and the CLIs read their locations
here; the environment overrides them (FER_MODEL, FER_CATALOGUE, FER_RUNS: used by the tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from fer.emotions import EMOTIONS

ROOT = Path(__file__).resolve().parent.parent  # the project: app.py, fer/, models/, data/, runs/
DEFAULT_MODEL = ROOT / "models" / "emotion_cnn.pt"
DEFAULT_CATALOGUE = ROOT / "data" / "movies.json.gz"
SHARED_FER = ROOT.parent / "shared" / "datasets" / "fer2013.csv.gz"


def model_path() -> Path:
    """The default model the app serves (FER_MODEL overrides)."""
    return Path(os.environ.get("FER_MODEL", DEFAULT_MODEL))


def catalogue_path() -> Path:
    """The movie catalogue the app reads and a refresh rewrites (FER_CATALOGUE overrides)."""
    return Path(os.environ.get("FER_CATALOGUE", DEFAULT_CATALOGUE))


def runs_dir() -> Path:
    """Where training runs and uploaded datasets live (FER_RUNS overrides)."""
    return Path(os.environ.get("FER_RUNS", ROOT / "runs"))


def onnx_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".onnx")


def sidecar_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".onnx.json")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_matches(checkpoint: Path) -> bool:
    """True when `checkpoint` has an ONNX export made from exactly these bytes."""
    try:
        info = json.loads(sidecar_path(checkpoint).read_text())
        return (onnx_path(checkpoint).is_file() and info["classes"] == list(EMOTIONS)
                and info["checkpoint_sha256"] == file_sha256(checkpoint))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def read_sidecar(checkpoint: Path) -> dict:
    """The sidecar's contents ({} when absent or unreadable)."""
    try:
        info = json.loads(sidecar_path(checkpoint).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def write_sidecar(checkpoint: Path, sidecar: Path, **info) -> None:
    """Record that the export next to `sidecar` was made from `checkpoint` (its current bytes; any old hash in
    `info` is replaced)."""
    info = {**info, "checkpoint_sha256": file_sha256(checkpoint), "classes": list(EMOTIONS)}
    write_text_atomic(sidecar, json.dumps(info, indent=1) + "\n")


@contextmanager
def atomic_write(path: str | Path, check: Callable[[Path], None] | None = None) -> Iterator[BinaryIO]:
    """Write `path` through a temp file beside it, synced, then renamed over it: readers, and the file after a
    crash, see the old bytes or all the new ones. Each writer has its own temp file (hidden, removed on error),
    so concurrent writers never mix their bytes; the last rename wins.

    `check(staged)` may refuse the written file before anyone sees it: what it raises leaves `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if check:
            check(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary shared files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a half-written one."""
    with atomic_write(path) as f:
        f.write(text.encode())
