"""Are marks lost when several visitors click at once? Real browsers on one `streamlit run app.py`.

    python -m benchmarks.concurrent_marks [--visitors 6] [--clicks 8] [--rounds 7]

Each round: VISITORS headless Chromium pages upload the same face photo, then all click 👍 on CLICKS films
of their list at once (each visitor its own films, as fast as the browser takes clicks). The server runs as on
one person's machine, so every visitor writes the one profile file that can be compared with the clicks:
lost = a clicked film without its 👍 in the profile; stray = a profile row for a film nobody clicked.
Needs Chromium at /usr/bin/chromium and ../shared/datasets (for the face photo).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import cv2

from fer.profiles.store import Profile
from tests.launch import serve

CHROMIUM = "/usr/bin/chromium"
PHOTO_INPUT = '[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]'  # not "Import my data"


def face_photo(folder: Path) -> Path:
    from fer.training.data import load_dataset
    from fer.vision.recognizer import EmotionRecognizer
    from tests.conftest import FER_CSV
    from tests.scenes import confident_face

    frame, _ = confident_face(EmotionRecognizer.load(), load_dataset(FER_CSV).split("PublicTest")[0])
    path = folder / "face.png"
    cv2.imwrite(str(path), frame)
    return path


def open_with_photo(page, url: str, photo: Path):
    """The app in `page` with `photo` read, once its 50-film list shows; the list's rows (a locator)."""
    page.goto(url)
    page.get_by_text("Photo", exact=True).first.click()
    page.locator(PHOTO_INPUT).set_input_files(str(photo))
    rows = page.locator('[data-testid="stSidebar"] [class*="st-key-film_"]')
    rows.nth(49).wait_for(timeout=120_000)
    return rows


def visitor(url: str, photo: Path, index: int, clicks: int, go: threading.Barrier, out: dict,
            done: threading.Event) -> None:
    """One visitor in its own Chromium (Playwright's sync API keeps to one thread): upload, wait for the list
    and for everyone, click 👍 on its films (out[index] = the films), and stay until `done` (a closed page
    would drop the clicks the server has not processed yet)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            rows = open_with_photo(page, url, photo)
            keys = [str(rows.nth(i).get_attribute("class")).split("st-key-film_")[1].split()[0]
                    for i in range(index * clicks, (index + 1) * clicks)]
            go.wait(timeout=300)
            for k in keys:
                page.locator(f".st-key-film_{k}").get_by_role("button").nth(1).click()
            out[index] = [k.split("_", 1)[1] for k in keys]
            done.wait(timeout=300)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--visitors", type=int, default=6)
    p.add_argument("--clicks", type=int, default=8)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--port", type=int, default=8777)
    a = p.parse_args(argv)
    total_clicks = total_lost = total_stray = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = face_photo(folder)
        for r in range(a.rounds):
            run = folder / f"round{r}"
            run.mkdir()
            server = serve(a.port, FER_PROFILE_DIR=str(run / "profile"))
            try:
                out: dict = {}
                go = threading.Barrier(a.visitors)
                done = threading.Event()
                threads = [threading.Thread(target=visitor, args=(f"http://127.0.0.1:{a.port}", photo, i, a.clicks,
                                                                   go, out, done)) for i in range(a.visitors)]
                for t in threads:
                    t.start()
                while any(t.is_alive() for t in threads) and len([k for k in out if isinstance(k, int)]) < a.visitors:
                    time.sleep(0.2)
                clicked = {f for i in range(a.visitors) for f in out.get(i, [])}
                thumbs = _thumbs_when_settled(run / "profile" / "profile.db", clicked)
                done.set()
                for t in threads:
                    t.join()
                lost = {f for f in clicked if thumbs.get(f) != 1}
                stray = set(thumbs) - clicked
                total_clicks += len(clicked)
                total_lost += len(lost)
                total_stray += len(stray)
                print(f"round {r + 1}: {len(clicked)} clicks, {len(lost)} lost, {len(stray)} stray rows", flush=True)
            finally:
                server.terminate()
                server.wait(10)
    print(f"{a.visitors} visitors x {a.clicks} clicks x {a.rounds} rounds: {total_clicks} clicks, "
          f"{total_lost} lost, {total_stray} stray rows")
    return 0 if total_lost == 0 and total_stray == 0 else 1


def _thumbs_when_settled(db: Path, clicked: set[str], timeout: float = 60) -> dict[str, int]:
    """The profile's thumbs once every clicked film has its 👍, or as they are after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        thumbs = {}
        if db.exists():
            profile = Profile(db)
            thumbs = profile.ratings()
            profile.close()
        if clicked <= {t for t, r in thumbs.items() if r == 1} or time.time() > deadline:
            return thumbs
        time.sleep(0.5)


if __name__ == "__main__":
    raise SystemExit(main())
