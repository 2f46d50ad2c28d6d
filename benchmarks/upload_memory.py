"""What strangers' uploads cost the server's memory: `streamlit run app.py` in public mode, six browser sessions
each sending uploads straight to Streamlit's upload endpoint (as a script can; no widget ever reads them).

    python -m benchmarks.upload_memory [--sessions 6] [--uploads 10] [--mb 24]

Each session first uploads a small photo through the page (to learn its upload address and XSRF token), then
one 100 MB file (refused: over server.maxUploadSize) and UPLOADS files of MB megabytes (each under it).
Printed: the server's resident memory before and after, and what each request got. Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import requests

from benchmarks.concurrent_marks import CHROMIUM, PHOTO_INPUT
from tests.launch import serve


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=6)
    p.add_argument("--uploads", type=int, default=10)
    p.add_argument("--mb", type=int, default=24)
    p.add_argument("--port", type=int, default=8778)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "small.png"
        cv2.imwrite(str(photo), np.full((240, 320, 3), 128, np.uint8))
        server = serve(a.port, FER_PUBLIC="1", FER_RUNS=str(Path(tmp) / "runs"))
        url = f"http://127.0.0.1:{a.port}"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                pages, targets = [], []
                for _ in range(a.sessions):
                    page = browser.new_context().new_page()
                    page.goto(url)
                    page.get_by_text("Photo", exact=True).first.click()
                    with page.expect_request(lambda r: "/_stcore/upload_file/" in r.url and r.method == "PUT") as req:
                        page.locator(PHOTO_INPUT).set_input_files(str(photo))
                    pages.append(page)
                    targets.append((req.value.url.rsplit("/", 1)[0], req.value.headers.get("x-xsrftoken", "")))
                time.sleep(2)  # the small photos' reruns settle
                before = rss_mb(server.pid)
                results: dict[str, int] = {}
                big, small = bytes(100 << 20), bytes(a.mb << 20)
                for page, (base, token) in zip(pages, targets):
                    # Plain HTTP with the page's cookies (the XSRF cookie): Playwright's own request API
                    # pipes each body through its driver and took minutes per session.
                    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
                    for i, data in enumerate([big] + [small] * a.uploads):
                        r = requests.put(f"{base}/probe{i}", headers={"X-Xsrftoken": token}, cookies=cookies,
                                         files={"file": (f"f{i}.png", data, "image/png")}, timeout=120)
                        label = "100 MB" if i == 0 else f"{a.mb} MB"
                        results[f"{label} -> {r.status_code}"] = results.get(f"{label} -> {r.status_code}", 0) + 1
                after = rss_mb(server.pid)
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    print(f"{a.sessions} sessions: {', '.join(f'{n} x {k}' for k, n in results.items())}; server RSS "
          f"{before:.0f} MB before, {after:.0f} MB after ({after - before:+.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
