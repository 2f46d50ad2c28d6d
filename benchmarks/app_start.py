"""App start-up time and the webcam frame callback's cost.

    python -m benchmarks.app_start [--runs 3] [--frames 300] [--trace] [--drop-caches]

1. Seconds from `streamlit run app.py` to the first fully rendered page in headless Chromium: the
   recogniser loaded (the webcam component is on the page) and the catalogue loaded (its caption shows).
   --drop-caches empties the OS file cache before each start (root only), like the first start after a boot.
2. p50 / p95 ms of the real frame callback (av.VideoFrame in and out, pipeline, smoothing, drawing) on
   640x480 frames, next to the bare pipeline (`EmotionRecognizer.predict` with a StreamTracker).
"""

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

from fer.vision.detect import StreamTracker
from fer.vision.live import LiveMood
from fer.vision.recognizer import EmotionRecognizer
from tests.scenes import astronaut_frame

ROOT = Path(__file__).resolve().parent.parent


def drop_file_cache() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def start_seconds(port: int) -> dict[str, float]:
    """Seconds from `streamlit run` to each step; the last, "webcam component", is the fully rendered page."""
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    steps: dict[str, float] = {}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            steps["chromium up"] = time.perf_counter() - t0
            page = browser.new_page()
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}", timeout=2000)
                    break
                except Exception:  # noqa: BLE001 (server not listening yet)
                    time.sleep(0.05)
            steps["page shell loaded"] = time.perf_counter() - t0
            page.get_by_text("Mood to movie").first.wait_for(timeout=60_000)
            steps["title shown"] = time.perf_counter() - t0
            page.get_by_text("Catalogue:").wait_for(timeout=60_000)
            steps["catalogue shown"] = time.perf_counter() - t0
            page.locator('iframe[title="streamlit_webrtc.component.webrtc_streamer"]').wait_for(timeout=60_000)
            steps["webcam component"] = time.perf_counter() - t0
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return steps


def callback_ms(frames: int) -> tuple[np.ndarray, np.ndarray]:
    rec = EmotionRecognizer.load()
    images = [astronaut_frame(dx=round(24 * math.sin(i / 15)))[0] for i in range(frames)]
    video = [av.VideoFrame.from_ndarray(im, format="bgr24") for im in images]
    on_frame = LiveMood(rec).frame_callback()
    tracker = StreamTracker()
    cb, bare = [], []
    for im, fr in zip(images, video):
        t0 = time.perf_counter()
        rec.predict(im, tracker)
        t1 = time.perf_counter()
        on_frame(fr)
        t2 = time.perf_counter()
        bare.append((t1 - t0) * 1e3)
        cb.append((t2 - t1) * 1e3)
    return np.array(bare[5:]), np.array(cb[5:])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--trace", action="store_true", help="also print when each step of each start was reached")
    p.add_argument("--drop-caches", action="store_true", help="empty the OS file cache before each start (root)")
    a = p.parse_args()
    traces = []
    for i in range(a.runs):
        if a.drop_caches:
            try:
                drop_file_cache()
            except OSError as e:
                p.error(f"--drop-caches: cannot write /proc/sys/vm/drop_caches ({e.strerror}); run as root.")
        traces.append(start_seconds(8700 + i))
    if a.trace:
        for t in traces:
            print("  ".join(f"{k} {v:.2f} s" for k, v in t.items()))
    starts = [t["webcam component"] for t in traces]
    print(f"app start to fully rendered page: {', '.join(f'{s:.2f}' for s in starts)} s "
          f"(median {np.median(starts):.2f} s)")
    bare, cb = callback_ms(a.frames)
    for name, t in (("pipeline (predict)", bare), ("frame callback", cb)):
        print(f"{name:20s} p50 {np.percentile(t, 50):6.2f} ms  p95 {np.percentile(t, 95):6.2f} ms")


if __name__ == "__main__":
    main()
