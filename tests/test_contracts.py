"""Structure the rest relies on: every fer module imports on its own (no import loop), the private parts of
streamlit-webrtc and Streamlit the app touches still exist, and the repository's model files stay small."""

import ast
import inspect
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

import pytest

from fer.vision.images import MAX_UPLOAD_MB
from fer.vision.live import WEBRTC_RENDERED_RUN_COUNT
from tests.conftest import ROOT, run_async

MODULES = sorted(".".join(p.relative_to(ROOT / "fer").with_suffix("").parts).removesuffix(".__init__")
                 for p in (ROOT / "fer").rglob("*.py") if p != ROOT / "fer" / "__init__.py")


@pytest.fixture(scope="module")
def imported_alone() -> dict[str, subprocess.CompletedProcess]:
    """Each module imported in a fresh interpreter of its own, as many at once as there are cores (each mostly
    imports torch or OpenCV: one after another they took most of a minute)."""
    def alone(module: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", f"import fer.{module}"], cwd=ROOT, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(zip(MODULES, pool.map(alone, MODULES)))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports_alone(module, imported_alone):
    """A fresh interpreter per module: an import loop fails here whichever module is imported first."""
    out = imported_alone[module]
    assert out.returncode == 0, out.stderr


# Which part may import which (the shared words at fer/'s top are open to all; the commands there may use any).
LAYERS = {"server": set(), "vision": {"server"}, "profiles": {"vision"}, "recommend": {"server", "profiles"},
          "training": {"server", "vision"}}
SHARED_WORDS = {"emotions", "genres", "files", "model"}


def test_parts_import_only_the_parts_below_them():
    """The architecture is the folder tree: a part reaches only the shared words and the parts it builds on."""
    broken = []
    for path in (ROOT / "fer").rglob("*.py"):
        parts = path.relative_to(ROOT / "fer").with_suffix("").parts
        mine = parts[0] if len(parts) > 1 else None
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fer.")):
                continue
            theirs = node.module.split(".")[1]
            if mine is None and parts[0] in SHARED_WORDS and theirs not in SHARED_WORDS:
                broken.append(f"{path.name} (a shared word) imports {node.module}")
            elif mine and theirs != mine and theirs not in SHARED_WORDS and theirs not in LAYERS[mine]:
                broken.append(f"fer/{'/'.join(parts)}.py imports {node.module}")
    assert not broken, broken


def test_the_readme_table_is_the_folder_tree():
    """A newcomer finds every part from the README: each folder of fer/ and each of its modules is named there."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Where things live"):readme.index("## More")]
    missing = [str(p.relative_to(ROOT)) for p in (ROOT / "fer").iterdir() if p.is_dir() and p.name != "__pycache__"
               and f"`fer/{p.name}/`" not in table]
    missing += [str(p.relative_to(ROOT)) for p in (ROOT / "fer").glob("*/*.py")
                if p.stem != "__init__" and f"`{p.stem}`" not in table]
    assert not missing, missing


def test_the_library_never_imports_streamlit():
    code = "import sys, " + ", ".join(f"fer.{m}" for m in MODULES) + "; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_streamlit_webrtc_still_has_the_attribute_keep_stream_alive_clears():
    from streamlit_webrtc import component
    from streamlit_webrtc.component import WebRtcStreamerContext, WebRtcStreamerState

    ctx = WebRtcStreamerContext(worker=None, state=WebRtcStreamerState(playing=False, signalling=False))
    where = f"streamlit-webrtc {version('streamlit-webrtc')}: WebRtcStreamerContext.{WEBRTC_RENDERED_RUN_COUNT}"
    assert hasattr(ctx, WEBRTC_RENDERED_RUN_COUNT), f"{where} is gone; ui.inputs.keep_stream_alive no longer works"
    assert f"context.{WEBRTC_RENDERED_RUN_COUNT} is not None" in inspect.getsource(component), \
        f"{where} no longer drives the orphan check; re-check ui.inputs.keep_stream_alive"


def test_streamlit_still_gives_a_session_its_sockets_peer_where_ui_client_reads_it(monkeypatch):
    """ui.client.connection reads the peer through Streamlit's private path, the one st.context reads headers
    through (streamlit.runtime.context._get_client_context): Runtime.get_client(session_id).client_context.remote_ip.
    Renamed, it reads None: every peer unknown, so the owner of a local app silently becomes a visitor. Here a
    session client as Streamlit's server makes one per websocket (a peer, a Host header) goes through it."""
    from types import SimpleNamespace

    import streamlit.runtime.context
    from starlette.websockets import WebSocket
    from streamlit import runtime
    from streamlit.runtime import Runtime
    from streamlit.web.server.starlette.starlette_websocket import StarletteSessionClient

    import ui.client

    where = f"streamlit {version('streamlit')}: Runtime.get_client(session_id).client_context.remote_ip"
    assert "session_id" in inspect.signature(Runtime.get_client).parameters, \
        f"{where}: Runtime.get_client is gone; ui.client.connection no longer finds the session's peer"

    async def server_side():
        scope = {"type": "websocket", "path": "/_stcore/stream", "client": ("203.0.113.7", 50000),
                 "headers": [(b"host", b"films.example:8501")]}
        session = StarletteSessionClient(WebSocket(scope, receive=None, send=None))  # its sender needs a loop
        ctx = SimpleNamespace(session_id="s")
        monkeypatch.setattr(runtime, "exists", lambda: True)
        monkeypatch.setattr(runtime, "get_instance", lambda: SimpleNamespace(get_client={"s": session}.get))
        monkeypatch.setattr(ui.client, "get_script_run_ctx", lambda: ctx)
        monkeypatch.setattr(streamlit.runtime.context, "get_script_run_ctx", lambda: ctx)  # st.context's headers
        try:
            return ui.client.connection()
        finally:
            await session.aclose()

    client = run_async(server_side())
    assert client.address == "203.0.113.7", f"{where} is gone; ui.client.connection sees every peer as unknown"
    assert client.host == "films.example:8501", f"{where}: st.context.headers no longer reads the same session"


def test_the_repositorys_model_files_stay_within_40_mb():
    """Every clone and deploy downloads them: shipped model, export, candidates, resume checkpoints."""
    tracked = subprocess.run(["git", "ls-files", "models"], cwd=ROOT, capture_output=True, text=True, check=True)
    sizes = {f: (ROOT / f).stat().st_size for f in tracked.stdout.split() if f.endswith((".pt", ".onnx"))}
    assert "models/emotion_cnn.pt" in sizes and sum(sizes.values()) <= 40e6, sizes


def test_the_server_refuses_uploads_above_the_photo_limit():
    """Streamlit checks a widget's max_upload_size only in the browser; the server enforces its own
    server.maxUploadSize (while the body streams in), which must be the photo limit."""
    code = ("from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(config.get_option('server.maxUploadSize'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == str(MAX_UPLOAD_MB), out.stderr


def test_one_sessions_uploads_are_bounded_in_memory():
    """Streamlit's own upload manager, capped as the app caps it: a client that uploads file after file (no
    widget reads them) holds at most SESSION_FILES / SESSION_BYTES; other sessions and the newest file stay."""
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    from streamlit.runtime.uploaded_file_manager import UploadedFileRec

    from fer.server.uploads import SESSION_BYTES, SESSION_FILES, cap_sessions

    manager = MemoryUploadedFileManager("/_stcore/upload_file")
    cap_sessions(manager)
    cap_sessions(manager)  # every page run installs it: once is enough
    for i in range(30):
        manager.add_file("stranger", UploadedFileRec(f"f{i}", "x.png", "image/png", bytes(20 << 20)))
    manager.add_file("visitor", UploadedFileRec("mine", "me.png", "image/png", b"photo"))
    held = manager.file_storage["stranger"]
    assert len(held) <= SESSION_FILES and sum(len(f.data) for f in held.values()) <= SESSION_BYTES
    assert "f29" in held and [f.file_id for f in manager.get_files("visitor", ["mine"])] == ["mine"]


def test_streamlit_components_v2_still_mounts_an_inline_js_component_with_state_callbacks():
    """The browser profile (ui/browser.py) is an inline-JS st.components.v2 component whose state values
    ("stored", "failed") come back through session state under its key; the real browser side is
    tests/app/test_e2e_profiles.py::test_a_public_visitors_profile_lives_in_their_browser_only."""
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        store = st.components.v2.component("contract.store", js="export default function () {}")
        result = store(key="store", data={"key": "k", "read": True}, on_stored_change=lambda: None,
                       on_failed_change=lambda: None)
        st.write(repr(result.stored), repr(dict(st.session_state.get("store") or {})))

    at = AppTest.from_function(page).run()
    assert not at.exception, at.exception
    assert at.markdown[0].value == "None {}"  # nothing answered yet: the app waits one run, then goes on
