"""Faces that people chose to give to improve the model: only when they opt in, only the 48x48 grey crop,
labelled with their own answer, in a folder the owner can train on (`python -m fer.train --extra-data`).

runs/contributed/train/<emotion>/<random id>.png: the Kaggle layout's train/ half. Nothing else about
the person is kept. Each contributor can delete what they gave (the app remembers the paths it wrote
for that browser session only).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import cv2
import numpy as np

from fer.emotions import EMOTIONS
from fer.files import atomic_write


def contributed_dir(runs_dir: Path) -> Path:
    return runs_dir / "contributed"


def contribute(root: Path, emotion: str, crop: np.ndarray) -> Path:
    """Write one 48x48 grey crop under root/train/<emotion>/; returns its path."""
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}.")
    if crop.shape != (48, 48) or crop.dtype != np.uint8:
        raise ValueError("a contribution is a 48x48 grey face crop, nothing larger.")
    folder = root / "train" / emotion
    folder.mkdir(parents=True, exist_ok=True)
    ok, png = cv2.imencode(".png", crop)
    if not ok:
        raise ValueError("the face crop could not be encoded.")
    path = folder / f"{secrets.token_hex(8)}.png"
    with atomic_write(path) as f:
        f.write(png.tobytes())
    return path


def withdraw(paths: list[Path], root: Path) -> int:
    """Delete contributions (only files inside `root`); returns how many were removed."""
    removed = 0
    for p in paths:
        p = Path(p)
        if root.resolve() in p.resolve().parents and p.is_file():
            p.unlink(missing_ok=True)  # another tab of the same session may have just removed it
            removed += 1
    return removed
