"""Face alignment (fer/vision/align.py) and the choice of face detector (fer/vision/detect.py), on real faces."""

import dataclasses

import cv2
import numpy as np
import pytest

import fer.vision.align as align
import fer.vision.detect as detect
from fer import EmotionRecognizer
from fer.server.pool import Pool
from fer.training.data import FaceDataset, align_dataset
from fer.vision.align import EYES_AT, align_matrix, aligned_crop, face_crop, wants_aligned
from fer.vision.classifier import load_classifier
from fer.vision.detect import Found, HaarDetector, YuNetDetector, make_detector
from tests.scenes import astronaut_frame


def _turned(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h),
                          borderMode=cv2.BORDER_REPLICATE)


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def test_the_eyes_land_level_on_fer2013s_eye_points_whatever_the_tilt_and_size():
    for eyes in [(100.0, 200.0, 180.0, 200.0), (100.0, 200.0, 160.0, 240.0), (50.0, 80.0, 62.0, 71.0)]:
        m = align_matrix(eyes)
        moved = m @ np.array([[eyes[0], eyes[2]], [eyes[1], eyes[3]], [1.0, 1.0]])
        assert np.allclose(moved.T.ravel(), EYES_AT, atol=1e-6)


def test_degenerate_eye_points_fall_back_to_the_box_crop():
    gray = _gray(astronaut_frame()[0])
    box = (246, 63, 87, 87)
    for eyes in [(300.0, 100.0, 301.0, 100.0), (300.0, 100.0, 260.0, 100.0), (np.nan, 1.0, 2.0, 3.0)]:
        assert aligned_crop(gray, eyes) is None
        assert np.array_equal(face_crop(gray, Found(box, eyes), 0.0, align=True),
                              face_crop(gray, Found(box), 0.0, align=True))


def test_an_aligned_face_is_framed_alike_wherever_and_however_large_it_is():
    """The astronaut small at the left and large at the right of a frame: her aligned crops agree with each
    other better than her box crops do, and the eyes YuNet found land on FER2013's eye points."""
    photo = _gray(astronaut_frame()[0])[:, 80:560]  # the 480x480 photo
    crops, boxed = [], []
    for side, x0 in ((300, 20), (460, 170)):
        frame = np.full((480, 640), 40, np.uint8)
        frame[10:10 + side, x0:x0 + side] = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
        found = YuNetDetector().find(frame)[0]
        crops.append(face_crop(frame, found, 0.0, align=True).astype(np.float32))
        boxed.append(face_crop(frame, found, 0.0, align=False).astype(np.float32))
        m = align_matrix(found.eyes)
        assert np.allclose((m @ [found.eyes[0], found.eyes[1], 1]), EYES_AT[:2], atol=1e-6)
    assert np.abs(crops[0] - crops[1]).mean() < 0.9 * np.abs(boxed[0] - boxed[1]).mean()


def test_yunet_finds_tilted_faces_that_haar_misses():
    gray = _turned(_gray(astronaut_frame()[0]), 30)
    found = YuNetDetector().find(gray)
    assert len(found) == 1 and found[0].eyes is not None
    x, y, w, h = found[0].box
    assert abs(x + w / 2 - 227) < 0.4 * w and abs(y + h / 2 - 140) < 0.4 * h  # where the turn moved her face
    assert HaarDetector().find(gray) == []


def test_yunet_is_the_default_and_haar_is_still_there():
    assert isinstance(make_detector(), YuNetDetector)
    assert isinstance(make_detector("haar"), HaarDetector)
    assert isinstance(EmotionRecognizer.load(detector="haar").detector, HaarDetector)
    with pytest.raises(ValueError, match="Unknown face detector"):
        make_detector("mtcnn")


def test_without_haar_in_opencv_the_app_still_reads_faces(monkeypatch):
    """OpenCV 5 wheels have no CascadeClassifier and no cascade files: asking for Haar gets YuNet."""
    monkeypatch.delattr(cv2, "CascadeClassifier")
    assert not detect.haar_available()
    rec = EmotionRecognizer.load(detector="haar")
    assert isinstance(rec.detector, YuNetDetector)
    assert rec.predict(astronaut_frame()[0])[0].emotion == "happy"


def test_without_yunet_haar_takes_over_and_without_both_one_sentence(monkeypatch):
    monkeypatch.setattr(detect, "YUNET", detect.YUNET.with_name("missing.onnx"))
    assert isinstance(make_detector(), HaarDetector)
    monkeypatch.setattr(detect, "haar_available", lambda: False)
    with pytest.raises(RuntimeError, match="no usable face detector"):
        make_detector()


def test_the_shipped_model_reads_box_crops_and_an_aligned_model_aligned_ones():
    shipped = load_classifier()
    assert not wants_aligned(shipped.info) and not EmotionRecognizer(shipped).align
    aligned = dataclasses.replace(shipped, info={**shipped.info, "aligned": True})
    rec = EmotionRecognizer(aligned)
    gray = _turned(_gray(astronaut_frame()[0]), 20)
    face = rec.predict(gray)[0]
    assert face.eyes is not None
    assert np.array_equal(rec.crop(gray, face), aligned_crop(gray, face.eyes))


def test_a_dataset_is_aligned_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_RUNS", str(tmp_path))
    face = cv2.resize(_gray(astronaut_frame()[0])[40:200, 200:380], (48, 48), interpolation=cv2.INTER_AREA)
    ds = FaceDataset(np.stack([face, _turned(face, 15)]), np.array([3, 3]), np.array(["Training"] * 2), "t")
    first = align_dataset(ds)
    assert list(tmp_path.glob("cache/eyes-*.npy"))
    monkeypatch.setattr(align, "eyes_48", lambda images: pytest.fail("eyes found again instead of cached"))
    again = align_dataset(ds)
    assert np.array_equal(first.images, again.images) and not np.array_equal(first.images, ds.images)


def test_a_model_trained_with_align_says_so_and_is_read_aligned(tiny_csv, tmp_path, monkeypatch):
    from fer.model import load_checkpoint, reading_info
    from fer.training import loop as train

    monkeypatch.setenv("FER_RUNS", str(tmp_path))
    out = tmp_path / "run"
    assert train.main(["--data", str(tiny_csv), "--batch-size", "8", "--out", str(out), "--dry-run",
                       "--threads", "1", "--epochs", "1", "--align"]) == 0
    _, meta = load_checkpoint(out / "best.pt")
    assert reading_info(meta)["aligned"] and EmotionRecognizer.load(out / "best.pt").align
    assert list(tmp_path.glob("cache/eyes-*.npy"))  # the training faces were put through the eye finder


def test_a_detector_answer_that_is_no_box_is_no_face():
    """YuNet once answered a blank 10x10 image with a row of infinities (a full test run): no face, no crash."""
    det = YuNetDetector()

    class Odd:
        def setInputSize(self, size):
            pass

        def detect(self, image):
            rows = np.full((3, 15), 5.0, np.float32)
            rows[0, 0], rows[1, 2] = np.inf, 0.0  # infinite x, zero width; the third row is a real 5 px face
            return 1, rows

    det.pool = Pool(Odd)
    assert [f.box for f in det.find(np.zeros((10, 10), np.uint8))] == [(5, 5, 5, 5)]
