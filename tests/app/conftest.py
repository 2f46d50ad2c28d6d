"""The main page under Streamlit's AppTest: the page fixture, faces it reads, and what a person sees."""

import shutil

import cv2
import pytest
from streamlit.testing.v1 import AppTest

from fer import EmotionRecognizer
from fer.files import DEFAULT_CATALOGUE
from fer.recommend.catalogue import load_catalogue
from fer.training.data import load_dataset
from fer.vision.detect import iou
from tests.conftest import FER_CSV, ROOT
from tests.scenes import face_frame

needs_fer = pytest.mark.skipif(not FER_CSV.exists(), reason="needs ../shared/datasets")


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The page in Photo mode, with its own copy of the catalogue and a refresh source that is down."""
    catalogue = tmp_path / "movies.json.gz"
    shutil.copy(DEFAULT_CATALOGUE, catalogue)
    monkeypatch.setenv("FER_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FER_IMDB_SOURCE", "http://127.0.0.1:9/")  # discard port: connection refused
    monkeypatch.setenv("FER_PROFILE_DIR", str(tmp_path / "profile"))
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
