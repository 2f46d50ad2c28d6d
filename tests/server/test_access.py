"""Owners and visitors (fer/server/access.py and both pages), and heavy shared work done once: training, refresh."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.client
from fer.files import DEFAULT_CATALOGUE, DEFAULT_MODEL
from fer.recommend import catalogue as movies
from fer.recommend.catalogue import RefreshError, load_catalogue, refresh
from fer.server import access
from fer.server.access import AccessConfig, Client, Owner, PasswordGate
from fer.server.jobs import Busy
from fer.training import runs
from fer.training.config import TrainConfig
from tests.app.conftest import local_owner  # noqa: F401 (a fixture: sessions from a browser on this machine)
from tests.conftest import ROOT
from tests.imdb_fixtures import FaultyServer, imdb_dump

PAGE = str(ROOT / "pages" / "1_Train_and_evaluate.py")
APP = str(ROOT / "app.py")
OWNER_BUTTONS = {"Start training", "Evaluate", "Use as default", "Stop", "Resume", "Delete run", "Restore",
                 "Refresh from IMDb"}


# ---------------------------------------------------------------- the rule

@pytest.mark.parametrize("environ,app_dir,expected", [
    ({"HOME": "/home/me"}, Path("/home/me/fer"), False),
    ({"HOME": "/home/appuser"}, Path("/home/me/fer"), True),
    ({"HOSTNAME": "streamlit"}, Path("/app"), True),
    ({}, Path("/mount/src/fer"), True),
    ({"FER_PUBLIC": "1"}, Path("/srv/fer"), True),
])
def test_community_cloud_is_recognised_from_the_server_alone(environ, app_dir, expected):
    assert access.hosted(environ, app_dir) is expected


@pytest.fixture(autouse=True)
def fresh_gate(monkeypatch):
    """Each test starts with no wrong passwords counted on the server."""
    monkeypatch.setattr(access, "GATE", PasswordGate())


def test_wrong_passwords_lock_out_the_address_then_the_server_with_growing_waits():
    config, gate = AccessConfig(owner_password="right"), PasswordGate()
    assert not gate.check(config, "wrong", "1.1.1.1", now=0)
    assert gate.check(config, "right", "1.1.1.1", now=1)
    for i in range(access.MAX_TRIES):
        assert not gate.check(config, f"guess{i}", "1.1.1.1", now=2)
    assert gate.locked_for("1.1.1.1", now=3) == pytest.approx(access.LOCKOUT_S - 1)
    assert not gate.check(config, "right", "1.1.1.1", now=3)  # even the right one, while locked
    assert gate.locked_for("2.2.2.2", now=3) == 0  # another address may still try ...
    for i in range(access.MAX_TRIES):
        gate.check(config, f"again{i}", "1.1.1.1", now=1000)
    assert gate.locked_for("1.1.1.1", now=1000) == 2 * access.LOCKOUT_S  # ... and a second lockout is longer
    assert gate.check(config, "right", "1.1.1.1", now=2000)
    for i in range(access.SERVER_TRIES):  # from ever-new addresses (or sessions with none known)
        gate.check(config, f"spray{i}", f"10.0.0.{i}" if i % 2 else None, now=5000)
    assert gate.locked_for("9.9.9.9", now=5000) > 0 and gate.locked_for(None, now=5000) > 0
    assert not gate.check(config, "right", "9.9.9.9", now=5001)


def test_new_sessions_get_no_new_tries(env, monkeypatch):
    """A script that opens a fresh browser session for every guess is locked out like one session."""
    monkeypatch.setenv("FER_PUBLIC", "1")
    secrets = {"access": {"owner_password": "correct horse"}}
    for i in range(access.SERVER_TRIES):
        at = _page(secrets)
        at.text_input[0].set_value(f"guess {i}")
        at.button[0].click().run()
    at = _page(secrets)
    at.text_input[0].set_value("correct horse")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Too many wrong passwords; try again in 5 min."]
    assert _owner_controls(at) == set()


def test_an_owner_login_needs_a_verified_address_or_the_providers_subject_id():
    owners = AccessConfig(owners=("me@example.com", "sub:4242"))
    claims = {"is_logged_in": True, "email": "me@example.com", "sub": "999"}
    forged = access.account_id({**claims, "email_verified": False})
    nobody = Client(None)
    assert forged == "sub:999" and access.session_owner({}, owners, forged, nobody, is_hosted=True) is None
    verified = access.account_id({**claims, "email_verified": True})
    assert access.session_owner({}, owners, verified, nobody, is_hosted=True) == Owner("login")
    by_subject = access.account_id({"is_logged_in": True, "email": "x@y.z", "sub": "4242"})
    assert access.session_owner({}, owners, by_subject, nobody, is_hosted=True) == Owner("login")
    assert access.account_id({"is_logged_in": False, "email": "me@example.com", "email_verified": True}) is None


def test_server_paths_are_confined(tmp_path):
    owner = Owner("password")
    allowed = tmp_path / "data"
    allowed.mkdir()
    (allowed / "fer.csv").write_text("x")
    os.mkfifo(allowed / "pipe.csv")
    (allowed / "escape").symlink_to("/etc")
    config = AccessConfig(owner_password="pw", server_paths=(allowed.resolve(),))
    assert access.server_path(owner, str(allowed / "fer.csv"), config) == (allowed / "fer.csv").resolve()
    for bad, message in [(allowed / "pipe.csv", "not a regular file"), (tmp_path, "not inside"),
                         (allowed / "escape" / "passwd", "system folders"), (Path("/proc/self/environ"), "system")]:
        with pytest.raises(ValueError, match=message):
            access.server_path(owner, str(bad), config)
    with pytest.raises(ValueError, match="Server paths are off"):
        access.server_path(owner, str(allowed / "fer.csv"), AccessConfig(owner_password="pw"))
    with pytest.raises(PermissionError):
        access.server_path(None, str(allowed / "fer.csv"), config)


def test_owner_actions_in_the_library_refuse_a_visitor(tmp_path, tiny_csv):
    for call in (lambda: runs.start(None, tmp_path, "x", TrainConfig(str(tiny_csv))),
                 lambda: runs.promote(None, DEFAULT_MODEL, tmp_path / "m.pt"),
                 lambda: runs.save_upload(None, tmp_path, "x.csv", b"emotion,pixels\n"),
                 lambda: movies.start_refresh(None, tmp_path, tmp_path / "m.json.gz")):
        with pytest.raises(PermissionError):
            call()
    assert not (tmp_path / "x").exists() and not (tmp_path / "m.pt").exists()


# ---------------------------------------------------------------- the pages

@pytest.fixture
def env(tmp_path, monkeypatch):
    model = tmp_path / "models" / "emotion_cnn.pt"
    model.parent.mkdir()
    shutil.copy(DEFAULT_MODEL, model)
    catalogue = tmp_path / "movies.json.gz"
    shutil.copy(DEFAULT_CATALOGUE, catalogue)
    monkeypatch.setenv("FER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FER_MODEL", str(model))
    monkeypatch.setenv("FER_CATALOGUE", str(catalogue))
    monkeypatch.setenv("FER_IMDB_SOURCE", "http://127.0.0.1:9/")
    return tmp_path


def _owner_controls(at) -> set[str]:
    found = {b.label for b in at.button} & OWNER_BUTTONS
    found |= {"upload"} if at.file_uploader else set()
    found |= {"dataset choice"} if any(r.key == "dataset_source" for r in at.radio) else set()
    return found


def _page(secrets: dict | None = None, script: str = PAGE) -> AppTest:
    at = AppTest.from_file(script, default_timeout=60)
    for k, v in (secrets or {}).items():
        at.secrets[k] = v
    if script == APP:
        at.session_state["input_mode"] = "Photo"  # the webcam component needs a browser
    return at.run()


def test_a_visitor_sees_no_owner_control_and_a_wrong_password_changes_nothing(env, tiny_csv):
    owner_run = runs.start(Owner("cli"), env / "runs", "done", TrainConfig(str(tiny_csv), epochs=1, batch_size=8,
                                                                          dry_run=True), threads=1)
    while runs.load_run(owner_run.path).status == "running":
        time.sleep(0.2)
    secrets = {"access": {"owner_password": "correct horse"}}
    at = _page(secrets)
    assert not at.exception
    assert _owner_controls(at) == set()
    assert any("You are a visitor" in i.value for i in at.info)
    at.text_input[0].set_value("guess")
    at.button[0].click().run()  # the form's submit button
    assert [e.value for e in at.error] == ["Wrong password."]
    assert _owner_controls(at) == set()
    main = _page(secrets, APP)
    assert not main.exception and "Refresh from IMDb" not in {b.label for b in main.sidebar.button}


def test_the_right_password_opens_the_owner_controls_for_that_session_only(env):
    secrets = {"access": {"owner_password": "correct horse"}}
    at = _page(secrets)
    at.text_input[0].set_value("correct horse")
    at.button[0].click().run()
    assert {"Start training", "dataset choice"} <= _owner_controls(at)
    assert _owner_controls(_page(secrets)) == set()  # another browser session is still a visitor


def _sign_in_note(at) -> list[str]:
    return [c.value for c in at.caption if "owner_password" in c.value]


@pytest.mark.usefixtures("local_owner")
def test_a_cloud_deploy_without_configuration_is_read_only_and_says_how_to_open_it(env, monkeypatch):
    monkeypatch.setenv("FER_PUBLIC", "1")
    at = _page()  # even from a loopback peer: the cloud's own proxy may be one
    assert _owner_controls(at) == set()
    assert len(_sign_in_note(at)) == 1


def test_unconfigured_only_a_browser_on_this_machine_is_the_owner(env, monkeypatch):
    """Streamlit listens on every interface: whoever opens its Network URL, or comes through a proxy on this
    machine (a loopback peer that names someone else), or through a hostile page's name re-pointed at this
    machine (a loopback peer asking for another host), is a visitor and reads how owner sign-in is set up."""
    monkeypatch.setenv("FER_PUBLIC", "1")
    hosted_note = _sign_in_note(_page())
    monkeypatch.delenv("FER_PUBLIC")
    at = _page()  # AppTest: no connection, a peer the server cannot tell: a visitor
    assert _owner_controls(at) == set() and _sign_in_note(at) == hosted_note and len(hosted_note) == 1
    for client in (Client("192.0.2.7", host="192.0.2.7:8501"), Client("::ffff:127.0.0.1", True, "localhost:8501"),
                   Client("127.0.0.1", host="evil.example:8501")):
        monkeypatch.setattr(ui.client, "connection", lambda c=client: c)
        at = _page()
        assert _owner_controls(at) == set() and _sign_in_note(at) == hosted_note
        assert "Refresh from IMDb" not in {b.label for b in _page(script=APP).sidebar.button}
    monkeypatch.setattr(ui.client, "connection", lambda: Client("::1", host="[::1]:8501"))
    assert {"Start training", "dataset choice"} <= _owner_controls(_page())
    assert "Refresh from IMDb" in {b.label for b in _page(script=APP).sidebar.button}


# ---------------------------------------------------------------- once at a time

def test_eight_simultaneous_starts_start_exactly_one_training(tmp_path, tiny_csv):
    runs_dir, results = tmp_path / "runs", []
    cfg = TrainConfig(str(tiny_csv), epochs=500, batch_size=8, device="cpu")

    def click(i):
        try:
            results.append(runs.start(Owner("cli"), runs_dir, f"r{i}", cfg, threads=1))
        except RuntimeError as e:
            results.append(e)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = [r for r in results if isinstance(r, runs.Run)]
    refused = [r for r in results if isinstance(r, RuntimeError)]
    try:
        assert len(started) == 1 and len(refused) == 7
        assert all("already" in str(e) for e in refused)
        assert [r.name for r in runs.running(runs_dir)] == [started[0].name]
    finally:
        for r in started:
            runs.stop(Owner("cli"), runs.load_run(r.path))


def test_two_refreshes_at_once_make_one_and_the_catalogue_ends_valid(tmp_path):
    out, outcomes = tmp_path / "movies.json.gz", []
    with FaultyServer(imdb_dump(), delay=0.5) as server:
        def go():
            try:
                outcomes.append(refresh(server.url, out, min_votes=5000))
            except RefreshError as e:
                outcomes.append(e)

        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["RefreshError", "dict"]
    assert "already running" in str(next(o for o in outcomes if isinstance(o, RefreshError)))
    assert len(server.requests) == 2  # one download of each file
    assert load_catalogue(out)[1]["rows"] > 0


@pytest.mark.usefixtures("local_owner")
def test_six_clicks_make_one_download(env, monkeypatch):
    """Six clicks, each on a page drawn before any refresh started (so the button was live in every one)."""
    # delay: the download must outlast six page runs even on a slow machine (0.5 s did not, once, in CI).
    with FaultyServer(imdb_dump(400), delay=4) as server:
        monkeypatch.setenv("FER_IMDB_SOURCE", server.url)
        sessions = [_page(script=APP) for _ in range(6)]
        for at in sessions:
            next(b for b in at.sidebar.button if b.label == "Refresh from IMDb").click().run()
        assert next(b for b in sessions[0].run().sidebar.button if b.label == "Refresh from IMDb").disabled
        job = movies.refresh_flight(env / "movies.json.gz")
        deadline = time.time() + 30
        while job.state.running:
            assert time.time() < deadline
            time.sleep(0.2)
    assert sorted(server.requests) == ["title.basics.tsv.gz", "title.ratings.tsv.gz"]
    assert job.state.error is None and job.state.result["rows"] > 0
    with pytest.raises(Busy, match="finished"):  # and a cooldown before the next
        movies.start_refresh(Owner("cli"), server.url, env / "movies.json.gz")
    at = sessions[0].run()
    assert any(f"{job.state.result['rows']:,} movies" in c.value for c in at.sidebar.caption)


LEAN = """
import sys
sys.modules["torch"] = None  # a deploy from requirements.txt: no torch at all
from streamlit.testing.v1 import AppTest
import ui.client
from fer.server.access import Client
ui.client.connection = lambda: Client("127.0.0.1", host="localhost")  # a browser on this machine
at = AppTest.from_file({page!r}, default_timeout=60).run()
assert not at.exception, at.exception
print("|".join(w.value for w in at.warning) or "-", "|".join(i.value for i in at.info)[:40])
"""


@pytest.mark.parametrize("public,expected", [("1", "You are a visitor"), ("0", "needs PyTorch")])
def test_the_training_page_works_without_torch(env, public, expected):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", LEAN.format(page=PAGE)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "FER_PUBLIC": public})
    assert out.returncode == 0, out.stderr[-2000:]
    assert expected in out.stdout


def test_a_visitors_clear_cache_reloads_nothing_shared(env, monkeypatch):
    """Any browser can send Streamlit's "clear cache"; the model and the catalogue stay loaded for everybody."""
    from streamlit.runtime import caching

    from fer.server import shared
    from fer.vision import recognizer

    loads = []
    real = recognizer.EmotionRecognizer.load.__func__
    monkeypatch.setattr(recognizer.EmotionRecognizer, "load",
                        classmethod(lambda cls, path=None, detector=None:
                                    loads.append(path) or real(cls, path, detector)))
    at = _page(script=APP)
    catalogue = shared._OBJECTS["catalogue"][1]
    assert len(loads) == 1
    caching.cache_data.clear()  # what Streamlit does on a browser's clear_cache message
    caching.cache_resource.clear()
    at.run()
    assert not at.exception and len(loads) == 1 and shared._OBJECTS["catalogue"][1] is catalogue


def test_a_shared_object_is_built_once_while_many_sessions_ask_for_it():
    from fer.server.shared import shared

    builds = []

    def build():
        builds.append(1)
        time.sleep(0.2)  # a slow load: the other callers arrive meanwhile and must wait for it
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(shared("test-slow", 1, build))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len({id(g) for g in got}) == 1
    assert shared("test-slow", 2, object) is not got[0]  # a new version replaces it



def test_client_addresses_count_as_one_host_and_a_local_proxy_is_no_address():
    """Issue 49: Streamlit listens on IPv4 and IPv6, so one IPv4 client can show as ::ffff:a.b.c.d; an IPv6 host
    picks any of the 2^64 addresses of its /64; a proxy on the same machine that forwards nothing shows every
    visitor as ::ffff:127.0.0.1 (measured), which must not lock everybody out as one address."""
    assert access.client_key("::ffff:203.0.113.7") == access.client_key("203.0.113.7") == "203.0.113.7"
    assert access.client_key("2001:db8:1:2::1") == access.client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert [access.client_key(a) for a in ("::ffff:127.0.0.1", "127.0.0.1", "::1", None, "", "x")] == [None] * 6
    gate, config, now = PasswordGate(), AccessConfig(owner_password="right"), 1000.0
    for i in range(access.MAX_TRIES):
        gate.check(config, "wrong", f"2001:db8:1:2::{i + 1:x}", now)
    assert gate.locked_for("2001:db8:1:2::99", now) > 0 and gate.locked_for("2001:db8:1:3::1", now) == 0
    for _ in range(access.MAX_TRIES):
        gate.check(config, "wrong", "::ffff:127.0.0.1", now)
    assert gate.locked_for("::ffff:127.0.0.1", now) == 0  # only the server-wide count saw them


@pytest.mark.usefixtures("local_owner")
def test_the_owner_reviews_given_crops_and_a_visitor_never_sees_them(env, monkeypatch):
    import numpy as np

    from fer.training.contributions import contribute, contributed_dir

    root = contributed_dir(env / "runs")
    kept, dropped, later = (contribute(root, emotion, np.random.default_rng(i).integers(0, 256, (48, 48), np.uint8))
                            for i, emotion in enumerate(("angry", "sad", "happy")))
    at = _page()  # locally, unconfigured: the owner
    assert any(e.label == "Given face crops waiting for review (3)" for e in at.expander)
    at.button(key=f"review_True_{kept.stem}").click().run()
    at.button(key=f"review_False_{dropped.stem}").click().run()
    assert not at.exception
    assert (root / "train" / "angry" / kept.name).exists() and not kept.exists() and not dropped.exists()
    monkeypatch.setenv("FER_PUBLIC", "1")
    visitor = _page()
    assert not any("waiting for review" in e.label for e in visitor.expander)
    assert not any(b.key and b.key.startswith("review_") for b in visitor.button)
