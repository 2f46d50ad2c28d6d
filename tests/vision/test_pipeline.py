"""EmotionRecognizer on real faces (FER2013 faces from ../shared, scikit-image's astronaut), streams, and the CLI."""

import json

import cv2
import numpy as np
import pytest

from fer import EmotionRecognizer, StreamTracker
from fer.emotions import EMOTIONS
from fer.predict import main as predict_main
from fer.training.data import load_dataset
from fer.vision.detect import iou
from tests.conftest import FER_CSV
from tests.scenes import astronaut_frame, background, paste_face

needs_fer = pytest.mark.skipif(not FER_CSV.exists(), reason="needs ../shared/datasets")


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer.load()


@pytest.fixture(scope="module")
def fer_faces():
    """PublicTest faces that the Haar cascade finds when pasted at 160 px (FER crops are tight)."""
    x, y = load_dataset(FER_CSV).split("PublicTest")
    return x[:40], y[:40]


def test_astronaut_face_is_found_and_classified(rec):
    frame, box = astronaut_frame()
    faces = rec.predict(frame)
    assert len(faces) == 1
    f = faces[0]
    assert iou(f.box, box) > 0.5
    assert all(isinstance(v, int) for v in f.box)
    assert set(f.probs) == set(EMOTIONS) and sum(f.probs.values()) == pytest.approx(1, abs=1e-5)
    assert f.emotion == max(f.probs, key=f.probs.get) and f.confidence == f.probs[f.emotion]
    assert f.emotion == "happy"  # she smiles broadly


def test_gray_input_gives_the_same_faces(rec):
    frame, _ = astronaut_frame()
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert [f.box for f in rec.predict(gray)] == [f.box for f in rec.predict(frame)]


def test_no_face_gives_an_empty_list(rec):
    assert rec.predict(background()) == []
    assert rec.predict(np.zeros((10, 10, 3), np.uint8)) == []


def test_bad_array_is_a_clear_error(rec):
    with pytest.raises(ValueError, match="uint8"):
        rec.predict(np.zeros((10, 10, 3), np.float32))


@needs_fer
def test_several_faces_are_batched_and_sorted_largest_first(rec, fer_faces):
    x, _ = fer_faces
    frame = background(960, 480)
    sizes = [120, 200, 160]
    truth = [paste_face(frame, x[i], 40 + 300 * k, 100, s) for k, (i, s) in enumerate(zip((0, 3, 5), sizes))]
    faces = rec.predict(frame)
    assert len(faces) >= 2
    areas = [f.box[2] * f.box[3] for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert max(iou(faces[0].box, t) for t in truth) > 0.5


@needs_fer
def test_classify_takes_crops_of_any_size(rec, fer_faces):
    x, y = fer_faces
    crops = [cv2.resize(x[0], (100, 100)), x[1], cv2.cvtColor(cv2.resize(x[2], (30, 30)), cv2.COLOR_GRAY2BGR)]
    p = rec.classify(crops)
    assert p.shape == (3, 7) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert rec.classify([]).shape == (0, 7)


def test_huge_photo_is_downscaled_and_boxes_map_back(rec):
    frame, box = astronaut_frame()
    huge = cv2.resize(frame, None, fx=6, fy=6, interpolation=cv2.INTER_LINEAR)  # 3840x2880
    faces = rec.predict(huge)
    assert faces and iou(faces[0].box, tuple(6 * v for v in box)) > 0.5


def test_stream_tracker_follows_a_moving_face(rec):
    tracker = StreamTracker()
    hits = 0
    for i in range(30):
        frame, box = astronaut_frame(dx=(i % 10) * 3 - 15)
        faces = rec.predict(frame, tracker)
        hits += bool(faces) and iou(faces[0].box, box) > 0.5
    assert hits == 30


def test_stream_tracker_finds_a_face_that_appears(rec):
    tracker = StreamTracker(redetect_every=5)
    assert rec.predict(background(), tracker) == []
    frame, box = astronaut_frame()
    assert iou(rec.predict(frame, tracker)[0].box, box) > 0.5


def test_cli_keeps_going_past_a_bad_file_and_exits_non_zero(tmp_path, capsys):
    frame, _ = astronaut_frame()
    good = tmp_path / "me.png"
    cv2.imwrite(str(good), frame)
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    code = predict_main([str(bad), str(good), "--json", "--top", "3", "--annotate", str(tmp_path / "out.png")])
    captured = capsys.readouterr()
    assert code == 1
    not_image = "This file is not an image (or not a format we can read)."
    assert captured.err.strip().splitlines() == [f"error: {bad}: {not_image}"]
    results = json.loads(captured.out)
    assert results[0]["error"] and results[1]["faces"][0]["emotion"] == "happy"
    assert results[1]["genre"] == "Thriller" and len(results[1]["movies"]) == 3
    assert results[1]["mood_source"] == "the only face"  # was "" (issue 50)
    assert all(m["reason"].startswith("Thriller for a happy mood") for m in results[1]["movies"])
    annotated = cv2.imread(str(tmp_path / "out_me.png"))
    assert annotated.shape == frame.shape and not np.array_equal(annotated, frame)


def test_cli_text_output(tmp_path, capsys):
    frame, _ = astronaut_frame()
    cv2.imwrite(str(tmp_path / "a.png"), frame)
    assert predict_main([str(tmp_path / "a.png"), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "happy" in out and "genre for happy (the only face): Thriller" in out and "imdb.com/title/" in out


def test_cli_refuses_an_annotate_name_it_cannot_write(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        predict_main([str(tmp_path / "a.png"), "--annotate", str(tmp_path / "out.txt")])
    assert exit_.value.code == 2 and "--annotate: OpenCV cannot write" in capsys.readouterr().err
