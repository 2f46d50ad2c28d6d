"""Uploads held in the server's memory (fer/server/uploads.py) on Streamlit's own upload manager: per session and
for the whole server, files of closed sockets freed at once, whoever lost a file told once; and the places in
Streamlit the bound hooks into (benchmarks/upload_memory.py measures a real server)."""

import inspect

from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from fer.server.uploads import SERVER_BYTES, SESSION_BYTES, bound_uploads, cap_sessions

MB = 1 << 20
DATA = {24: bytes(24 * MB), 5: bytes(5 * MB)}  # shared: the test itself stays small


class FakeRuntime:
    """What the bound uses of Streamlit's Runtime: its upload manager, which sessions have a socket, and the call
    the socket's end makes."""

    def __init__(self) -> None:
        self.uploaded_file_mgr = MemoryUploadedFileManager("/_stcore/upload_file")
        self.sockets: set[str] = set()

    def is_active_session(self, session_id: str) -> bool:
        return session_id in self.sockets

    def disconnect_session(self, session_id: str, client=None) -> None:
        self.sockets.discard(session_id)


def _put(manager, session: str, name: str, mb: int) -> None:
    manager.add_file(session, UploadedFileRec(name, f"{name}.png", "image/png", DATA[mb]))


def _held(manager) -> int:
    return sum(len(f.data) for files in manager.file_storage.values() for f in files.values())


def test_forty_sessions_hold_at_most_the_servers_budget_and_the_newest_file_stays():
    """Issue 49: 40 scripted sessions each sending 24 MB + 5 MB held 1,160 MB (30 MB a session was the only bound)."""
    rt = FakeRuntime()
    rt.sockets = {f"s{i}" for i in range(40)}
    bound_uploads(rt)
    manager = rt.uploaded_file_mgr
    for i in range(40):
        _put(manager, f"s{i}", f"big{i}", 24)
        _put(manager, f"s{i}", f"small{i}", 5)
        assert _held(manager) <= SERVER_BYTES
        assert manager.get_files(f"s{i}", [f"small{i}"])  # what a widget just got stays
    assert _held(manager) == sum(m.byte_length for m in manager.get_stats()["cache_memory_bytes"])  # its own count
    # the oldest went first: the last sessions keep theirs, the first ones lost theirs and are told once
    assert manager.get_files("s39", ["big39", "small39"]) and not manager.get_files("s0", ["big0", "small0"])
    note = bound_uploads(rt, "s0")
    assert note and "upload it again" in note and "\n" not in note and bound_uploads(rt, "s0") is None
    assert bound_uploads(rt, "s39") is None


def test_files_of_closed_sockets_go_first_then_the_oldest():
    rt = FakeRuntime()
    manager = rt.uploaded_file_mgr
    cap_sessions(manager, budget=30 * MB, connected=rt.is_active_session)
    rt.sockets = {"visitor", "gone", "late"}
    _put(manager, "visitor", "photo", 5)  # the oldest file, of a session still here
    _put(manager, "gone", "old", 24)
    rt.sockets.discard("gone")  # closed without Streamlit shutting it down (kept for a reconnect)
    _put(manager, "late", "new", 5)  # over 30 MB: the closed session's file goes, not the older photo
    assert manager.get_files("visitor", ["photo"]) and not manager.get_files("gone", ["old"])
    _put(manager, "late", "newer", 24)  # over again, nothing closed left: the oldest goes
    assert not manager.get_files("visitor", ["photo"]) and manager.get_files("late", ["newer"])


def test_one_sessions_bound_still_holds():
    rt = FakeRuntime()
    bound_uploads(rt)
    for i in range(5):
        _put(rt.uploaded_file_mgr, "stranger", f"f{i}", 24)
    held = rt.uploaded_file_mgr.file_storage["stranger"]
    assert list(held) == ["f4"] and _held(rt.uploaded_file_mgr) <= SESSION_BYTES


def test_a_closed_sockets_files_are_freed_at_once_and_it_is_told_if_it_comes_back():
    """Streamlit keeps a disconnected session (and its files) for a reconnect, then drops it without freeing its
    files: 1.24 GB stayed held four minutes after every socket closed."""
    rt = FakeRuntime()
    rt.sockets = {"a", "b"}
    bound_uploads(rt)
    bound_uploads(rt)  # every page run installs it: once is enough
    _put(rt.uploaded_file_mgr, "a", "fa", 5)
    _put(rt.uploaded_file_mgr, "b", "fb", 5)
    rt.disconnect_session("a", client=object())
    assert "a" not in rt.uploaded_file_mgr.file_storage and rt.uploaded_file_mgr.get_files("b", ["fb"])
    assert "upload it again" in bound_uploads(rt, "a")
    rt.sockets.add("b2")
    rt.disconnect_session("b2")  # nothing held: nothing to tell
    assert bound_uploads(rt, "b2") is None


def test_streamlit_still_calls_the_runtime_where_the_bound_hooks_in():
    """The upload endpoint asks runtime.is_active_session (its only caller) before it reads a body and hands the
    body to the manager's add_file; the socket's end calls runtime.disconnect_session. If Streamlit moves these,
    the bound silently stops: this test says so first."""
    from streamlit.runtime import Runtime
    from streamlit.web.server.starlette import starlette_routes, starlette_websocket

    upload = inspect.getsource(starlette_routes.create_upload_routes)
    assert upload.index("runtime.is_active_session(session_id)") < upload.index("await upload.read()") < \
        upload.index("upload_mgr.add_file(")
    assert "runtime.disconnect_session(session_id" in inspect.getsource(starlette_websocket)
    assert all(hasattr(Runtime, name) for name in ("is_active_session", "disconnect_session", "uploaded_file_mgr"))
    manager = MemoryUploadedFileManager("/x")
    assert all(callable(getattr(manager, name)) for name in ("add_file", "remove_file", "remove_session_files"))
