"""How long a mark takes to show: `streamlit run app.py`, one headless Chromium visitor with a photo read and
the 50-film list, clicking "Seen" on the top film again and again (hide seen is on, so the film leaves).

    python -m benchmarks.mark_latency [--clicks 20]

Two times per click: the server's, the run of the script (or fragment) that the click started, timed inside
the server (benchmarks/timed_streamlit.py), and the whole round trip, from the click in the browser until the
page no longer shows the film. Printed: p50 / p95 / max of each. Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.concurrent_marks import CHROMIUM, face_photo, open_with_photo
from tests.launch import serve


def _runs(path: Path) -> list[tuple[str, float]]:
    lines = path.read_text().split() if path.exists() else []
    return [(kind, float(t)) for kind, t in zip(lines[::2], lines[1::2])]


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clicks", type=int, default=20)
    p.add_argument("--port", type=int, default=8779)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        photo = face_photo(Path(tmp))
        times = Path(tmp) / "runs.txt"
        server = serve(a.port, streamlit="benchmarks.timed_streamlit",
                           FER_PROFILE_DIR=str(Path(tmp) / "profile"), FER_RUN_TIMES=str(times))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                rows = open_with_photo(page, f"http://127.0.0.1:{a.port}", photo)
                trips, runs, kinds = [], [], set()
                for _ in range(a.clicks + 1):
                    top = rows.first
                    name = str(top.get_attribute("class")).split("st-key-")[1].split()[0]
                    before = _runs(times)
                    start = time.perf_counter()
                    top.get_by_role("button", name="Seen").click()
                    page.locator(f".st-key-{name}").wait_for(state="detached", timeout=60_000)
                    trips.append(time.perf_counter() - start)
                    rows.nth(49).wait_for(timeout=60_000)  # the list is whole again
                    deadline = time.time() + 30
                    while len(_runs(times)) == len(before):  # the run's line is written as it ends
                        if time.time() > deadline:
                            raise SystemExit("the server timed no run for the click")
                        page.wait_for_timeout(20)
                    started = _runs(times)[len(before):]
                    runs.append(sum(t for _, t in started))
                    kinds |= {kind for kind, _ in started}
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    print(f"{a.clicks} marks with 50 films listed (the first click, which warms the page, not counted); "
          f"the runs clicks started: {' and '.join(sorted(kinds))}")
    for label, spans in (("server: the run a click starts", runs), ("round trip: click -> film gone", trips)):
        ms = np.array(spans[1:]) * 1000
        print(f"  {label}: p50 {np.median(ms):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms, max {ms.max():.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
