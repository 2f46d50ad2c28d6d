"""The main page under Streamlit's AppTest (photo and snapshot paths; the webcam is covered in a browser)."""

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer import EmotionRecognizer
from fer.emotions import EMOTIONS
from fer.files import DEFAULT_CATALOGUE
from fer.genres import PRESETS
from fer.profiles.store import Profile
from fer.recommend.catalogue import load_catalogue
from fer.recommend.ranker import recommend
from fer.training.data import load_dataset
from fer.vision.detect import iou
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
    at.sidebar.selectbox(key=f"genre_lift my mood_{face.emotion}").set_value("Western").run()
    assert _sidebar_metrics(at)["Genre"] == "Western"
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
def test_a_failing_refresh_keeps_the_list(app, face_png):
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

def _marks(at, tconst: str):
    return next(b for b in at.sidebar.button_group if b.key and b.key.endswith(f"_{tconst}"))


def _new_session() -> AppTest:
    """The page in a new browser session (or, with the same environment, after a restart of the app)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["input_mode"] = "Photo"
    return at.run()


@needs_fer
def test_one_click_marks_change_the_list_and_survive_a_restart(app, face_png):
    data, _ = face_png
    at = _upload(app, "me.png", data)
    first, second = _listed(at)[:2]
    _marks(at, first).select("seen").run()
    assert first not in _listed(at) and len(_listed(at)) == 50  # the list answers at once
    _marks(at, second).select("up").run()
    _marks(at, second).select("down").run()  # up and down exclude each other
    assert second not in _listed(at)  # thumbed down: gone
    profile = Profile(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db")
    assert profile.seen() == {first} and profile.ratings() == {second: -1}
    restarted = _upload(_new_session(), "me.png", data)
    assert first not in _listed(restarted) and second not in _listed(restarted)
    restarted.sidebar.toggle(key="hide_seen").set_value(False).run()
    assert first in _listed(restarted) and _marks(restarted, first).value == ["seen"]
    assert Profile(profile.path).get("filters")["hide_seen"] is False


@needs_fer
def test_a_second_upload_writes_no_marks_and_a_thumb_keeps_its_mood(app, face_png, caplog, monkeypatch):
    """A re-render (here a second photo) writes no row; a click writes that film's mark with the mood shown,
    and logs no Streamlit warning (the first thumb of a session used to: a default also set via Session State)."""
    from streamlit.elements.lib import policies

    data, face = face_png
    at = _upload(_upload(app, "me.png", data), "again.png", data)
    db = Path(os.environ["FER_PROFILE_DIR"]) / "profile.db"
    assert not db.exists() or Profile(db).export()["marks"] == []
    first = _listed(at)[0]
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)  # Streamlit warns once per process
    with caplog.at_level("WARNING", logger="streamlit"):
        _marks(at, first).select("up").run()
    assert not [r for r in caplog.records if "Session State" in r.getMessage()]
    _upload(at, "third.png", data)
    profile = Profile(db)
    assert [(m["tconst"], m["rating"]) for m in profile.export()["marks"]] == [(first, 1)]
    assert profile.mood_ratings() == {face.emotion: {first: 1}}


@needs_fer
def test_a_thumb_keeps_the_list_in_place_until_asked_to_re_rank(app, face_png):
    """A film under the cursor must not leave the list because another film was thumbed (its click would be
    lost); "Re-rank with my marks" applies the marks' new order."""
    at = _upload(app, "me.png", face_png[0])
    before = _listed(at)
    for t in before[:5]:
        _marks(at, t).select("up").run()
    assert _listed(at) == before
    fresh = _listed(_click(at.sidebar.button, "Re-rank with my marks"))
    assert fresh != before and len(fresh) == 50


@needs_fer
def test_a_click_whose_callback_never_ran_is_still_written_and_marks_made_elsewhere_are_kept(app, face_png):
    """Streamlit cuts a run (and its callbacks) short when the next click arrives: a changed mark control is
    written by whichever run sees it. A mark made in another tab shows here and is not undone."""
    at = _upload(app, "me.png", face_png[0])
    first, second = _listed(at)[:2]
    at.session_state[_marks(at, first).key] = ["up"]  # the value the browser sent; no callback has run
    at.run()
    profile = Profile(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db")
    assert profile.ratings() == {first: 1}
    profile.rate(second, 1)  # another tab of the same person
    at.run()
    at.run()
    assert profile.ratings() == {first: 1, second: 1} and _marks(at, second).value == ["up"]


@needs_fer
def test_filters_and_mood_mix_apply_and_are_remembered(app, face_png):
    data, face = face_png
    at = _upload(app, "me.png", data)
    at.sidebar.slider(key="min_rating").set_value(7.0).run()
    at.sidebar.toggle(key="mix").set_value(True).run()
    movies = load_catalogue()[0].set_index("tconst")
    assert (movies.loc[_listed(at), "rating"] >= 7.0).all()
    reasons = _reasons(at)
    assert len(reasons) == 50 and all("% of your mood)" in r for r in reasons)
    again = _upload(_new_session(), "me.png", data)
    assert again.sidebar.slider(key="min_rating").value == 7.0 and again.sidebar.toggle(key="mix").value


@needs_fer
def test_delete_my_data_removes_every_row_and_resets_the_page(app, face_png):
    data, _ = face_png
    at = _upload(app, "me.png", data)
    _marks(at, _listed(at)[0]).select("up").run()
    at.sidebar.slider(key="min_rating").set_value(7.0).run()
    _click(at.button, "Use this picture as my resting face")
    assert any(b.label == "Download my data (JSON)" for b in at.sidebar.get("download_button"))
    _click(at.sidebar.button, "Delete my data")
    _click(at.sidebar.button, "Yes, delete")
    db = sqlite3.connect(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db")
    tables = ("marks", "settings", "answers", "mood_marks")
    assert [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables] == [0] * 4
    rating = next(s for s in at.sidebar.slider if s.label == "Minimum IMDb rating")
    assert "resting" not in at.session_state and rating.value == 0.0
    assert all(not b.value for b in at.sidebar.button_group if b.key and b.key.startswith("mark_"))


@needs_fer
def test_the_resting_face_comes_back_in_a_new_session(app, face_png):
    data, _ = face_png
    at = _upload(app, "me.png", data)
    _click(at.button, "Use this picture as my resting face")
    assert _new_session().session_state["resting"] == at.session_state["resting"]


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


@needs_fer
def test_posters_appear_only_with_a_key(app, face_png, tmp_path, monkeypatch):
    from tests.recommend.test_posters import FakePosterService

    monkeypatch.setenv("FER_RUNS", str(tmp_path / "runs"))
    at = _upload(app, "me.png", face_png[0])
    assert not at.sidebar.get("image")  # no key: no posters, nothing fetched
    with FakePosterService() as service:
        at = _new_session()
        at.secrets["posters"] = {"omdb_api_key": "KEY", "api": service.url}
        at = _upload(at.run(), "me.png", face_png[0])
        assert len(at.sidebar.get("image")) == 50 and len(service.requests) == 100


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

def _import(at, doc: dict):
    """"Import my data" with this document (no photo needed: the panel is there from the first run)."""
    import json

    at.sidebar.file_uploader(key="import").upload("mine.json", json.dumps(doc).encode(), "application/json")
    return at.run()


def _doc(*marks: dict) -> dict:
    return {"format": "mood-to-movie/profile", "version": 1, "marks": list(marks)}


def _mark(tconst: str, seen: bool = True, rating: int = 0) -> dict:
    return {"tconst": tconst, "seen": seen, "rating": rating, "updated": "2026-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("crafted", ["[x](https://evil.example)", "![](https://evil.example/i.png)",
                                     "[x](//e.x)", "![](//e.x/i.png)"])
def test_a_visitors_text_is_shown_as_written_never_as_markdown(app, crafted):
    """A crafted import's refusal quotes the visitor's text: it must read as typed, never become a link or load
    an image (st.error renders markdown)."""
    import re

    at = _import(app, _doc(_mark(crafted)))
    (error,) = at.sidebar.error
    assert "not an IMDb film id" in error.value
    assert not re.search(r"(?<!\\)\]\(", error.value) and not re.search(r"(?<!\\)!(?<!\\)\[", error.value), error.value
    shown = error.value.replace("\\", "")  # what the person reads once markdown took its escapes away
    assert crafted[:20] in shown


def test_an_import_is_confirmed_in_my_data(app):
    at = _import(app, _doc(_mark("tt0111161"), _mark("tt0068646", False, 1)))
    assert not at.exception
    assert any("Imported 2 film mark(s)" in s.value.replace("\\", "") for s in at.sidebar.success)
    assert Profile(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db").ratings() == {"tt0068646": 1}


def _my_marks(at) -> list[str]:
    """The rows of "My marks", as markdown bodies (a title line, then its marks)."""
    return [m.value for m in at.sidebar.markdown if ":small[:gray[" in m.value and not m.value.startswith("**")]


def test_my_marks_lists_every_mark_with_its_mood_and_undoes_one_in_one_click(app):
    profile = Profile(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db")
    profile.mark_seen("tt0111161")
    profile.rate("tt0068646", 1, "happy")
    profile.rate("tt0468569", -1, "sad")
    at = app.run()
    rows = _my_marks(at)
    assert len(rows) == 3 and any("Godfather" in r and "👍 when happy" in r for r in rows)
    assert any("Shawshank" in r and "seen" in r for r in rows)
    at.sidebar.text_input(key="marks_search").input("dark knight").run()
    (row,) = _my_marks(at)
    assert "👎 when sad" in row
    at.sidebar.button(key="undo_thumb_tt0468569").click().run()
    assert profile.ratings() == {"tt0068646": 1} and _my_marks(at) == []
    at.sidebar.text_input(key="marks_search").input("").run()
    at.sidebar.button(key="undo_seen_tt0111161").click().run()
    assert profile.seen() == set() and len(_my_marks(at)) == 1


def test_a_film_not_in_the_list_is_found_in_the_catalogue_and_marked(app):
    at = app
    at.sidebar.text_input(key="catalogue_search").input("pulp fiction").run()
    at.sidebar.button(key="add_up_tt0110912").click().run()
    at.sidebar.button(key="add_seen_tt0110912").click().run()
    profile = Profile(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db")
    assert profile.ratings() == {"tt0110912": 1} and profile.seen() == {"tt0110912"}
    assert any("Pulp Fiction" in r for r in _my_marks(at))
    at.sidebar.text_input(key="catalogue_search").input("no film is called this").run()
    assert any("No film in the catalogue has" in c.value for c in at.sidebar.caption)


@needs_fer
def test_a_thumbed_down_film_comes_back_when_its_mark_is_undone(app, face_png):
    at = _upload(app, "me.png", face_png[0])
    first = _listed(at)[0]
    _marks(at, first).select("down").run()
    assert first not in _listed(at)
    at.sidebar.button(key=f"undo_thumb_{first}").click().run()
    assert first in _listed(at) and not Profile(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db").ratings()


def test_public_mode_offers_a_login_only_where_one_is_set_up(monkeypatch):
    monkeypatch.setenv("FER_PUBLIC", "1")

    def kept(at) -> str:
        return " ".join(c.value for c in at.sidebar.caption if "kept in this browser" in c.value)

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["input_mode"] = "Photo"
    at = at.run().run()  # the first run waits for the browser's answer
    assert "kept in this browser" in kept(at) and "Log in" not in kept(at)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32}
    at.session_state["input_mode"] = "Photo"
    at = at.run().run()
    assert "Log in to keep it on other devices too" in kept(at)


def _two_faces() -> bytes:
    """The astronaut twice, the left one larger: a group photo of two faces."""
    from tests.scenes import astronaut_frame

    big, small = astronaut_frame(640, 480)[0], astronaut_frame(320, 240)[0]
    return cv2.imencode(".png", np.hstack([big, cv2.copyMakeBorder(small, 0, 240, 0, 0, cv2.BORDER_REPLICATE)]))[1] \
        .tobytes()


def test_a_group_photos_boxes_are_numbered_like_its_charts_and_the_resting_face_says_which(app):
    from fer.vision.draw import draw_faces

    at = _upload(app, "two.png", _two_faces())
    assert [c.value[:6] for c in at.caption if c.value.startswith("Face ")] == ["Face 1", "Face 2"]
    _click(at.button, "Use face 1 (the largest) as my resting face")
    assert len(at.session_state["resting"]) == 7
    frame = cv2.imdecode(np.frombuffer(_two_faces(), np.uint8), cv2.IMREAD_COLOR)
    faces = EmotionRecognizer.load().predict(frame)
    plain, numbered = draw_faces(frame, faces), draw_faces(frame, faces, numbered=True)
    assert len(faces) == 2 and (plain != numbered).any()
    for f in faces:  # only the labels change (a number before each, on the box's edge), never the face inside
        x, y, w, h = f.box
        inner = slice(y + h // 4, y + h - h // 4), slice(x + w // 4, x + w - w // 4)
        assert (plain[inner] == numbered[inner]).all()


def test_show_why_colours_the_face_inside_its_box_only():
    """The map is blended where the face's box is, not over the crop's margin around it."""
    from fer.vision import explain
    from tests.scenes import astronaut_frame

    rec = EmotionRecognizer.load()
    frame = astronaut_frame()[0]
    (face,) = rec.predict(frame)
    out = explain.overlay(frame, [face], [np.ones((48, 48))], rec)
    x, y, w, h = face.box
    box = np.zeros(frame.shape[:2], bool)
    box[y:y + h, x:x + w] = True
    assert (out[box] != frame[box]).any() and (out[~box] == frame[~box]).all()


@needs_fer
def test_the_minimum_rating_reads_one_decimal_and_ends_where_films_remain(app, face_png):
    """"4.00"/"10.00" and a minimum of 10 (no film has it: an empty list, kept for the next visit) are gone."""
    Profile(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db").set("filters", {"min_rating": 10.0})
    at = _upload(_new_session(), "me.png", face_png[0])
    slider = at.sidebar.slider(key="min_rating")
    best = load_catalogue()[0]["rating"].max()
    assert slider.proto.format == "%.1f" and best - 0.5 < slider.max <= best and slider.value == slider.max


@needs_fer
def test_learnt_genres_are_named_above_the_list_and_can_be_switched_off(app, face_png):
    """Two 👍 on another genre in this mood bring it in as a share named above the list; switched off (kept in
    the profile), the list is the chosen genre alone."""
    from fer.profiles.store import apply_marks

    data, face = face_png
    chosen = PRESETS["paper"][face.emotion]
    other = "Comedy" if chosen != "Comedy" else "Horror"
    movies = load_catalogue()[0]
    has = movies["genres"].str.split(",")
    liked = movies.loc[has.map(lambda g: other in g and chosen not in g), "tconst"].iloc[:2]
    profile = Profile(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db")
    for t in liked:
        apply_marks(profile, t, [], ["up"], face.emotion)
    at = _upload(_new_session(), "me.png", data)

    def line(at) -> str:
        return next(c.value for c in at.sidebar.caption if c.value.startswith("In this list: "))

    assert line(at) == f"In this list: {chosen}; also {other}, learnt from your 👍"
    at.sidebar.toggle(key="learnt_genres").set_value(False).run()
    assert line(at) == f"In this list: {chosen}"
    genres = movies.set_index("tconst").loc[_listed(at), "genres"].str.split(",")
    assert len(genres) == 50 and genres.map(lambda g: chosen in g).all()
    assert profile.get("filters")["learnt_genres"] is False
    assert not _upload(_new_session(), "me.png", data).sidebar.toggle(key="learnt_genres").value
