"""Faces that people chose to give to improve the model: only when they opt in, only the 48x48 grey crop,
labelled with their own answer, and used for training only after the owner has looked at it.

    runs/contributed/pending/<emotion>/<hash>.png   given, waiting for the owner (the training page)
    runs/contributed/train/<emotion>/<hash>.png     approved: the Kaggle layout's train/ half, what
                                                    `python -m fer.train --extra-data runs/contributed` reads

A crop is named by a perceptual hash of its pixels, so the same face given again (or with a few pixels
changed) is refused, not stored twice. SESSION_QUOTA crops per browser session, ADDRESS_QUOTA waiting from one
client address in one contribution folder (a stranger opens sessions for free, addresses cost more) and
SERVER_QUOTA waiting on the server bound what strangers can write. Nothing else about the person is kept: the
addresses are remembered in this process's memory only, never written; each contributor can delete what they
gave (the app remembers the names it wrote for that browser session only). The address is Streamlit's
`st.context.ip_address` (.streamlit/DEPLOY.md, "Client addresses": behind a proxy every visitor may share one,
and then this quota acts server-wide).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from fer.emotions import EMOTIONS
from fer.files import atomic_write
from fer.server.access import Owner, client_key, require

PENDING, APPROVED = "pending", "train"
SESSION_QUOTA = 20  # crops one browser session may give
ADDRESS_QUOTA = 60  # crops from one client address waiting for review (a household or office shares one)
SERVER_QUOTA = 500  # crops waiting for review on the server
MAX_ADDRESSES = 10_000  # addresses remembered (the oldest forgotten first)
NEAR = 4  # hashes this many bits apart (of 64) are the same face
_WRITE = threading.Lock()  # NOTE: the quota and duplicate checks and the write are one step for every session
# (contribution folder, client address) -> crops it gave there (under _WRITE): each folder counts its own givers
_BY_ADDRESS: OrderedDict[tuple[Path, str], list[Path]] = OrderedDict()


class ContributionRefused(ValueError):
    """Not kept (a duplicate or a full quota); the message is one sentence for the person."""


def contributed_dir(runs_dir: Path) -> Path:
    return runs_dir / "contributed"


def face_hash(crop: np.ndarray) -> str:
    """64-bit difference hash of a grey crop (9x8 shrink, left > right): a few changed pixels keep it."""
    small = cv2.resize(crop, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, :-1] > small[:, 1:]).ravel()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def _stored(root: Path) -> list[Path]:
    return [p for state in (PENDING, APPROVED) for p in (root / state).glob("*/*.png")]


def contribute(root: Path, emotion: str, crop: np.ndarray, given_here: int = 0, client: str | None = None) -> Path:
    """Write one 48x48 grey crop under root/pending/<emotion>/ and return its path. `given_here`: how many
    this browser session gave already; `client`: the session's client address (None: unknown, as on the
    server's own machine). ContributionRefused for a duplicate or a full quota."""
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}.")
    if crop.shape != (48, 48) or crop.dtype != np.uint8:
        raise ValueError("a contribution is a 48x48 grey face crop, nothing larger.")
    if given_here >= SESSION_QUOTA:
        raise ContributionRefused(f"You have given {SESSION_QUOTA} face crops in this session, the most we keep "
                                  "from one visit; thank you.")
    ok, png = cv2.imencode(".png", crop)
    if not ok:
        raise ValueError("the face crop could not be encoded.")
    h, client = face_hash(crop), client_key(client)
    with _WRITE:
        stored = _stored(root)
        if any(bin(int(h, 16) ^ int(p.stem, 16)).count("1") <= NEAR for p in stored if _is_hash(p.stem)):
            raise ContributionRefused("This face crop was given already; it is not kept twice.")
        if sum(p.parent.parent.name == PENDING for p in stored) >= SERVER_QUOTA:
            raise ContributionRefused("Enough face crops are waiting for review; yours was not kept this time.")
        key = (root.resolve(), client) if client else None
        waiting = [p for p in _BY_ADDRESS.get(key, []) if p.is_file()] if key else []
        if len(waiting) >= ADDRESS_QUOTA:
            raise ContributionRefused(f"{ADDRESS_QUOTA} face crops from your network are waiting for review, the "
                                      "most we keep from one place; thank you.")
        path = root / PENDING / emotion / f"{h}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            f.write(png.tobytes())
        if key:
            _BY_ADDRESS[key] = [*waiting, path]
            _BY_ADDRESS.move_to_end(key)
            while len(_BY_ADDRESS) > MAX_ADDRESSES:
                _BY_ADDRESS.popitem(last=False)
    return path


def _is_hash(stem: str) -> bool:
    return len(stem) == 16 and all(c in "0123456789abcdef" for c in stem)


def pending(root: Path) -> list[tuple[Path, str]]:
    """(path, emotion) of every crop waiting for review, oldest first."""
    found = [(p, p.parent.name) for p in (root / PENDING).glob("*/*.png") if p.parent.name in EMOTIONS]
    return sorted(found, key=lambda pe: pe[0].stat().st_mtime)


def review(owner: Owner | None, root: Path, path: Path, approve: bool) -> None:
    """The owner's decision on one waiting crop: approved ones move to the training folder, others go."""
    require(owner)
    path = Path(path)
    if (root / PENDING).resolve() not in path.resolve().parents:
        raise ValueError(f"{path.name}: not a crop waiting for review.")
    if not approve:
        path.unlink(missing_ok=True)
        return
    target = root / APPROVED / path.parent.name / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)


def withdraw(paths: list[Path], root: Path) -> int:
    """Delete contributions, waiting or approved (only files inside `root`); returns how many were removed."""
    removed = 0
    for p in paths:
        p = Path(p)
        for where in (p, root / APPROVED / p.parent.name / p.name):  # the owner may have approved it since
            if root.resolve() in where.resolve().parents and where.is_file():
                where.unlink(missing_ok=True)  # another tab of the same session may have just removed it
                removed += 1
                break
    return removed
