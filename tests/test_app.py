"""The main page under Streamlit's AppTest (photo and snapshot paths; the webcam is covered in a browser)."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer import EmotionRecognizer
from fer.data import load_dataset
from fer.detect import iou
from fer.files import DEFAULT_CATALOGUE
from fer.genres import PRESETS
from fer.movies import top_movies
from tests.conftest import FER_CSV, ROOT
from tests.scenes import background, face_frame

needs_fer = pytest.mark.skipif(not FER_CSV.exists(), reason="needs ../shared/datasets")


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The page in Photo mode, with its own copy of the catalogue and a refresh source that is down."""
    catalogue = tmp_path / "movies.json.gz"
    shutil.copy(DEFAULT_CATALOGUE, catalogue)
    monkeypatch.setenv("FER_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FER_IMDB_SOURCE", "http://127.0.0.1:9/")  # discard port: connection refused
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["input_mode"] = "Photo"
    return at.run()


def _face_png(sure: bool):
    """An upscaled FER2013 PublicTest face in a 640x480 frame that the pipeline finds and reads with confidence
    (sure) or below the model's "not sure" threshold; (png bytes, Face)."""
    rec = EmotionRecognizer.load()
    x, _ = load_dataset(FER_CSV).split("PublicTest")
    for i, face in enumerate(x[:200]):
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


def _upload(at, name, data, mime="image/png"):
    at.file_uploader[0].upload(name, data, mime)
    return at.run()


def test_renders_with_no_input(app):
    assert not app.exception
    assert app.title[0].value.endswith("Mood to movie")
    assert any("No mood yet" in i.value for i in app.sidebar.info)
    assert any("Information courtesy of IMDb" in c.value for c in app.sidebar.caption)


@needs_fer
def test_a_face_photo_gives_emotion_genre_and_50_movies(app, face_png):
    data, face = face_png
    at = _upload(app, "me.png", data)
    assert not at.exception and not at.error
    metrics = _sidebar_metrics(at)
    assert metrics["Mood"] == face.emotion.capitalize()
    assert metrics["Genre"] == PRESETS["paper"][face.emotion]
    table = at.sidebar.dataframe[0].value
    assert len(table) == 50 and list(table["rank"]) == list(range(1, 51))


def test_a_non_image_upload_shows_the_friendly_error(app):
    at = _upload(app, "holiday.jpg", b"this is not a photo at all", "image/jpeg")
    assert not at.exception
    assert [e.value for e in at.error] == ["This file is not an image (or not a format we can read)."]


def test_a_photo_without_a_face_says_so(app):
    at = _upload(app, "wall.png", cv2.imencode(".png", background())[1].tobytes())
    assert any("No face found" in w.value for w in at.warning)


@needs_fer
def test_changing_the_mapping_changes_genre_and_list(app, face_png):
    data, face = face_png
    at = _upload(app, "me.png", data)
    before = at.sidebar.dataframe[0].value["title"].tolist()
    at.sidebar.selectbox(key="preset").set_value("lift my mood").run()
    assert _sidebar_metrics(at)["Genre"] == PRESETS["lift my mood"][face.emotion]
    assert at.sidebar.dataframe[0].value["title"].tolist() != before
    at.sidebar.selectbox(key=f"genre_lift my mood_{face.emotion}").set_value("Western").run()
    assert _sidebar_metrics(at)["Genre"] == "Western"
    assert at.sidebar.dataframe[0].value["title"].tolist() == top_movies("Western", 50)["title"].tolist()


def test_mapping_widgets_default_to_what_they_show(app):
    """A browser draws a widget at its own default until the server says otherwise; if the server's value
    differed (it did when a click interrupted the first run), the browser sent back the default genre."""
    for preset in (None, "lift my mood"):
        if preset:
            app.sidebar.selectbox(key="preset").set_value(preset).run()
        genres = [s for s in app.sidebar.selectbox if s.key != "preset"]
        assert len(genres) == 7
        for s in genres:
            assert s.proto.options[s.proto.default] == s.value


@needs_fer
def test_a_failing_refresh_keeps_the_list(app, face_png):
    data, _ = face_png
    at = _upload(app, "me.png", data)
    catalogue = Path(os.environ["FER_CATALOGUE"])
    before, titles = catalogue.read_bytes(), at.sidebar.dataframe[0].value["title"].tolist()
    at.sidebar.button[0].click().run()
    deadline = time.time() + 20
    while not at.sidebar.error:  # the refresh runs in the background; the page shows its end
        assert time.time() < deadline, "the failed refresh was never reported"
        time.sleep(0.2)
        at.run()
    assert any("Refresh failed" in e.value and "current list stays" in e.value for e in at.sidebar.error)
    assert at.sidebar.dataframe[0].value["title"].tolist() == titles
    assert catalogue.read_bytes() == before


@needs_fer
def test_snapshot_mode_uses_the_same_path(monkeypatch, face_png):
    monkeypatch.setenv("FER_CATALOGUE", str(DEFAULT_CATALOGUE))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["input_mode"] = "Snapshot"
    at.run()
    data, face = face_png
    jpeg = cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()  # a camera sends JPEG
    at.camera_input[0].set_value(("snap.jpg", jpeg, "image/jpeg")).run()
    assert _sidebar_metrics(at)["Mood"] == face.emotion.capitalize()


PHOTO_RUN = """
import sys
import time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=60)
at.session_state["input_mode"] = "Photo"
at.run()
at.file_uploader[0].upload("face.png", open({png!r}, "rb").read(), "image/png")
at.run()
assert not at.exception, at.exception
print(at.sidebar.metric[0].value, "torch" in sys.modules)
"""


def _photo_run(png: Path, env: dict | None = None) -> list[str]:
    """The main page given one photo, in a fresh process: [mood shown, whether torch was imported]."""
    out = subprocess.run([sys.executable, "-c", PHOTO_RUN.format(app=str(ROOT / "app.py"), png=str(png))], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_page_recognises_faces_without_importing_torch(face_png, tmp_path):
    """torch takes ~1 s to import, the largest part of the app's start: the main page runs the ONNX export."""
    png = tmp_path / "face.png"
    png.write_bytes(face_png[0])
    assert _photo_run(png) == [face_png[1].emotion.capitalize(), "False"]


def _files(*roots: Path) -> set[str]:
    found = set()
    for root in roots:
        for dirpath, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d not in (".git", "__pycache__", ".venv", ".pytest_cache", ".ruff_cache")]
            found.update(os.path.join(dirpath, n) for n in names)
    return found


def test_a_photo_run_writes_no_files(face_png, tmp_path):
    """The page, in its own process with its own temp dir and home, writes nothing there nor in the repo."""
    photo_dir, tmp, home = tmp_path / "in", tmp_path / "tmp", tmp_path / "home"
    for d in (photo_dir, tmp, home):
        d.mkdir()
    png = photo_dir / "face.png"
    png.write_bytes(face_png[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("FER_")}
    env.update(TMPDIR=str(tmp), HOME=str(home), FER_IMDB_SOURCE="http://127.0.0.1:9/")
    before = _files(ROOT, tmp, home)
    assert _photo_run(png, env)[0] == face_png[1].emotion.capitalize()
    assert _files(ROOT, tmp, home) - before == set()


@needs_fer
def test_an_uncertain_reading_asks_and_the_tapped_answer_becomes_the_mood(app, unsure_png):
    data, face = unsure_png
    at = _upload(app, "me.png", data)
    assert "Mood" not in _sidebar_metrics(at)  # not stated as a fact
    first, second = sorted(face.probs, key=face.probs.get, reverse=True)[:2]
    assert any(f"Not sure: **{first}** or **{second}**?" in w.value for w in at.sidebar.warning)
    at.sidebar.button(key=next(b.key for b in at.sidebar.button if b.label == second.capitalize())).click().run()
    metrics = _sidebar_metrics(at)
    assert metrics["Mood"] == second.capitalize() and metrics["Genre"] == PRESETS["paper"][second]
    assert at.session_state["answer_counts"] == {f"{first} or {second}": {second: 1}}


@needs_fer
def test_show_why_overlays_a_heatmap_and_lists_the_top_three(app, face_png):
    data, face = face_png
    at = _upload(app, "me.png", data)
    plain = str(at.get("image")[0].proto)
    at.toggle(key="show_why").set_value(True).run()
    assert not at.exception and str(at.get("image")[0].proto) != plain
    top = sorted(face.probs, key=face.probs.get, reverse=True)[0]
    assert any(c.value.startswith(f"Face 1: **{top}**") for c in at.caption)


@needs_fer
def test_a_photo_calibrates_the_resting_face_and_reset_clears_it(app, face_png):
    data, _ = face_png
    at = _upload(app, "me.png", data)
    at.button(key=next(b.key for b in at.button if b.label == "Use this picture as my resting face")).click().run()
    resting = at.session_state["resting"]
    assert len(resting) == 7 and abs(sum(resting) - 1) < 1e-4  # numbers only
    at.sidebar.button(key=next(b.key for b in at.sidebar.button if b.label == "Reset calibration")).click().run()
    assert "resting" not in at.session_state
