"""Where the browser will refuse the camera, the page says so."""

import pytest

from ui import inputs


@pytest.mark.parametrize("url, allowed", [
    ("http://localhost:8501/", True), ("http://127.0.0.1:8501/", True), ("http://[::1]:8501/", True),
    ("https://me.streamlit.app/", True), ("http://app.localhost/", True), (None, True), ("", True),
    ("http://127.0.0.2:8501/", True), ("http://192.168.1.20:8501/", False), ("http://my-box.lan:8501/", False),
    ("http://127.example.com/", False), ("http://127.0.0.1.nip.io:8501/", False)])
def test_the_camera_is_expected_only_in_a_secure_context(url, allowed):
    """Browsers give getUserMedia only to https pages and this machine's own addresses: elsewhere the page says so
    instead of leaving a browser error under the webcam."""
    assert inputs.camera_allowed(url) is allowed
