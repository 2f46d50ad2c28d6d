"""What strangers' uploads cost the server's memory: `streamlit run app.py` in public mode, SESSIONS scripted
sessions at once, each sending files straight to Streamlit's upload endpoint (no browser, no widget ever reads
them), the way a script can.

    python -m benchmarks.upload_memory [--sessions 40] [--mb 24 5] [--no-page-run] [--wait 10]

Each session opens Streamlit's socket (loopback only), asks for upload addresses (the BackMsg a file widget
sends; no page run) and PUTs one file of each size in --mb; all sessions at once. First one visitor's page runs
(--no-page-run: none, a script striking a freshly started server; fer.server.uploads is in place from the server's
start either way). Printed: the server's resident memory idle (after that page run, if any), its peak while the
files arrive (sampled every 50 ms), after them, and --wait seconds after every socket closed; with the bytes
Streamlit's upload store holds (its /_stcore/metrics). Bounded: at most 100 sessions, 25 MB a file, 120 s of uploading.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.launch import serve

MAX_SESSIONS, MAX_MB, TIME_LIMIT_S = 100, 25, 120
BOUNDARY = "fer-upload-memory"


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def store_mb(url: str) -> float:
    """`store_now` once Streamlit's 5 s cache of that figure ran out."""
    time.sleep(5.5)
    return store_now(url)


def store_now(url: str) -> float:
    """MB in Streamlit's upload store, from its own metrics (0 when it holds nothing). Streamlit computes the figure
    at most once every 5 s: a server's first reading is fresh."""
    text = requests.get(f"{url}/_stcore/metrics", params={"families": "cache_memory_bytes"}, timeout=30).text
    found = re.search(r'cache_type="UploadedFileManager"[^}]*}\s+(\d+)', text)
    return int(found.group(1)) / 2**20 if found else 0.0


def body_file(folder: Path, mb: int) -> Path:
    """A multipart body with one file of `mb` MB, written once and streamed by every session (the client's
    memory is not the server's)."""
    path = folder / f"body{mb}.bin"
    with open(path, "wb") as f:
        f.write(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="f{mb}.png"\r\n'
                "Content-Type: image/png\r\n\r\n".encode())
        f.write(bytes(mb << 20))
        f.write(f"\r\n--{BOUNDARY}--\r\n".encode())
    return path


class Session:
    """One scripted visitor: its socket, and the upload addresses the server gave it."""

    def __init__(self, ws, urls: list[str]) -> None:
        self.ws, self.urls = ws, urls


async def open_session(url: str, files: int, run_page: bool = False):
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState
    from streamlit.proto.Common_pb2 import FileURLsRequest

    ws = await websockets.connect(url.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"],
                                  max_size=None, open_timeout=60)
    if run_page:  # to its end first: a run that starts clears what is queued for the socket, addresses included
        await ws.send(BackMsg(rerun_script=ClientState()).SerializeToString())
        await _until(ws, "script_finished")
    ask = BackMsg(file_urls_request=FileURLsRequest(request_id="r", file_names=[f"f{i}" for i in range(files)]))
    await ws.send(ask.SerializeToString())
    answer = await _until(ws, "file_urls_response")
    return Session(ws, [f.upload_url for f in answer.file_urls_response.file_urls])


async def _until(ws, kind: str):
    """The next ForwardMsg of this kind on the socket (the others skipped)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await asyncio.wait_for(ws.recv(), 120))
        if msg.WhichOneof("type") == kind:
            return msg


def put(url: str, path: Path, cookie: str, deadline: float) -> int:
    with open(path, "rb") as body:
        r = requests.put(url, data=body, timeout=max(1.0, deadline - time.monotonic()),
                         headers={"X-Xsrftoken": cookie, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                                  "Content-Length": str(path.stat().st_size)},
                         cookies={"_streamlit_xsrf": cookie})
    return r.status_code


class Peak:
    """The server's largest resident memory while it runs (sampled every 50 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.mb = max(self.mb, rss_mb(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.mb


async def attack(url: str, pid: int, a: argparse.Namespace, bodies: list[Path]) -> dict:
    cookie = requests.get(f"{url}/_stcore/health", timeout=30).cookies["_streamlit_xsrf"]
    visitor = await open_session(url, 1, run_page=a.page_run) if a.page_run else None
    await asyncio.sleep(3)  # the page run's after-effects settle
    out = {"idle": rss_mb(pid), "store_idle": store_mb(url)}
    sessions = await asyncio.gather(*(open_session(url, len(bodies)) for _ in range(a.sessions)))
    peak, deadline, codes = Peak(pid), time.monotonic() + TIME_LIMIT_S, {}
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(a.sessions) as pool:

        def one_session(s: Session) -> list[int]:
            return [put(f"{url}{u}", body, cookie, deadline) for u, body in zip(s.urls, bodies)]

        for got in await asyncio.gather(*(loop.run_in_executor(pool, one_session, s) for s in sessions)):
            for code in got:
                codes[code] = codes.get(code, 0) + 1
    out.update(seconds=time.monotonic() - started, codes=codes, peak=peak.stop(), after=rss_mb(pid),
               store_after=store_mb(url))
    for s in sessions + ([visitor] if visitor else []):
        await s.ws.close()
    await asyncio.sleep(a.wait)
    out.update(closed=rss_mb(pid), store_closed=store_mb(url))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=40)
    p.add_argument("--mb", type=int, nargs="+", default=[24, 5], help="one file of each size per session")
    p.add_argument("--no-page-run", dest="page_run", action="store_false",
                   help="no visitor's page runs first (a freshly started server)")
    p.add_argument("--wait", type=float, default=10, help="seconds after the sockets close before the last reading")
    p.add_argument("--port", type=int, default=8778)
    a = p.parse_args(argv)
    if not 1 <= a.sessions <= MAX_SESSIONS or not all(1 <= mb <= MAX_MB for mb in a.mb) or not 0 <= a.wait <= 300:
        raise SystemExit(f"At most {MAX_SESSIONS} sessions, files of 1 to {MAX_MB} MB, a wait of at most 300 s.")
    with tempfile.TemporaryDirectory() as tmp:
        bodies = [body_file(Path(tmp), mb) for mb in a.mb]
        server = serve(a.port, FER_PUBLIC="1", FER_RUNS=str(Path(tmp) / "runs"))
        url = f"http://127.0.0.1:{a.port}"
        try:
            r = asyncio.run(attack(url, server.pid, a, bodies))
        except (TimeoutError, OSError) as e:
            raise SystemExit(f"The server stopped answering the scripted sessions ({type(e).__name__}); a busy "
                             "machine may need fewer --sessions.") from None
        finally:
            server.terminate()
            server.wait(10)
    codes = ", ".join(f"{n} x HTTP {c}" for c, n in sorted(r["codes"].items()))
    print(f"{a.sessions} sessions x ({' + '.join(f'{mb} MB' for mb in a.mb)}), "
          f"{'after one page run' if a.page_run else 'no page run'}: {codes} in {r['seconds']:.1f} s")
    print(f"server RSS: idle {r['idle']:.0f} MB, peak {r['peak']:.0f} MB ({r['peak'] - r['idle']:+.0f}), after "
          f"{r['after']:.0f} MB ({r['after'] - r['idle']:+.0f}), {a.wait:g} s after every socket closed "
          f"{r['closed']:.0f} MB ({r['closed'] - r['idle']:+.0f})")
    print(f"upload store: idle {r['store_idle']:.0f} MB, after {r['store_after']:.0f} MB, closed "
          f"{r['store_closed']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
