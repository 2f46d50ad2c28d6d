"""One recogniser, many viewers: the app caches one EmotionRecognizer for every browser session and every
webcam thread, so it must give each thread the same answers it gives one thread alone."""

import logging
import math
import threading

import numpy as np
import pytest

from fer import EmotionRecognizer, StreamTracker
from fer.files import atomic_write
from fer.vision.live import LiveMood
from tests.scenes import astronaut_frame

THREADS = 6


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer.load()


def _stream(phase: int, n: int = 40) -> list[np.ndarray]:
    return [astronaut_frame(dx=round(24 * math.sin((i + phase) / 6)))[0] for i in range(n)]


def _run_stream(rec, frames):
    tracker = StreamTracker()
    return [[(f.box, f.emotion, round(f.confidence, 5)) for f in rec.predict(frame, tracker)] for frame in frames]


def _in_threads(work, n):
    results, errors = [None] * n, []

    def run(i):
        try:
            results[i] = work(i)
        except Exception as e:  # noqa: BLE001 (collected: the test expects none)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_streams_in_many_threads_give_what_one_thread_gives(rec):
    streams = [_stream(7 * i) for i in range(THREADS)]
    alone = [_run_stream(rec, s) for s in streams]
    together, errors = _in_threads(lambda i: _run_stream(rec, streams[i]), THREADS)
    assert errors == []
    assert together == alone
    assert all(any(faces) for faces in alone[0])  # the face was found: the comparison means something


def test_photos_in_many_threads_give_what_one_thread_gives(rec):
    photos = [astronaut_frame(width=1280 + 40 * i, height=960, dx=10 * i)[0] for i in range(THREADS)]
    alone = [[(f.box, f.emotion, round(f.confidence, 5)) for f in rec.predict(p)] for p in photos]
    together, errors = _in_threads(
        lambda i: [[(f.box, f.emotion, round(f.confidence, 5)) for f in rec.predict(photos[i])] for _ in range(5)],
        THREADS)
    assert errors == []
    assert all(runs == [alone[i]] * 5 for i, runs in enumerate(together))


def test_a_failing_frame_is_logged_once_and_the_stream_goes_on(rec, caplog):
    import av

    class Broken:
        def detect(self, *a):
            raise RuntimeError("detector exploded")

    live = LiveMood(rec)
    live.recognizer = Broken()
    on_frame = live.frame_callback()
    frame = av.VideoFrame.from_ndarray(astronaut_frame()[0], format="bgr24")
    with caplog.at_level(logging.ERROR, logger="fer.vision.live"):
        outs = [on_frame(frame) for _ in range(5)]
    assert all(o.to_ndarray(format="bgr24").shape == (480, 640, 3) for o in outs)  # the video keeps coming
    assert live.failed_frames == 5
    assert len([r for r in caplog.records if "Live frame failed" in r.message]) == 1


def test_many_writers_of_one_file_leave_one_whole_version_and_readers_never_see_half(tmp_path):
    # NOTE: the catalogue, posters, checkpoints and the model history are files every visitor shares.
    path = tmp_path / "shared.bin"
    path.write_bytes(b"old" * 100_000)
    versions = {b"old" * 100_000} | {bytes([i]) * 300_000 for i in range(THREADS)}
    seen, stop = set(), threading.Event()

    def write(i):
        for _ in range(10):
            with atomic_write(path) as f:
                f.write(bytes([i]) * 300_000)

    def read():
        while not stop.is_set():
            seen.add(path.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(i,)) for i in range(THREADS)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join()
    assert seen <= versions and path.read_bytes() in versions - {b"old" * 100_000}
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]  # no temp file left behind


def test_a_write_that_fails_half_way_keeps_the_old_file(tmp_path):
    path = tmp_path / "catalogue.json.gz"
    path.write_bytes(b"the old catalogue")
    with pytest.raises(OSError), atomic_write(path) as f:
        f.write(b"half of the new")
        raise OSError("disk full")
    assert path.read_bytes() == b"the old catalogue" and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_write_its_check_refuses_keeps_the_old_file(tmp_path):
    path = tmp_path / "upload.csv"
    path.write_bytes(b"the old file")

    def refuse(staged):
        assert staged.read_bytes() == b"not a dataset"  # the check sees all the written bytes
        raise ValueError("not trainable")

    with pytest.raises(ValueError), atomic_write(path, check=refuse) as f:
        f.write(b"not a dataset")
    assert path.read_bytes() == b"the old file" and [p.name for p in tmp_path.iterdir()] == [path.name]
