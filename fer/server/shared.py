"""Objects every session of one server shares (the emotion model, the catalogue, the poster cache).

They live here, not in `st.cache_resource`: any browser can send Streamlit's "clear cache" message, which
empties st.cache_resource and st.cache_data for every visitor at once (the model and the catalogue reloaded
for everybody, on a stranger's click). Nothing a browser sends reaches this cache; a new version of a file
(a new key) replaces the old object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

_OBJECTS: dict[str, tuple[Hashable, object]] = {}  # name -> (key, object): one version per name
_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


def shared(name: str, key: Hashable, build: Callable[[], T]) -> T:
    """The object `build()` made for this name and key, built once per key. Callers that arrive while it is
    being built wait for that build instead of starting their own; a failed build raises and is retried by
    the next caller. A new key (e.g. a file's new mtime) replaces the name's object."""
    with _GUARD:
        lock = _LOCKS.setdefault(name, threading.Lock())
    # NOTE: one lock per name, so a slow model load never holds up the catalogue (or the other way round).
    with lock:
        held = _OBJECTS.get(name)
        if held is not None and held[0] == key:
            return held[1]  # type: ignore[return-value]
        made = build()
        _OBJECTS[name] = (key, made)
        return made
