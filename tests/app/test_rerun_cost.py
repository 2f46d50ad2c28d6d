"""What a rerun of the page does not do again: read a photo it has read (Streamlit reruns the whole script on every
interaction), or ask for TURN credentials it has (the webcam mode runs on every interaction too)."""

import sys
import threading
import time
from types import ModuleType, SimpleNamespace

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer.emotions import EMOTIONS
from fer.vision import explain
from fer.vision.recognizer import EmotionRecognizer
from tests.app.conftest import _click, _upload, needs_fer
from tests.scenes import astronaut_frame
from ui import inputs


@pytest.fixture
def counted(monkeypatch):
    """Counts of the photo's detections, classifications and "Show why" maps, as the page runs."""
    calls = {"detect": 0, "classify": 0, "explain": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(EmotionRecognizer, "detect", counting("detect", EmotionRecognizer.detect))
    monkeypatch.setattr(EmotionRecognizer, "classify_boxes", counting("classify", EmotionRecognizer.classify_boxes))
    monkeypatch.setattr(explain, "occlusion_map", counting("explain", explain.occlusion_map))
    return calls


@needs_fer
def test_a_photo_is_read_once_across_reruns_and_a_resting_face_taken_from_it(app, face_png, counted):
    data, face = face_png
    at = _upload(app, "me.png", data)
    assert counted == {"detect": 1, "classify": 1, "explain": 0}
    at.run()
    at.run()
    at.toggle(key="show_why").set_value(True).run()
    at.toggle(key="show_why").set_value(False).run()
    at.toggle(key="show_why").set_value(True).run()
    assert not at.exception and counted == {"detect": 1, "classify": 1, "explain": 1}  # one face: one map
    held = at.session_state["photo"]  # its faces and maps, not its decoded pixels: each rerun decodes the upload
    arrays = [v for v in vars(held).values() if isinstance(v, np.ndarray)] + held.maps
    assert sum(a.nbytes for a in arrays) == 48 * 48 * 4
    at = _click(at.button, "Use this picture as my resting face")
    # The model's own reading of the face found (not corrected, as a calibration records), and no new detection,
    # although the page now reads with this person's recogniser.
    assert at.session_state["resting"] == pytest.approx([face.probs[e] for e in EMOTIONS], abs=1e-6)
    assert not at.exception and counted == {"detect": 1, "classify": 1, "explain": 1}
    at = _upload(at, "other.png", cv2.imencode(".png", astronaut_frame()[0])[1].tobytes())
    assert counted["detect"] == 2 and at.session_state["photo"].faces[0].box != face.box  # a new photo: read
    at.radio(key="input_mode").set_value("Snapshot").run()  # the photo is off screen: not kept in memory
    assert not at.exception and "photo" not in at.session_state


@needs_fer
def test_a_photo_without_a_face_is_read_once_across_reruns(app, counted):
    at = _upload(app, "wall.png", cv2.imencode(".png", np.full((480, 640, 3), 128, np.uint8))[1].tobytes())
    at.run()
    at.run()
    assert not at.exception and inputs.NO_FACE_HINT in [w.value for w in at.warning]
    assert counted == {"detect": 1, "classify": 1, "explain": 0}  # on screen: kept, though it read as no mood


def _twilio_page():
    import streamlit as st

    from ui.inputs import rtc_configuration

    st.session_state["ice"] = rtc_configuration()


def _webcam_runs(sessions: int, runs: int) -> list[AppTest]:
    """Sessions of a page that builds the webcam's RTC configuration, with Twilio credentials in the secrets."""
    done = []
    for _ in range(sessions):
        at = AppTest.from_function(_twilio_page)
        at.secrets["twilio"] = {"account_sid": "AC0", "auth_token": "secret"}
        for _ in range(runs):
            at.run()
        done.append(at)
    return done


STUN = "stun:stun.l.google.com:19302"  # what the webcam falls back to without TURN


@pytest.fixture
def twilio(monkeypatch):
    """A stand-in for the twilio package: records each credentials request's ttl; `down` makes requests fail; a
    request answers once `release` is set (it is)."""
    service = SimpleNamespace(asked=[], down=False, release=threading.Event(),
                              servers=[{"urls": ["turn:turn.example:3478"], "username": "u", "credential": "c"}])

    class Tokens:
        def create(self, ttl):
            service.asked.append(ttl)
            service.release.wait(30)
            if service.down:
                raise ConnectionError("Twilio is down")
            return SimpleNamespace(ice_servers=service.servers)

    rest, http = ModuleType("twilio.rest"), ModuleType("twilio.http.http_client")
    rest.Client = lambda sid, token, http_client=None: SimpleNamespace(tokens=Tokens())
    http.TwilioHttpClient = lambda timeout=None: None
    for name, module in (("twilio", ModuleType("twilio")), ("twilio.rest", rest), ("twilio.http", ModuleType("x")),
                         ("twilio.http.http_client", http)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(inputs, "_turn", None, raising=False)  # this server has asked nothing yet
    monkeypatch.setattr(inputs, "_turn_asking", False, raising=False)
    service.release.set()
    return service


def test_turn_credentials_are_asked_once_per_server_and_a_failure_is_one_sentence_and_stun(twilio):
    for at in _webcam_runs(sessions=2, runs=3):
        assert not at.exception and not at.warning and at.session_state["ice"] == {"iceServers": twilio.servers}
    assert len(twilio.asked) == 1

    twilio.down, twilio.asked[:] = True, []
    inputs._turn = None  # a server that starts while Twilio is down: nothing asked, nothing cached
    for at in _webcam_runs(sessions=2, runs=2):
        assert not at.exception and at.session_state["ice"] == {"iceServers": [{"urls": [STUN]}]}
        assert [w.value for w in at.warning] == ["Could not get TURN servers from Twilio (ConnectionError): using a "
                                                 "public STUN server, so the webcam may not connect (Snapshot always "
                                                 "works)."]
    assert len(twilio.asked) == 1  # the failure too is remembered (for TURN_RETRY_S): not one lookup per run


class _CountedCondition(threading.Condition):
    """A condition that counts the waits on it."""
    waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1  # under the condition's lock
        return super().wait(timeout)


def _until(done, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("cached", [True, False], ids=["expired", "fresh server"])
def test_one_lookup_when_many_sessions_need_turn_servers_at_once(twilio, monkeypatch, cached):
    """When the cached TURN servers expire (or a fresh server's first pages run together), one session asks Twilio
    while the others serve the expired servers (or, with none, wait for that one answer): not a lookup each."""
    old = ({"iceServers": [{"urls": ["turn:old.example:3478"]}]}, None)
    if cached:
        monkeypatch.setattr(inputs, "_turn", (("AC0", "secret"), time.monotonic() - 1, *old))
    lock = _CountedCondition()
    monkeypatch.setattr(inputs, "_turn_lock", lock)
    twilio.release.clear()  # Twilio's answer takes until the test releases it
    got = []
    sessions = [threading.Thread(target=lambda: got.append(inputs.twilio_configuration("AC0", "secret")))
                for _ in range(8)]
    try:
        for t in sessions:
            t.start()
        # each session is in Twilio's call, has been served, or waits for the call's answer
        _until(lambda: len(twilio.asked) + len(got) + lock.waits >= len(sessions))
    finally:
        twilio.release.set()
        for t in sessions:
            t.join(30)
    new = ({"iceServers": twilio.servers}, None)
    assert len(twilio.asked) == 1
    assert sorted(got, key=str) == sorted([new] + [old if cached else new] * 7, key=str)



def test_a_session_waits_for_a_stuck_turn_lookup_no_longer_than_the_lookup_timeout(twilio, monkeypatch):
    """A lookup stuck beyond its own timeout (name resolution is not covered by it) holds no other page longer:
    they get STUN and one sentence."""
    monkeypatch.setattr(inputs, "TURN_TIMEOUT_S", 0.2)
    twilio.release.clear()
    first = threading.Thread(target=inputs.twilio_configuration, args=("AC0", "secret"))
    try:
        first.start()
        _until(lambda: len(twilio.asked) == 1)
        assert inputs.twilio_configuration("AC0", "secret") == (inputs.STUN, "Twilio did not answer in time")
    finally:
        twilio.release.set()
        first.join(30)
    assert len(twilio.asked) == 1


@needs_fer
def test_a_damaged_upload_lets_the_last_photo_go(app, face_png):
    at = _upload(app, "me.png", face_png[0])
    assert "photo" in at.session_state
    at = _upload(at, "broken.jpg", b"\xff\xd8\xff" + bytes(64))
    assert not at.exception and at.error and "photo" not in at.session_state
