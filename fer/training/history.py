"""Every model that was the default, kept beside it: promoting never loses one.

models/history/<UTC time>-<sha8>.pt holds a former default, with <same>.json: when it was replaced, its
hash and its PublicTest / PrivateTest accuracy. The oldest entry (on a fresh checkout: the shipped
model) is never removed; of the others the newest KEEP stay. Torch-free: the figures are read once,
when an entry is written, by the caller that has the checkpoint open.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fer.files import atomic_write, file_sha256, write_text_atomic

KEEP = 5


@dataclass(frozen=True)
class Entry:
    path: Path  # the checkpoint
    info: dict  # archived (ISO time), sha256, public_test, private_test (accuracies or None)

    @property
    def label(self) -> str:
        acc = self.info.get("public_test")
        figure = f"PublicTest {acc:.1%}" if acc is not None else "PublicTest unknown"
        return f"{self.info.get('archived', '?')[:16].replace('T', ' ')} · {figure} · {self.info.get('sha256', '')[:8]}"


def history_dir(default: Path) -> Path:
    return default.parent / "history"


def entries(default: Path) -> list[Entry]:
    """Former defaults, oldest first."""
    d = history_dir(default)
    out = []
    for meta in sorted(d.glob("*.json")) if d.is_dir() else []:
        pt = meta.with_suffix(".pt")
        try:
            info = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if pt.is_file() and isinstance(info, dict):
            out.append(Entry(pt, info))
    return out


def archive(default: Path, figures: dict) -> Entry | None:
    """Copy the current default into the history (once per distinct file); prune to the oldest + KEEP newest."""
    if not default.is_file():
        return None
    sha = file_sha256(default)
    known = entries(default)
    if any(e.info.get("sha256") == sha for e in known):
        return next(e for e in known if e.info.get("sha256") == sha)
    d = history_dir(default)
    now = datetime.now(UTC)
    stem = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{sha[:8]}"
    with open(default, "rb") as src, atomic_write(d / f"{stem}.pt") as f:
        shutil.copyfileobj(src, f)
    info = {"archived": now.isoformat(timespec="seconds"), "sha256": sha, **figures}
    write_text_atomic(d / f"{stem}.json", json.dumps(info, indent=1) + "\n")  # last: an entry is its .json
    _prune(default)
    return Entry(d / f"{stem}.pt", info)


def _prune(default: Path) -> None:
    kept = entries(default)
    for e in kept[1:-KEEP] if len(kept) > KEEP + 1 else []:
        e.path.unlink(missing_ok=True)
        e.path.with_suffix(".json").unlink(missing_ok=True)
