"""A visitor's profile kept in their browser (ui/browser.py) that this app cannot read (a newer version's, a
damaged one) is never destroyed by the app: it stays as it is, the visitor is told in one sentence and can
download it, and nothing is written there until they choose (import what can be read, or start fresh). Issue
49: the copy was erased about a second after the page said it "stays there untouched", with no click.
And a visitor of an unconfigured app on someone's own machine (from the network, through a proxy or a re-pointed
name) keeps their profile in their browser too: the machine's own profile on disk is its own browser's only."""

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

import ui.client
from fer.files import DEFAULT_CATALOGUE
from fer.profiles.store import Profile
from fer.server.access import Client
from tests.conftest import ROOT

NEWER = json.dumps({"format": "mood-to-movie/profile", "version": 2, "marks": [
    {"tconst": "tt0111161", "seen": True, "rating": 1, "updated": "2024-05-01T10:00:00+00:00"},
    {"tconst": "tt0068646", "rating": 7, "stars": 5}]})  # a field this version does not know how to read


@pytest.fixture
def page(tmp_path, monkeypatch):
    """A new session of the main page, whose browser's storage answers from `stored` (a list: its last item);
    `sent` collects what the page asks the browser to do."""
    import ui.browser

    catalogue = tmp_path / "movies.json.gz"
    shutil.copy(DEFAULT_CATALOGUE, catalogue)
    monkeypatch.setenv("FER_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FER_IMDB_SOURCE", "http://127.0.0.1:9/")
    monkeypatch.setenv("FER_PROFILE_DIR", str(tmp_path / "profile"))
    sent: list[dict] = []
    monkeypatch.setattr(ui.browser, "browser_store", lambda key, data, **_: sent.append(data))

    def new(stored: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.session_state["input_mode"] = "Photo"
        at.session_state["browser_profile"] = {"stored": stored}  # what the browser's storage answered
        return at
    return new, sent


@pytest.fixture
def visitor(page, monkeypatch):
    """A public deploy's visitor whose browser holds NEWER."""
    monkeypatch.setenv("FER_PUBLIC", "1")
    new, sent = page
    return new(NEWER), sent


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


@pytest.mark.parametrize("client", [
    Client("192.0.2.2", host="192.0.2.2:8501"),  # the Network URL
    Client("::ffff:127.0.0.1", True, "localhost:8501"),  # a proxy on this machine passing someone on
    Client("127.0.0.1", host="evil.example:8501"),  # a hostile page whose name now points at this machine
])
def test_a_visitor_of_an_unconfigured_app_never_gets_this_machines_profile(page, tmp_path, monkeypatch, client):
    """Seen on a real server: from the LAN the page said "Your profile is kept on this computer (/…/profile.db)"
    and let the visitor read, download, import over or delete the machine's own marks."""
    new, sent = page
    db = tmp_path / "profile" / "profile.db"
    Profile(db).rate("tt0068646", 1, "happy")  # the machine's own person's mark
    monkeypatch.setattr(ui.client, "connection", lambda: client)
    at = new("").run().run()
    assert not at.exception and at.session_state["profile"].path is None
    assert any("kept in this browser's own storage" in c for c in _captions(at))
    assert not any(str(db) in c or "on this computer" in c for c in _captions(at))
    at.sidebar.text_input(key="catalogue_search").input("pulp fiction").run()
    at.sidebar.button(key="add_up_tt0110912").click().run()
    assert Profile(db).ratings() == {"tt0068646": 1}  # the visitor's mark went to their browser, not to disk
    assert any("tt0110912" in d.get("save", "") and "tt0068646" not in d["save"] for d in sent)
    monkeypatch.setattr(ui.client, "connection", lambda: Client("127.0.0.1", host="localhost:8501"))
    own = new("").run()  # the machine's own browser: its profile on disk, as before
    assert own.session_state["profile"].path == db and any(str(db) in c for c in _captions(own))


def _captions(at) -> list[str]:
    """The page's captions as read (ui.text.literal escapes markdown: a path's "_" shows as written)."""
    return [c.value.replace("\\", "") for c in at.caption]
