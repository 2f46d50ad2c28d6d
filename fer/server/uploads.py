"""A bound on what uploads may hold in the server's memory: per browser session, and for the whole server.

Streamlit (1.67) keeps every uploaded file in memory (MemoryUploadedFileManager.file_storage, per session) until
the session shuts down, and any client can upload any number of files (each up to server.maxUploadSize)
without a widget ever reading them. A session whose socket closes is only set aside for a reconnect
(server.disconnectedSessionTTL) and, when that runs out, dropped without its files being freed: 40 scripted
sessions left 1.24 GB held four minutes after every socket closed. So, duck-typed (fer never imports streamlit):

- a session keeps at most SESSION_FILES files and SESSION_BYTES bytes, its oldest going first;
- the server keeps at most SERVER_BYTES in all: files of sessions no longer connected go first, then the oldest
  of anyone's; the file just added always stays (a widget just got it), and whoever lost one is told once
  (`notice`);
- a session's files are freed as soon as its socket closes (a reconnect finds them gone, and is told).

`bound_uploads(runtime)` installs it: app.py's start hook when the server starts (before any page runs), and the
page on every run (idempotent; its sentence for a visitor who lost a file).
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable

SESSION_FILES = 4
SESSION_BYTES = 30 << 20  # a photo at the 25 MB limit, and little more
SERVER_BYTES = 160 << 20  # every session's together: 40 sessions at the session bound held 1.2 GB
READERS = 2  # upload bodies read into memory at once (see _limit_readers)
M_MMAP_THRESHOLD, MMAP_FROM = -3, 4 << 20  # glibc's mallopt: buffers from 4 MB get their own mapping
MAX_NOTICES = 10_000  # sessions remembered as having lost a file, until they are told
_BOUND = "_fer_bound"
_LOCK = threading.Lock()


class UploadBound:
    """The bounds on one upload manager (its `add_file(session_id, file)`, `remove_file(session_id, file_id)`,
    `remove_session_files(session_id)` and per-session `file_storage` dicts in insertion order; tests/
    test_contracts.py checks Streamlit still has them). `connected(session_id)`: False once a session's socket
    closed (its files go first)."""

    def __init__(self, manager, connected: Callable[[str], bool] = lambda _: True, files: int = SESSION_FILES,
                 size: int = SESSION_BYTES, budget: int = SERVER_BYTES) -> None:
        self.manager, self.connected = manager, connected
        self.files, self.size, self.budget = files, size, budget
        self._add = manager.add_file
        self._arrival: dict[str, int] = {}  # file id -> when it came (a count): the server's oldest first
        self._count = itertools.count()
        self._told: OrderedDict[str, bool] = OrderedDict()  # sessions that lost a file to the server's bound
        self._lock = threading.Lock()

    def add_file(self, session_id: str, file) -> None:
        """Streamlit's add_file, then both bounds (its oldest files, then the server's)."""
        self._add(session_id, file)
        # NOTE: uploads of many sessions arrive on the server's event loop and its worker threads at once; the
        # manager locks its own dicts, this lock the choice of what goes.
        with self._lock:
            self._arrival[file.file_id] = next(self._count)
            held = self._held()
            own = held.get(session_id, [])  # oldest first
            while len(own) > 1 and (len(own) > self.files or sum(len(f.data) for f in own) > self.size):
                self.manager.remove_file(session_id, own.pop(0).file_id)
            self._keep_budget(held, file.file_id)

    def _held(self) -> dict[str, list]:
        # list() copies each dict in one step under the GIL: a session may be freed meanwhile.
        held = {sid: list(files.values()) for sid, files in list(self.manager.file_storage.items())}
        alive = {f.file_id for files in held.values() for f in files}
        for gone in [fid for fid in self._arrival if fid not in alive]:
            del self._arrival[gone]
        return held

    def _keep_budget(self, held: dict[str, list], newest: str) -> None:
        total = sum(len(f.data) for files in held.values() for f in files)
        if total <= self.budget:
            return
        order = sorted(((self.connected(sid), self._arrival.get(f.file_id, -1), sid, f)
                        for sid, files in held.items() for f in files if f.file_id != newest),
                       key=lambda row: row[:2])
        for _, _, sid, f in order:
            if total <= self.budget:
                break
            self.manager.remove_file(sid, f.file_id)
            self._arrival.pop(f.file_id, None)
            total -= len(f.data)
            self._tell(sid)

    def session_closed(self, session_id: str) -> None:
        """Free a session's files now (its socket closed); it is told if it comes back."""
        with self._lock:
            if self.manager.file_storage.get(session_id):
                self._tell(session_id)
            self.manager.remove_session_files(session_id)

    def _tell(self, session_id: str) -> None:
        self._told[session_id] = True
        self._told.move_to_end(session_id)
        while len(self._told) > MAX_NOTICES:
            self._told.popitem(last=False)

    def notice(self, session_id: str) -> str | None:
        """One sentence, once, for a session whose files the server let go; None otherwise."""
        with self._lock:
            if self._told.pop(session_id, False):
                return (f"The server let go of a file you uploaded to make room for other visitors' uploads (it "
                        f"holds {self.budget >> 20} MB of them at most); please upload it again.")
        return None

    def held_bytes(self) -> int:
        with self._lock:
            return sum(len(f.data) for files in self._held().values() for f in files)


def cap_sessions(manager, files: int = SESSION_FILES, size: int = SESSION_BYTES, budget: int = SERVER_BYTES,
                 connected: Callable[[str], bool] | None = None) -> UploadBound:
    """Install the bounds on an upload manager (Streamlit's `runtime.uploaded_file_mgr`); idempotent: the one
    already there is returned."""
    with _LOCK:
        bound = getattr(manager, _BOUND, None)
        if bound is None:
            bound = UploadBound(manager, connected or (lambda _: True), files, size, budget)
            manager.add_file = bound.add_file
            setattr(manager, _BOUND, bound)
        return bound


def bound_uploads(runtime, session_id: str | None = None) -> str | None:
    """Install the bounds on a Streamlit runtime (its `uploaded_file_mgr`, `is_active_session(session_id)`, which
    only the upload endpoint asks, on the event loop, before it reads a body, and `disconnect_session(session_id,
    ...)`, which the socket's end calls); idempotent. Returns the sentence for `session_id` when the server let
    go of its files (once), else None."""
    bound = cap_sessions(runtime.uploaded_file_mgr, connected=runtime.is_active_session)
    with _LOCK:
        if not getattr(runtime, _BOUND, False):
            active, disconnect = runtime.is_active_session, runtime.disconnect_session

            def is_active_session(session_id: str) -> bool:
                _limit_readers()
                return active(session_id)

            def disconnect_session(session_id: str, *args, **kwargs) -> None:
                disconnect(session_id, *args, **kwargs)
                if not active(session_id):  # not taken over by another socket
                    bound.session_closed(session_id)

            runtime.is_active_session, runtime.disconnect_session = is_active_session, disconnect_session
            setattr(runtime, _BOUND, True)
            _return_big_buffers()
    return bound.notice(session_id) if session_id else None


def _limit_readers() -> None:
    """At most READERS worker threads on the server's event loop. NOTE: Streamlit reads each upload's body (spooled
    to disk while it arrives) into memory on one of them: 40 bodies of 24 MB read at once took the server +700 MB
    for a few seconds, whatever the store then kept. Its other users (static files, in chunks) barely wait."""
    try:
        from anyio import to_thread  # Starlette's own thread pool; only in a running server

        limiter = to_thread.current_default_thread_limiter()
        if limiter.total_tokens > READERS:
            limiter.total_tokens = READERS
    except Exception:  # noqa: BLE001 - not on an event loop (a test), or another server: nothing to limit
        pass


def _return_big_buffers() -> None:
    """Big buffers (uploads) each get their own mapping, returned to the system when freed. NOTE: process-wide;
    glibc otherwise raises its threshold after the first big free and keeps later ones in its heap: 160 MB held
    after 40 sessions' uploads left the server +348 MB, +183 MB with this."""
    try:
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_FROM)
    except (OSError, AttributeError):  # not glibc
        pass
