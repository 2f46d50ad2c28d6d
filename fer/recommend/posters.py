"""Optional film posters from OMDb (https://www.omdbapi.com), only when the owner puts a key in the secrets:

    [posters]
    omdb_api_key = "..."

Without a key nothing is fetched and nothing changes. Each poster is fetched once, with timeouts, and kept in
a disk cache with a size cap (oldest dropped first); a film without a poster, or a failed fetch, is remembered
for a while so the list never waits on the same failure twice. Only IMDb ids leave the server.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from fer.files import atomic_write

API = "https://www.omdbapi.com/"
TIMEOUT = (3, 5)  # seconds: connect, between bytes
MAX_POSTER_BYTES = 2 << 20
CACHE_BYTES = 50 << 20
RETRY_AFTER_S = 600  # after a failed fetch (network, quota), before that film is asked for again
WORKERS = 8
MEMORY_BYTES = 16 << 20  # posters kept in memory too (about 300 of OMDb's): the live list re-renders every second
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF")  # JPEG, PNG, WebP


class Posters:
    """Poster bytes per IMDb id, from the disk cache or OMDb. Safe to share between sessions and threads."""

    def __init__(self, api_key: str, folder: str | Path, api: str = API, cache_bytes: int = CACHE_BYTES):
        self.api_key, self.api, self.cache_bytes = api_key, api, cache_bytes
        self.folder = Path(folder)
        self._failed: dict[str, float] = {}  # tconst -> when; NOTE: shared by sessions, guarded by _lock
        self._memory: OrderedDict[str, bytes | None] = OrderedDict()  # most recently used last; guarded by _lock
        self._memory_bytes = 0
        self._lock = threading.Lock()

    def get(self, tconsts: list[str]) -> dict[str, bytes | None]:
        """tconst -> poster bytes (None: no poster, or not now), fetching the missing ones concurrently."""
        with self._lock:
            found = {t: self._recall(t) for t in tconsts if t in self._memory}
        missing = [t for t in tconsts if t not in found]
        if missing:  # NOTE: no pool at all when every poster is in memory, the live list's usual case
            with ThreadPoolExecutor(min(WORKERS, len(missing))) as pool:
                found.update(zip(missing, pool.map(self.one, missing)))
        return {t: found[t] for t in tconsts}

    def one(self, tconst: str) -> bytes | None:
        if not tconst.startswith("tt") or not tconst[2:].isdigit():
            return None
        with self._lock:
            if tconst in self._memory:
                return self._recall(tconst)
        data = self._from_disk_or_service(tconst)
        if data is not None or (self.folder / f"{tconst}.none").exists():
            with self._lock:
                self._remember(tconst, data)
        return data

    def _recall(self, tconst: str) -> bytes | None:
        """A poster in memory, now the most recently used (the caller holds _lock)."""
        self._memory.move_to_end(tconst)
        return self._memory[tconst]

    def _remember(self, tconst: str, data: bytes | None) -> None:
        """Keep a poster in memory, dropping the least recently used beyond MEMORY_BYTES (caller holds _lock)."""
        old = self._memory.pop(tconst, None)
        self._memory_bytes += len(data or b"") - len(old or b"")
        self._memory[tconst] = data
        while self._memory_bytes > MEMORY_BYTES and len(self._memory) > 1:
            self._memory_bytes -= len(self._memory.popitem(last=False)[1] or b"")

    def _from_disk_or_service(self, tconst: str) -> bytes | None:
        path = self.folder / f"{tconst}.img"
        if path.exists():
            try:
                return path.read_bytes()
            except OSError:
                return None
        if (self.folder / f"{tconst}.none").exists():
            return None
        with self._lock:
            if time.time() - self._failed.get(tconst, 0.0) < RETRY_AFTER_S:
                return None
        try:
            data = self._fetch(tconst)
        except (requests.RequestException, ValueError, KeyError, TypeError):
            with self._lock:
                self._failed[tconst] = time.time()
            return None
        self._store(tconst, data)
        return data

    def _fetch(self, tconst: str) -> bytes | None:
        r = requests.get(self.api, params={"i": tconst, "apikey": self.api_key}, timeout=TIMEOUT)
        r.raise_for_status()
        url = r.json().get("Poster")
        if not url or url == "N/A" or not str(url).startswith(("https://", "http://")):
            return None
        with requests.get(url, timeout=TIMEOUT, stream=True) as img:
            img.raise_for_status()
            data = b""
            for chunk in img.iter_content(64 << 10):
                data += chunk
                if len(data) > MAX_POSTER_BYTES:
                    raise ValueError("poster too large")
        if not data.startswith(_MAGIC):
            raise ValueError("not an image")
        return data

    def _store(self, tconst: str, data: bytes | None) -> None:
        """Atomically, then drop the oldest files while the cache is over its cap."""
        try:
            with atomic_write(self.folder / (f"{tconst}.img" if data else f"{tconst}.none")) as f:
                f.write(data or b"")
            files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.folder.glob("tt*")]
            total = sum(size for _, size, _ in files)
            for _, size, p in sorted(files, key=lambda f: f[0]):
                if total <= self.cache_bytes:
                    break
                p.unlink(missing_ok=True)
                total -= size
        except OSError:
            pass  # a full or read-only disk: the poster is shown this time and fetched again later
