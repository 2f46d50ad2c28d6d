"""Optional posters, against a local fake of the poster service (never the internet)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import cv2
import numpy as np
import pytest

from fer.recommend import posters as posters_module
from fer.recommend.posters import Posters

JPEG = cv2.imencode(".jpg", np.full((60, 40, 3), 128, np.uint8))[1].tobytes()


class FakePosterService:
    """OMDb's shape: /?i=tt...&apikey=K -> {"Poster": url}; the poster URL serves the image. `mode` per id."""

    def __init__(self):
        self.requests: list[str] = []
        self.modes: dict[str, str] = {}  # tconst -> "none" | "html" | "huge" | "slow"
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                url = urlparse(self.path)
                service.requests.append(self.path)
                if url.path.startswith("/img/"):
                    tconst = url.path[5:]
                    mode = service.modes.get(tconst)
                    body = b"<html>nope</html>" if mode == "html" else \
                        JPEG + b"0" * (3 << 20) if mode == "huge" else JPEG
                    return self._send(body, "image/jpeg")
                q = parse_qs(url.query)
                if q.get("apikey") != ["KEY"]:
                    return self._send(json.dumps({"Response": "False", "Error": "Invalid API key!"}).encode(),
                                      status=401)
                tconst = q["i"][0]
                if service.modes.get(tconst) == "slow":
                    time.sleep(8)
                poster = "N/A" if service.modes.get(tconst) == "none" else f"{service.url}img/{tconst}"
                self._send(json.dumps({"Title": "x", "Poster": poster}).encode())

            def _send(self, body: bytes, kind: str = "application/json", status: int = 200):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    with FakePosterService() as s:
        yield s


def test_posters_are_fetched_once_and_then_served_from_the_disk_cache(service, tmp_path):
    ids = [f"tt{i:07d}" for i in range(1, 6)]
    got = Posters("KEY", tmp_path, service.url).get(ids)
    assert all(got[t] == JPEG for t in ids)
    asked = len(service.requests)
    assert asked == 10  # one lookup and one image each
    again = Posters("KEY", tmp_path, service.url).get(ids)  # a new process: the disk cache
    assert again == got and len(service.requests) == asked


def test_no_poster_bad_key_bad_bytes_and_a_dead_service_show_nothing_and_raise_nothing(service, tmp_path):
    service.modes.update(tt0000001="none", tt0000002="html", tt0000003="huge")
    p = Posters("KEY", tmp_path, service.url)
    assert p.get(["tt0000001", "tt0000002", "tt0000003", "not-an-id"]) == dict.fromkeys(
        ["tt0000001", "tt0000002", "tt0000003", "not-an-id"])
    asked = len(service.requests)
    assert p.one("tt0000001") is None and len(service.requests) == asked  # "no poster" is remembered
    assert Posters("WRONG", tmp_path / "b", service.url).one("tt0000004") is None
    dead = Posters("KEY", tmp_path / "c", "http://127.0.0.1:9/")
    t0 = time.monotonic()
    assert dead.one("tt0000005") is None and dead.one("tt0000005") is None  # the second is not retried
    assert time.monotonic() - t0 < 5


def test_a_slow_service_times_out(service, tmp_path, monkeypatch):
    monkeypatch.setattr(posters_module, "TIMEOUT", (1, 1))
    service.modes["tt0000001"] = "slow"
    t0 = time.monotonic()
    assert Posters("KEY", tmp_path, service.url).one("tt0000001") is None
    assert time.monotonic() - t0 < 4


def test_the_cache_keeps_under_its_cap(service, tmp_path):
    p = Posters("KEY", tmp_path, service.url, cache_bytes=3 * len(JPEG))
    for i in range(1, 8):
        assert p.one(f"tt{i:07d}") == JPEG
        time.sleep(0.01)  # distinct modification times: the oldest go first
    assert sum(f.stat().st_size for f in tmp_path.glob("tt*")) <= 3 * len(JPEG)
    assert (tmp_path / "tt0000007.img").exists() and not (tmp_path / "tt0000001.img").exists()


def test_memory_serves_the_live_list_without_the_disk_and_keeps_under_its_byte_cap(service, tmp_path, monkeypatch):
    monkeypatch.setattr(posters_module, "MEMORY_BYTES", 2 * len(JPEG))
    p = Posters("KEY", tmp_path, service.url)
    ids = [f"tt{i:07d}" for i in range(1, 4)]
    # NOTE: one at a time, so memory's order is known (get() fetches concurrently, in any order)
    assert [p.one(t) for t in ids] == [JPEG] * 3
    for f in tmp_path.glob("tt*"):
        f.unlink()  # from now on only memory or the service can answer
    asked = len(service.requests)
    assert p.get(ids[1:]) == dict.fromkeys(ids[1:], JPEG) and len(service.requests) == asked  # the newest two
    assert p.one(ids[0]) == JPEG and len(service.requests) == asked + 2  # dropped from memory: fetched again
