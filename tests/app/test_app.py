"""The main page under Streamlit's AppTest (photo and snapshot paths; the webcam is covered in a browser)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer.emotions import EMOTIONS
from fer.files import DEFAULT_CATALOGUE
from fer.genres import PRESETS
from fer.recommend.catalogue import load_catalogue
from fer.recommend.ranker import recommend
from fer.training.data import load_dataset
from tests.app.conftest import _click, _listed, _new_session, _reasons, _sidebar_metrics, _titles, _upload, needs_fer
from tests.conftest import FER_CSV, ROOT
from tests.scenes import background


def test_renders_with_no_input(app):
    assert not app.exception and not app.warning  # nothing to warn of (no upload was let go)
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
    listed = _listed(at)
    assert len(listed) == 50 and len(set(listed)) == 50
    assert any(m.value.startswith("**1. [") and "where to watch ↗](https://www.justwatch.com/" in m.value
               for m in at.sidebar.markdown)
    reasons = _reasons(at)
    assert len(reasons) == 50
    assert any(r.startswith(f"{PRESETS['paper'][face.emotion]} for a") and f" {face.emotion} mood · " in r
               for r in reasons)


@needs_fer
def test_the_probability_chart_labels_all_seven_emotions(app, face_png):
    """Vega drops axis labels that would overlap: each emotion gets its own band and no label is dropped."""
    import json

    at = _upload(app, "me.png", face_png[0])
    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    y = spec["encoding"]["y"]
    assert y["sort"] == list(EMOTIONS) and y["axis"]["labelOverlap"] is False
    assert spec["height"]["step"] >= 20  # px per emotion: wider than a label's line


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
    before = _titles(at)
    at.sidebar.selectbox(key="preset").set_value("lift my mood").run()
    assert _sidebar_metrics(at)["Genre"] == PRESETS["lift my mood"][face.emotion]
    assert _titles(at) != before
    assert not any("with your changes" in c.value for c in at.sidebar.caption)
    at.sidebar.selectbox(key=f"genre_lift my mood_{face.emotion}").set_value("Western").run()
    assert _sidebar_metrics(at)["Genre"] == "Western"
    assert f"The lift my mood preset with your changes: {face.emotion} → Western." in [
        c.value for c in at.sidebar.caption]  # the preset box alone would say "lift my mood"
    movies = load_catalogue()[0]
    assert _listed(at) == recommend({face.emotion: 1.0}, {face.emotion: "Western"}, movies)["tconst"].tolist()


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
def test_a_failing_refresh_keeps_the_list(local_owner, app, face_png):
    data, _ = face_png
    at = _upload(app, "me.png", data)
    catalogue = Path(os.environ["FER_CATALOGUE"])
    before, titles = catalogue.read_bytes(), _titles(at)
    _click(at.sidebar.button, "Refresh from IMDb")
    deadline = time.time() + 20
    while not at.sidebar.error:  # the refresh runs in the background; the page shows its end
        assert time.time() < deadline, "the failed refresh was never reported"
        time.sleep(0.2)
        at.run()
    assert any("Refresh failed" in e.value and "current list stays" in e.value for e in at.sidebar.error)
    assert _titles(at) == titles
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


WITH_PHOTO = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=60)
at.session_state["input_mode"] = "Photo"
at.run()
at.file_uploader[0].upload("face.png", open({png!r}, "rb").read(), "image/png")
at.run()
assert not at.exception, at.exception
"""  # the main page given one photo; the scripts below go on from here
PHOTO_RUN = WITH_PHOTO + """
print(at.sidebar.metric[0].value, "torch" in sys.modules)
"""


def _run_page(script: str, png: Path, env: dict | None = None) -> list[str]:
    """A page script (AppTest, given one photo) in a fresh process: the words it printed."""
    out = subprocess.run([sys.executable, "-c", script.format(app=str(ROOT / "app.py"), png=str(png))], cwd=ROOT,
                         capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _sealed_run(script: str, photo: bytes, tmp_path: Path, **env: str) -> list[str]:
    """_run_page with its own temp dir and home; asserts that nothing was written there nor in the repo."""
    photo_dir, tmp, home = tmp_path / "in", tmp_path / "tmp", tmp_path / "home"
    for d in (photo_dir, tmp, home):
        d.mkdir()
    png = photo_dir / "face.png"
    png.write_bytes(photo)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FER_")}
    before = _files(ROOT, tmp, home)
    words = _run_page(script, png, {**clean, "TMPDIR": str(tmp), "HOME": str(home),
                                    "FER_IMDB_SOURCE": "http://127.0.0.1:9/", **env})
    assert _files(ROOT, tmp, home) - before == set()
    return words


def test_the_page_recognises_faces_without_importing_torch(face_png, tmp_path):
    """torch takes ~1 s to import, the largest part of the app's start: the main page runs the ONNX export."""
    png = tmp_path / "face.png"
    png.write_bytes(face_png[0])
    assert _run_page(PHOTO_RUN, png) == [face_png[1].emotion.capitalize(), "False"]


def _files(*roots: Path) -> set[str]:
    found = set()
    for root in roots:
        for dirpath, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d not in (".git", "__pycache__", ".venv", ".pytest_cache", ".ruff_cache")]
            found.update(os.path.join(dirpath, n) for n in names)
    return found


def test_a_photo_run_writes_no_files(face_png, tmp_path):
    """The page, in its own process with its own temp dir and home, writes nothing there nor in the repo."""
    assert _sealed_run(PHOTO_RUN, face_png[0], tmp_path)[0] == face_png[1].emotion.capitalize()


@needs_fer
def test_an_uncertain_reading_asks_and_the_tapped_answer_becomes_the_mood(app, unsure_png):
    data, face = unsure_png
    at = _upload(app, "me.png", data)
    assert "Mood" not in _sidebar_metrics(at)  # not stated as a fact
    first, second = sorted(face.probs, key=face.probs.get, reverse=True)[:2]
    assert any(f"Not sure: **{first}** or **{second}**?" in w.value for w in at.sidebar.warning)
    _click(at.sidebar.button, second.capitalize())
    metrics = _sidebar_metrics(at)
    assert metrics["Mood"] == second.capitalize() and metrics["Genre"] == PRESETS["paper"][second]
    assert not any("Not sure" in w.value for w in at.sidebar.warning)  # answered: the question is gone
    assert at.session_state["profile"].answers() == {f"{first} or {second}": {second: 1}}


@needs_fer
def test_an_answer_teaches_the_reading_keeps_it_in_the_profile_and_can_be_forgotten(app, unsure_png):
    """The answered reading (7 numbers, as the model read it) adapts this person's later readings toward what
    they said, comes back in a new session, and "Forget" removes it from both."""
    data, face = unsure_png
    at = _upload(app, "me.png", data)
    second = sorted(face.probs, key=face.probs.get, reverse=True)[1]
    at = _click(at.sidebar.button, second.capitalize())
    (taught,) = at.session_state["taught"]
    assert taught["emotion"] == second and taught["probs"] == pytest.approx([face.probs[e] for e in EMOTIONS],
                                                                           abs=1e-4)
    person = at.run().session_state["session_recognizer"][2]  # the next run reads with what was taught
    before = np.array([[face.probs[e] for e in EMOTIONS]], np.float32)
    assert person.correct(before)[0][EMOTIONS.index(second)] > face.probs[second]
    again = _new_session()
    assert again.session_state["taught"] == at.session_state["taught"]
    again = _click(again.sidebar.button, "Forget what my answers taught")
    assert "taught" not in again.session_state and _new_session().session_state["profile"].get("taught") is None


@needs_fer
@pytest.mark.parametrize("disk", ["writable", "unwritable"])
def test_an_opted_in_answer_keeps_one_grey_crop_and_a_failing_disk_costs_only_the_crop(
        app, unsure_png, tmp_path, monkeypatch, disk):
    runs = tmp_path / "runs"
    if disk == "unwritable":
        runs.write_text("a file where the runs folder should be")  # any write under it fails
    monkeypatch.setenv("FER_RUNS", str(runs))
    data, face = unsure_png
    app.session_state["contribute"] = True
    at = _upload(app, "me.png", data)
    second = sorted(face.probs, key=face.probs.get, reverse=True)[1]
    at = _click(at.sidebar.button, second.capitalize())
    assert not at.exception and _sidebar_metrics(at)["Mood"] == second.capitalize()  # the answer counts
    if disk == "writable":
        (crop,) = (runs / "contributed" / "pending" / second).iterdir()  # waiting for the owner's review
        assert cv2.imread(str(crop), cv2.IMREAD_UNCHANGED).shape == (48, 48)
        assert at.session_state["contributed"] == [str(crop)]
    else:
        assert any("face crop could not be kept" in w.value for w in at.sidebar.warning)
        assert runs.read_text().startswith("a file")


@needs_fer
def test_show_why_overlays_a_heatmap_and_lists_the_top_three(app, face_png):
    data, face = face_png
    at = _upload(app, "me.png", data)
    plain = str(at.get("image")[0].proto)
    at.toggle(key="show_why").set_value(True).run()
    assert not at.exception and str(at.get("image")[0].proto) != plain
    assert any("Heatmap: blue, covering this part changes the reading least" in str(i.proto) for i in at.get("image"))
    top = sorted(face.probs, key=face.probs.get, reverse=True)[0]
    assert any(c.value.startswith(f"Face 1: **{top}**") for c in at.caption)


@needs_fer
def test_a_crowd_photo_is_read_for_its_largest_faces_and_explained_for_a_few(app, monkeypatch):
    """A photo of 40 faces costs what MAX_FACES do: charts for those, heatmaps for MAX_WHY, one sentence.

    Read with Haar: it finds 28 of these tightly cropped FER2013 faces, YuNet (the default) 12, no more than it
    reads."""
    from fer.vision import explain
    from fer.vision.recognizer import MAX_FACES
    from tests.scenes import paste_face

    x, _ = load_dataset(FER_CSV).split("PublicTest")
    frame = background(1600, 1000)
    for k in range(40):
        paste_face(frame, x[k], 20 + k % 8 * 195, 20 + k // 8 * 195, 170)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["detector"] = {"name": "haar"}
    at.session_state["input_mode"] = "Photo"
    at = _upload(at.run(), "crowd.png", cv2.imencode(".png", frame)[1].tobytes())
    assert any(i.value.endswith(f"faces found: reading the {MAX_FACES} largest.") for i in at.info)
    assert sum(c.value.startswith("Face ") for c in at.caption) == MAX_FACES
    explained = []
    monkeypatch.setattr(explain, "occlusion_map", lambda rec, gray, face: explained.append(face) or np.zeros((48, 48)))
    at.toggle(key="show_why").set_value(True).run()
    assert not at.exception and len(explained) == explain.MAX_WHY


@needs_fer
def test_a_photo_calibrates_the_resting_face_and_reset_clears_it(app, face_png):
    data, _ = face_png
    at = _upload(app, "me.png", data)
    _click(at.button, "Use this picture as my resting face")
    resting = at.session_state["resting"]
    assert len(resting) == 7 and abs(sum(resting) - 1) < 1e-4  # numbers only
    _click(at.sidebar.button, "Reset calibration")
    assert "resting" not in at.session_state


# ---------------------------------------------------------------- the personal list

@needs_fer
def test_an_anonymous_public_visitor_writes_nothing(face_png, tmp_path):
    """On a public deploy, marks, filters and a resting face work for the session and touch no disk."""
    assert _sealed_run(VISITOR_RUN, face_png[0], tmp_path, FER_PUBLIC="1") == ["marked", "session-only"]


VISITOR_RUN = WITH_PHOTO + """
marks = [b for b in at.sidebar.button_group if b.key and b.key.startswith("mark_")]
first = marks[0].key
marks[0].select("seen").run()
marks = [b for b in at.sidebar.button_group if b.key and b.key.startswith("mark_")]
marks[0].select("up").run()
at.sidebar.slider(key="min_rating").set_value(7.5).run()
next(b for b in at.button if b.label == "Use this picture as my resting face").click().run()
assert not at.exception, at.exception
assert first not in [b.key for b in at.sidebar.button_group]
print("marked", "session-only" if any("browser's own storage" in c.value for c in at.sidebar.caption) else "?")
"""


def test_the_owner_picks_the_face_detector_in_the_secrets(app):
    """A head tilted by 30 degrees: YuNet (the default) finds it, the paper's Haar cascade does not; an unknown
    name gets one sentence and the default."""
    from tests.scenes import astronaut_frame

    frame = astronaut_frame()[0]
    tilted = cv2.warpAffine(frame, cv2.getRotationMatrix2D((320, 240), 30, 1.0), (640, 480),
                            borderMode=cv2.BORDER_REPLICATE)
    png = cv2.imencode(".png", tilted)[1].tobytes()

    def no_face(at):
        return any(w.value.startswith("No face found") for w in at.warning)

    assert not no_face(_upload(app, "tilted.png", png))
    for name, found in (("haar", False), ("mtcnn", True)):
        at = _new_session()
        at.secrets["detector"] = {"name": name}
        at = _upload(at.run(), "tilted.png", png)
        assert not at.exception and no_face(at) != found
        assert (name == "mtcnn") == any("face detector 'mtcnn' in the secrets is unknown" in w.value
                                         for w in at.warning)


def test_the_pages_keep_only_the_session_keys_ui_state_names():
    """Every key the main page reads or writes in st.session_state is named (and explained) in ui/state.py: a new
    key added anywhere else fails here until it is named there."""
    import re

    from ui.state import KEYS

    used = set()
    for path in [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py"))]:
        text = path.read_text()
        used |= set(re.findall(r"session_state(?:\.get|\.pop|\.setdefault)?[\[(]\"([a-z_]+)\"", text))
        used |= {k for call in re.findall(r"session_state\.update\(([^)]*)\)", text)
                 for k in re.findall(r"\b([a-z_]+)=", call)}
    assert used and "profile" in used
    assert used <= set(KEYS), f"not named in ui/state.py: {sorted(used - set(KEYS))}"


# ---------------------------------------------------------------- the person in control; text as written
