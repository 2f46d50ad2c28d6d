"""The app launcher the browser tests and benchmarks share (tests/launch.py): a benchmark whose app cannot start
says so in one sentence."""

import socket

import pytest

from tests.launch import serve


def test_a_port_in_use_is_one_sentence_not_a_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as e:
            serve(taken.getsockname()[1])
    assert str(e.value).startswith("The app could not be started: port ") and "\n" not in str(e.value)
