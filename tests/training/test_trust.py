"""A reading people can trust: calibration fitted on PublicTest only, "not sure", the resting-face
correction, the heatmap, and contributions only by opt-in."""

import shutil

import cv2
import numpy as np
import pytest

from fer import EmotionRecognizer
from fer.emotions import EMOTIONS
from fer.files import DEFAULT_MODEL, export_matches
from fer.model import load_checkpoint, predict_proba
from fer.server.access import Owner
from fer.training import calibrate, contributions
from fer.training import loop as train
from fer.training.archives import load_extra
from fer.training.contributions import ContributionRefused, contribute, pending, review, withdraw
from fer.training.data import load_dataset
from fer.training.dataset import FaceDataset
from fer.training.evaluate import calibration_figures, ece_noise_floor
from fer.vision.classifier import load_classifier
from fer.vision.explain import occlusion_map
from fer.vision.mood import read_mood
from fer.vision.recognizer import Face
from fer.vision.smoothing import StreamMood
from tests.scenes import astronaut_frame
from tests.vision.test_smoothing import face


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer.load()


def test_calibration_reads_publictest_only_and_both_paths_agree(tiny_csv, tmp_path, monkeypatch):
    assert train.main(["--data", str(tiny_csv), "--batch-size", "8", "--epochs", "1", "--out", str(tmp_path / "r"),
                       "--dry-run", "--threads", "1"]) == 0
    model = tmp_path / "m.pt"
    shutil.copy(tmp_path / "r" / "best.pt", model)
    real_split = FaceDataset.split

    def split(self, name):
        assert name != "PrivateTest", "calibration looked at PrivateTest"
        return real_split(self, name)

    monkeypatch.setattr(FaceDataset, "split", split)
    r = calibrate.calibrate(model, tiny_csv)
    monkeypatch.setattr(FaceDataset, "split", real_split)
    net, meta = load_checkpoint(model)
    assert meta["temperature"] == r["temperature"] and meta["uncertain_below"] == r["not_sure"]["threshold"]
    assert r["accuracy_before"] == r["accuracy_after"]  # temperature scaling never changes the winner
    faces = load_dataset(tiny_csv).split("PrivateTest")[0]
    assert export_matches(model)
    np.testing.assert_allclose(load_classifier(model).predict(faces), predict_proba(net, meta, faces), atol=1e-4)


def test_the_shipped_model_is_calibrated_and_its_export_says_so():
    _, meta = load_checkpoint(DEFAULT_MODEL)
    info = load_classifier(DEFAULT_MODEL).info
    assert meta["temperature"] != 1.0 and info["temperature"] == meta["temperature"]
    assert info["uncertain_below"] == meta["uncertain_below"] and len(info["neutral_reference"]) == 7


def test_the_ece_noise_floor_brackets_a_perfectly_calibrated_model():
    # Readings that are right exactly as often as they claim: their measured ECE falls inside the floor's range
    # (this is what lets the model card tell "miscalibrated" from "a finite test set"); a model whose confidence
    # is far from its accuracy falls outside it, and the floor shrinks as the test set grows.
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.3, 1.0, 3000)
    probs = np.zeros((3000, 7))
    probs[:, 0] = conf
    probs[:, 1:] = ((1 - conf) / 6)[:, None]
    floor = ece_noise_floor(conf)
    inside = [calibration_figures(probs, np.where(rng.random(3000) < conf, 0, 1))["ece"] <= floor["p95"]
              for _ in range(40)]
    assert sum(inside) >= 32
    overconfident = np.where(rng.random(3000) < conf - 0.1, 0, 1)
    assert calibration_figures(probs, overconfident)["ece"] > floor["p95"]
    assert ece_noise_floor(np.tile(conf, 10))["mean"] < floor["mean"] / 2
    assert ece_noise_floor(np.ones(100)) == {"mean": 0.0, "p95": 0.0}


def test_an_uncertain_reading_is_flagged_and_the_stream_keeps_its_last_sure_mood():
    p = dict(zip(EMOTIONS, [0.3, 0.0, 0.0, 0.0, 0.35, 0.0, 0.35]))
    r = read_mood([p], not_sure_below=0.57)
    assert r.uncertain and set(r.candidates) == {"sad", "neutral"}
    m = StreamMood(not_sure_below=0.57)
    for _ in range(10):
        m.update([face("happy")])
    doubtful = {**dict.fromkeys(EMOTIONS, 0.0), "sad": 0.36, "angry": 0.33, "happy": 0.31}
    for _ in range(10):  # a doubtful stretch: happy, sad and angry close together
        m.update([Face((100, 100, 80, 80), "sad", 0.36, doubtful)])
    assert m.reading.emotion == "happy" and not m.reading.uncertain


def test_resting_face_correction_moves_readings_the_intended_way(rec):
    frame, _ = astronaut_frame()
    plain = rec.predict(frame)[0].probs
    reference = np.array(rec.classifier.info["neutral_reference"])
    average = rec.with_person(reference)  # a person whose calm face reads like the average calm face
    assert average.predict(frame)[0].probs == pytest.approx(plain, abs=1e-6)
    stern = reference.copy()
    stern[EMOTIONS.index("sad")] *= 2.5  # a calm face the model reads as sad
    corrected = rec.with_person(stern / stern.sum()).predict(frame)[0].probs
    assert corrected["sad"] < plain["sad"]
    assert corrected["neutral"] > plain["neutral"] and corrected["happy"] > plain["happy"]


def test_calibrated_takes_whole_images_and_says_when_there_is_no_face(rec):
    frame, _ = astronaut_frame()
    same = rec.calibrated([frame])
    assert same.resting is not None and sum(same.resting) == pytest.approx(1, abs=1e-4)
    assert rec.calibrated([]).resting is None
    with pytest.raises(ValueError, match="No face found in calibration picture 1"):
        rec.calibrated([np.full((480, 640, 3), 128, np.uint8)])


def test_the_heatmap_has_the_face_shape_and_is_finite(rec):
    frame, _ = astronaut_frame()
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    heat = occlusion_map(rec, gray, rec.predict(frame)[0])
    assert heat.shape == (48, 48) and np.isfinite(heat).all() and 0 <= heat.min() and heat.max() == 1


def _face(seed: int) -> np.ndarray:
    """A 48x48 grey crop whose coarse structure varies by seed (distinct hashes)."""
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (6, 6)).astype(np.uint8), (48, 48), interpolation=cv2.INTER_LINEAR)


def test_a_contribution_waits_for_the_owner_then_joins_the_training_folder_and_can_be_withdrawn(tmp_path):
    path = contribute(tmp_path, "sad", _face(0))
    assert path.parent == tmp_path / "pending" / "sad" and cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape == (48, 48)
    with pytest.raises(ValueError):
        contribute(tmp_path, "sad", np.zeros((480, 640, 3), np.uint8))  # never a whole frame
    assert pending(tmp_path) == [(path, "sad")]
    with pytest.raises(PermissionError):
        review(None, tmp_path, path, approve=True)  # a visitor cannot approve
    review(Owner("local"), tmp_path, path, approve=True)
    assert pending(tmp_path) == [] and len(load_extra(tmp_path).split("Training")[0]) == 1
    other = contribute(tmp_path, "happy", _face(1))
    review(Owner("local"), tmp_path, other, approve=False)
    assert not other.exists() and pending(tmp_path) == []
    assert withdraw([path, tmp_path.parent / "elsewhere.png"], tmp_path) == 1  # approved since: still found
    assert not (tmp_path / "train" / "sad" / path.name).exists()


def test_the_same_face_is_not_kept_twice_and_quotas_hold(tmp_path, monkeypatch):
    face = _face(2)
    contribute(tmp_path, "sad", face)
    nudged = face.copy()
    nudged[10, 10] ^= 1  # one changed pixel (a changed byte in the photo)
    with pytest.raises(ContributionRefused, match="given already"):
        contribute(tmp_path, "angry", nudged)
    with pytest.raises(ContributionRefused, match="in this session"):
        contribute(tmp_path, "sad", _face(3), given_here=contributions.SESSION_QUOTA)
    monkeypatch.setattr(contributions, "SERVER_QUOTA", 3)
    contribute(tmp_path, "sad", _face(4))
    contribute(tmp_path, "sad", _face(5))
    with pytest.raises(ContributionRefused, match="waiting for review"):
        contribute(tmp_path, "sad", _face(6))
    assert len(pending(tmp_path)) == 3
