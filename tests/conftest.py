"""Shared fixtures: tiny synthetic FER2013 datasets in CSV, folder and zip form, and paths to ../shared."""

from __future__ import annotations

import asyncio
import socket
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer.emotions import EMOTIONS

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
FER_CSV = SHARED / "fer2013.csv.gz"
IMDB_DIR = SHARED / "imdb"


@pytest.fixture(autouse=True)
def own_profile_dir(tmp_path_factory, monkeypatch):
    """No test reads or writes the real user's profile (~/.local/share/mood-to-movie)."""
    monkeypatch.setenv("FER_PROFILE_DIR", str(tmp_path_factory.mktemp("profile")))


def run_async(coroutine):
    """asyncio.run(coroutine) in a thread of its own. NOTE: the browser tests' Playwright (sync API, one browser
    for the whole run) keeps an event loop running in the main thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a throw-away server or a refused connection)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def synthetic_faces(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random 48x48 uint8 images whose brightness depends on the label, so a net can learn something."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(EMOTIONS)
    images = rng.integers(0, 60, (n, 48, 48)) + labels[:, None, None] * 25
    return images.astype(np.uint8), labels


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray, usages: list[str]) -> Path:
    rows = ["emotion,pixels,Usage"]
    rows += [f"{y},{' '.join(map(str, x.ravel()))},{u}" for x, y, u in zip(images, labels, usages)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    """42 Training + 14 PublicTest + 14 PrivateTest rows."""
    images, labels = synthetic_faces(70)
    usages = ["Training"] * 42 + ["PublicTest"] * 14 + ["PrivateTest"] * 14
    return write_csv(tmp_path / "tiny.csv", images, labels, usages)


def write_folder(root: Path, per_class: int = 3) -> Path:
    images, labels = synthetic_faces(per_class * len(EMOTIONS) * 2, seed=1)
    for i, (x, y) in enumerate(zip(images, labels)):
        split = "train" if i % 2 == 0 else "test"
        d = root / split / EMOTIONS[y]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i}.png"), x)
    return root


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "faces")


@pytest.fixture
def tiny_zip(tmp_path: Path, tiny_folder: Path) -> Path:
    path = tmp_path / "faces.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted(tiny_folder.rglob("*.png")):
            zf.write(p, p.relative_to(tiny_folder).as_posix())
    return path


def dry_train(tiny: Path, out: Path, *extra: str) -> int:
    """A two-batch VGG run on a tiny dataset (`python -m fer.train --dry-run`); returns its exit code."""
    from fer.training.loop import main

    return main(["--data", str(tiny), "--arch", "vgg", "--batch-size", "8", "--out", str(out), "--dry-run",
                 "--threads", "1", *extra])
