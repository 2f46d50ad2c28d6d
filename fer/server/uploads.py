"""A bound on what one browser session's uploads may hold in the server's memory.

Streamlit keeps every uploaded file of a session in memory until the session ends, and any client can
upload any number of files (each up to server.maxUploadSize) without a widget ever reading them: six
sessions of 100 MB uploads raised a server from 580 to 1,187 MB. `cap_sessions` wraps the upload manager's
`add_file` (duck-typed: fer never imports streamlit) so a session keeps at most SESSION_FILES files and
SESSION_BYTES bytes; its oldest files go first, and the newest (the one a widget just got) always stays.
"""

from __future__ import annotations

import threading

SESSION_FILES = 4
SESSION_BYTES = 30 << 20  # a photo at the 25 MB limit, and little more
_CAPPED = "_fer_capped"
_LOCK = threading.Lock()


def cap_sessions(manager, files: int = SESSION_FILES, size: int = SESSION_BYTES) -> None:
    """Install the bound on Streamlit's MemoryUploadedFileManager (`runtime.uploaded_file_mgr`); idempotent.

    Relies on its `add_file(session_id, file)`, `remove_file(session_id, file_id)` and per-session
    `file_storage` dict in insertion order (tests/test_contracts.py checks they still exist)."""
    with _LOCK:
        if getattr(manager, _CAPPED, False):
            return
        add = manager.add_file

        def add_file(session_id: str, file) -> None:
            add(session_id, file)
            # NOTE: uploads of many sessions arrive on the server's event loop threads at once.
            with _LOCK:
                held = list(manager.file_storage.get(session_id, {}).values())  # oldest first
                while len(held) > 1 and (len(held) > files or sum(len(f.data) for f in held) > size):
                    manager.remove_file(session_id, held.pop(0).file_id)

        manager.add_file = add_file
        setattr(manager, _CAPPED, True)
