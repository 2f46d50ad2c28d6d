"""A visitor's profile kept in their browser (ui/browser.py) that this app cannot read (a newer version's, a
damaged one) is never destroyed by the app: it stays as it is, the visitor is told in one sentence and can
download it, and nothing is written there until they choose (import what can be read, or start fresh). Issue
49: the copy was erased about a second after the page said it "stays there untouched", with no click."""

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from fer.files import DEFAULT_CATALOGUE
from tests.conftest import ROOT

NEWER = json.dumps({"format": "mood-to-movie/profile", "version": 2, "marks": [
    {"tconst": "tt0111161", "seen": True, "rating": 1, "updated": "2024-05-01T10:00:00+00:00"},
    {"tconst": "tt0068646", "rating": 7, "stars": 5}]})  # a field this version does not know how to read


@pytest.fixture
def visitor(tmp_path, monkeypatch):
    """A public deploy's visitor whose browser holds NEWER; `sent` collects what the page asks the browser to do."""
    import ui.browser

    catalogue = tmp_path / "movies.json.gz"
    shutil.copy(DEFAULT_CATALOGUE, catalogue)
    monkeypatch.setenv("FER_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FER_IMDB_SOURCE", "http://127.0.0.1:9/")
    monkeypatch.setenv("FER_PROFILE_DIR", str(tmp_path / "profile"))
    monkeypatch.setenv("FER_PUBLIC", "1")
    sent: list[dict] = []
    monkeypatch.setattr(ui.browser, "browser_store", lambda key, data, **_: sent.append(data))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["input_mode"] = "Photo"
    at.session_state["browser_profile"] = {"stored": NEWER}  # what the browser's storage answered
    return at, sent


def _writes(sent: list[dict]) -> list[dict]:
    return [d for d in sent if "save" in d or d.get("erase")]


def test_a_copy_this_app_cannot_read_is_kept_until_the_visitor_chooses(visitor):
    at, sent = visitor
    at.run().run()
    assert not at.exception
    assert any("cannot read, and it stays there as it is" in w.value for w in at.warning)
    assert any("newer version" in c.value for c in at.caption)
    assert at.button(key="browser_kept_fresh") and not at.button(key="browser_kept_import").disabled
    assert _writes(sent) == []  # nothing erased or overwritten, run after run
    at.button(key="browser_kept_import").click().run()
    assert not at.exception and not any("cannot read" in w.value for w in at.warning)
    written = _writes(sent)  # now the visitor's choice goes to the browser (from each of the page's mounts)
    assert written and all([m["tconst"] for m in json.loads(w["save"])["marks"]] == ["tt0111161"] for w in written)


def test_start_fresh_is_the_visitors_choice_only(visitor):
    at, sent = visitor
    at.run().run()
    assert _writes(sent) == []
    at.button(key="browser_kept_fresh").click().run()
    assert _writes(sent) and all(w["erase"] and "save" not in w for w in _writes(sent))  # an empty profile: the
    # copy goes, as the visitor chose
