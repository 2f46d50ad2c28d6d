"""The main page's film list and the person's data: marks, My marks, filters, imports, the profile."""

import json
import os
import shutil
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer import EmotionRecognizer
from fer.files import DEFAULT_MODEL, onnx_path, sidecar_path
from fer.genres import PRESETS
from fer.profiles.store import Profile
from fer.recommend.catalogue import load_catalogue
from tests.app.conftest import _click, _listed, _new_session, _reasons, _upload, needs_fer
from tests.conftest import ROOT


def _marks(at, tconst: str):
    return next(b for b in at.sidebar.button_group if b.key and b.key.endswith(f"_{tconst}"))


@needs_fer
def test_one_click_marks_change_the_list_and_survive_a_restart(app, face_png):
    data, _ = face_png
    at = _upload(app, "me.png", data)
    # The thumbed film is the list's last: a thumb down lowers the films most like it, and the top film must stay
    # among the 50 for the check after the restart (the second film is often the first one's nearest neighbour).
    first, second = _listed(at)[0], _listed(at)[-1]
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
def test_a_resting_face_this_model_cannot_use_is_kept_and_the_page_still_reads_faces(app, face_png, tmp_path,
                                                                                      monkeypatch):
    """A profile (imported, say) with a resting face, on a deploy whose model has no neutral reference: the
    person's page keeps working, says once why the resting face is not used (in the resting-face panel, where a
    working calibration says so too), and the profile keeps it."""
    model = tmp_path / "plain" / "emotion_cnn.pt"
    model.parent.mkdir()
    for source, target in ((DEFAULT_MODEL, model), (onnx_path(DEFAULT_MODEL), onnx_path(model))):
        shutil.copy(source, target)
    sidecar = json.loads(sidecar_path(DEFAULT_MODEL).read_text())
    sidecar.pop("neutral_reference")
    sidecar_path(model).write_text(json.dumps(sidecar))
    monkeypatch.setenv("FER_MODEL", str(model))
    resting = [0.05, 0.05, 0.05, 0.1, 0.4, 0.05, 0.3]
    profile = Profile(Path(os.environ["FER_PROFILE_DIR"]) / "profile.db")
    profile.set("resting", resting)
    at = _upload(_new_session(), "me.png", face_png[0])
    assert not at.exception and not at.error
    said = [e.value for kind in ("info", "warning", "success", "caption", "markdown", "text") for e in at.get(kind)
            if "neutral reference" in str(e.value)]  # the whole page, main and sidebar
    assert said == ["This model has no neutral reference, so your resting face is kept in your profile but not used."]
    assert any(m.label == "Mood" for m in at.sidebar.metric)
    assert at.session_state["resting"] == resting and Profile(profile.path).get("resting") == resting
    panel = [c.value for c in at.sidebar.caption]  # said in the resting-face panel, which claims no calibration
    assert said[0] in panel and not any(c.startswith("Calibrated") for c in panel)
    assert not [b for b in at.button if "resting face" in b.label]  # nothing offered that this model cannot use


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
