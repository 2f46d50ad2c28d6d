"""The upload bounds (fer/server/uploads.py) hold from the server's start (issue 49): a script that uploads to a
freshly started `streamlit run app.py`, before anyone's page ever ran, meets them. app.py's st.App installs them
in its start hook; when the first page run did, such scripts held 1,160 MB (benchmarks/upload_memory.py)."""

import asyncio
import time
from pathlib import Path

import requests

from benchmarks.upload_memory import body_file, open_session, put, store_now
from fer.server.uploads import SESSION_FILES
from tests.conftest import free_port, run_async
from tests.launch import start_app


async def _upload_then_close(url: str, body: Path) -> tuple[float, float]:
    """One scripted session (a socket and upload addresses, no page run) sends SESSION_FILES + 1 files of 1 MB
    and closes its socket: the MB held then, and after (0 once freed; the last reading when not freed in 30 s)."""
    cookie = requests.get(f"{url}/_stcore/health", timeout=30).cookies["_streamlit_xsrf"]
    session = await open_session(url, SESSION_FILES + 1)
    deadline = time.monotonic() + 60
    assert [put(f"{url}{u}", body, cookie, deadline) for u in session.urls] == [204] * (SESSION_FILES + 1)
    held = store_now(url)  # the server's first reading of its metrics: fresh
    await session.ws.close()
    deadline = time.monotonic() + 30
    while (after := store_now(url)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)  # polls a condition: Streamlit refreshes the figure every 5 s
    return held, after


def test_a_fresh_server_bounds_uploads_before_any_page_runs(tmp_path):
    port = free_port()
    server = start_app(port, tmp_path / "streamlit.log", FER_PUBLIC="1", FER_RUNS=str(tmp_path / "runs"))
    try:
        held, after = run_async(_upload_then_close(f"http://127.0.0.1:{port}", body_file(tmp_path, 1)))
    finally:
        server.terminate()
        server.wait(10)
    assert held == SESSION_FILES  # MB: its oldest file went (5 held before any page run, none bounded)
    assert after == 0  # freed as soon as its socket closed
    assert "Traceback" not in (tmp_path / "streamlit.log").read_text()
