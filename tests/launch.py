"""`streamlit run app.py` as a child process, returned once it answers: the one launcher of the browser tests
(tests/test_e2e.py) and the browser benchmarks (benchmarks/concurrent_marks.py and those that import it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fer.files import ROOT


def start_app(port: int, log: Path | None = None, streamlit: str = "streamlit", **env: str) -> subprocess.Popen:
    """The app on this loopback port with these extra environment variables, once its health check answers
    (within 60 s). Its output goes to `log` (None: discarded); `streamlit` is the module that runs it
    (benchmarks.timed_streamlit times each run). The IMDb refresh source points nowhere: no test or benchmark
    touches the network. RuntimeError, with the log's tail, when the port is taken or the app does not start."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} is in use (a server left from an earlier run?)")
    env = {**os.environ, "FER_IMDB_SOURCE": "http://127.0.0.1:9/", **env}
    with open(log, "w") if log else open(os.devnull, "w") as out:  # the child keeps its own handle
        proc = subprocess.Popen([sys.executable, "-m", streamlit, "run", "app.py", "--server.port", str(port),
                                 "--server.headless", "true", "--browser.gatherUsageStats", "false",
                                 "--server.fileWatcherType", "none"], cwd=ROOT, env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.3)  # polls a condition: the loop ends as soon as the server answers
    proc.kill()
    proc.wait()
    raise RuntimeError("streamlit did not start" + (f": {log.read_text()[-2000:]}" if log else ""))


def serve(port: int, log: Path | None = None, streamlit: str = "streamlit", **env: str) -> subprocess.Popen:
    """`start_app` for a command line (the benchmarks): an app that cannot start is one sentence, not a traceback."""
    try:
        return start_app(port, log, streamlit, **env)
    except RuntimeError as e:
        raise SystemExit(f"The app could not be started: {str(e).strip()}") from None
