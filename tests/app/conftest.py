"""The main page under Streamlit's AppTest: the page fixture, faces it reads, and what a person sees."""


from __future__ import annotations

import functools
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import ui.client
from fer import EmotionRecognizer
from fer.files import DEFAULT_CATALOGUE
from fer.recommend.catalogue import load_catalogue
from fer.server.access import Client
from fer.training.data import load_dataset
from fer.vision.detect import iou
from tests.conftest import FER_CSV, ROOT, free_port
from tests.launch import start_app
from tests.scenes import confident_face, face_frame

needs_fer = pytest.mark.skipif(not FER_CSV.exists(), reason="needs ../shared/datasets")


@pytest.fixture
def local_owner(monkeypatch):
    """Sessions as a browser on the app's own machine opens them: an unconfigured app's owner. An AppTest session
    has no connection, and an unknown peer is a visitor, so a test that needs the owner asks for this."""
    monkeypatch.setattr(ui.client, "connection", lambda: Client("127.0.0.1", host="localhost:8501"))


@pytest.fixture
def app(tmp_path, monkeypatch, local_owner):
    """The page in Photo mode, with its own copy of the catalogue and a refresh source that is down, as the
    browser on the app's own machine opens it (its profile on disk, under FER_PROFILE_DIR)."""
    catalogue = tmp_path / "movies.json.gz"
    shutil.copy(DEFAULT_CATALOGUE, catalogue)
    monkeypatch.setenv("FER_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FER_IMDB_SOURCE", "http://127.0.0.1:9/")  # discard port: connection refused
    monkeypatch.setenv("FER_PROFILE_DIR", str(tmp_path / "profile"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["input_mode"] = "Photo"
    return at.run()


@functools.cache
def public_test_faces() -> np.ndarray:
    """FER2013's PublicTest images, read once per test run: parsing the 300 MB CSV takes 10-15 s on a busy
    machine, and the face fixtures of several modules need it."""
    return load_dataset(FER_CSV).split("PublicTest")[0]


@functools.cache  # the search runs the model on up to 200 frames; several modules ask for the same face
def _face_png(sure: bool):
    """An upscaled FER2013 PublicTest face in a 640x480 frame that the pipeline finds and reads with confidence
    (sure) or below the model's "not sure" threshold; (png bytes, Face)."""
    rec = EmotionRecognizer.load()
    for i, face in enumerate(public_test_faces()[:200]):
        frame, box = face_frame(face, side=200, seed=i)
        faces = rec.predict(frame)
        if len(faces) == 1 and iou(faces[0].box, box) > 0.5 and (faces[0].confidence >= 0.8) == sure \
                and (sure or faces[0].confidence < rec.not_sure_below):
            return cv2.imencode(".png", frame)[1].tobytes(), faces[0]
    raise AssertionError("no suitable face among 200 PublicTest images")


@pytest.fixture(scope="module")
def face_png():
    return _face_png(sure=True)


@pytest.fixture(scope="module")
def unsure_png():
    return _face_png(sure=False)


def _sidebar_metrics(at):
    return {m.label: m.value for m in at.sidebar.metric}


def _listed(at) -> list[str]:
    """The IMDb ids of the films in the sidebar list, in order (each film's marks control is keyed by its id)."""
    return [b.key.rsplit("_", 1)[1] for b in at.sidebar.button_group if b.key and b.key.startswith("mark_")]


def _titles(at) -> list[str]:
    titles = load_catalogue()[0].set_index("tconst")["title"]
    return [titles[t] for t in _listed(at)]


def _reasons(at) -> list[str]:
    """Each listed film's "why it is here" line, as the person reads it (markdown escapes removed)."""
    rows = [m.value for m in at.sidebar.markdown if m.value.startswith("**") and ":small[:gray[" in m.value]
    return [r.split(":small[:gray[", 1)[1].rstrip("]").replace("\\", "") for r in rows]


def _click(buttons, label: str):
    """Click the button with this label (buttons without a key cannot be told apart by key)."""
    return next(b for b in buttons if b.label == label).click().run()


def _upload(at, name, data, mime="image/png"):
    at.file_uploader[0].upload(name, data, mime)
    return at.run()


def _new_session() -> AppTest:
    """The page in a new browser session (or, with the same environment, after a restart of the app)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["input_mode"] = "Photo"
    return at.run()


# ---------------------------------------------------------------- real browsers (test_e2e*.py)

CHROMIUM = "/usr/bin/chromium"
# Every real-browser test module is marked with it (CI always has Chromium and the datasets: never skipped there).
needs_browser = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and FER_CSV.exists()) and not os.environ.get("CI"),
    reason="needs Chromium (bash tests/run.sh installs it) and ../shared/datasets")
PHOTO_INPUT = '[data-testid="stMain"] [data-testid="stFileUploaderDropzoneInput"]'  # not "Import my data"
ARTIFACTS = ROOT / "test-artifacts"
RUNS = int(os.environ.get("E2E_RUNS", "1"))
# How long a condition may take to hold (ms). Generous: it only matters when the test fails, and a machine busy
# with other work (a training beside the suite) may take tens of seconds to read a photo.
WAIT = 120_000
# A hostile site's name that these browsers resolve to this machine, as DNS rebinding would (test_e2e_owner.py).
REBOUND = "evil.example"

def write_y4m(path: Path, frame_bgr: np.ndarray, frames: int = 30) -> None:
    """A 15 fps 4:2:0 y4m video of one still frame (Chromium loops it)."""
    h, w = frame_bgr.shape[:2]
    yuv = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420).tobytes()  # Y, then U, then V planes
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + yuv)


@pytest.fixture(scope="session")
def confident_frame():
    """(frame, Face): the first PublicTest face the pipeline reads with >= 80 % confidence, in a 640x480 frame."""
    return confident_face(EmotionRecognizer.load(), public_test_faces(), side=220)


@pytest.fixture(scope="session")
def face_video(tmp_path_factory, confident_frame):
    """(y4m path, expected emotion): the confident frame as a fake webcam's video."""
    frame, face = confident_frame
    path = tmp_path_factory.mktemp("video") / "face.y4m"
    write_y4m(path, frame)
    return path, face.emotion


def _serve(tmp: Path, **env: str):
    """`streamlit run app.py` with its own catalogue copy and profile folder, once it answers; yields
    (url, log path, profile db path)."""
    catalogue = tmp / "movies.json.gz"
    shutil.copy(DEFAULT_CATALOGUE, catalogue)
    port = free_port()
    try:
        proc = start_app(port, tmp / "streamlit.log", FER_CATALOGUE=str(catalogue),
                         FER_PROFILE_DIR=str(tmp / "profile"), **env)
    except RuntimeError as e:
        pytest.fail(str(e))
    yield f"http://127.0.0.1:{port}", tmp / "streamlit.log", tmp / "profile" / "profile.db"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from _serve(tmp_path_factory.mktemp("server"))


@pytest.fixture(scope="module")
def public_server(tmp_path_factory):
    """A public deploy (FER_PUBLIC=1): anonymous visitors, nothing of theirs on the server's disk."""
    tmp = tmp_path_factory.mktemp("public")
    yield from _serve(tmp, FER_PUBLIC="1", FER_RUNS=str(tmp / "runs"))


@pytest.fixture(scope="session")
def browsers(face_video):
    """Two separate Chromium processes, each with its own fake webcam playing the face: two viewers. One pair for
    the whole run (each test opens its own context or page); a pair per module cost two launches each."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = [p.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={face_video[0]}", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
            f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"])
            for _ in range(2)]
        yield launched
        for b in launched:
            b.close()


@pytest.fixture(scope="session")
def browser(browsers):
    return browsers[0]


def _until(condition, what: str) -> None:
    """Polls `condition` until it holds, for up to WAIT."""
    deadline = time.time() + WAIT / 1000
    while not condition():
        assert time.time() < deadline, f"never true: {what}"
        time.sleep(0.2)


def _video_time(video) -> float:
    return video.evaluate("v => (v.readyState >= 2 && !v.paused) ? v.currentTime : -1")


def _wait_playing(video, past: float = 0.5, why: str = "never started playing") -> None:
    """Until the returned video has played past `past` seconds (a condition: a busy machine only makes it later)."""
    _until(lambda: _video_time(video) > past, f"the returned video {why}")


def _settled(page, quiet: float = 1.0) -> None:
    """Until the app has had no script run in progress for `quiet` seconds in a row (Streamlit shows its running
    icon only a moment after a run starts, so one look is not enough); a click then starts its own run."""
    icon = page.get_by_test_id("stStatusWidgetRunningIcon")
    deadline, idle_since = time.time() + WAIT / 1000, time.time()
    while time.time() - idle_since < quiet:
        assert time.time() < deadline, "the app never stopped running"
        if icon.count():
            idle_since = time.time()
        time.sleep(0.1)


def _offer(page, uploader, path: Path) -> None:
    """Offer a file to an uploader once the app is idle and the control enabled: a file set while a run is
    still drawing the page can land on a control that run replaces (seen under heavy CPU load)."""
    from playwright.sync_api import expect

    _settled(page)
    expect(uploader).to_have_count(1, timeout=WAIT)  # a run that replaces it shows the old one until it ends
    expect(uploader).to_be_enabled(timeout=WAIT)  # set_input_files does not wait for it
    uploader.set_input_files(str(path))
