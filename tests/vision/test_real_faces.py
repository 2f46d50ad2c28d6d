"""benchmarks/real_faces.py on a labelled set of one's own (`--labels`): what someone with a licensed real-face
set runs to get per-class recall and the per-person gain. Photos here: FER2013 faces pasted into frames."""

import cv2
import numpy as np
import pytest

from benchmarks import ckplus, real_faces
from fer import EmotionRecognizer
from fer.emotions import EMOTIONS
from fer.training.archives import person_folds
from fer.training.data import load_dataset
from fer.vision.detect import iou
from tests.conftest import FER_CSV
from tests.scenes import face_frame

pytestmark = pytest.mark.skipif(not FER_CSV.exists(), reason="needs ../shared/datasets")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A folder of 8 photos whose face the app finds, two people, and its file,person,emotion CSV."""
    folder = tmp_path_factory.mktemp("own_set")
    rec = EmotionRecognizer.load()
    x, y = load_dataset(FER_CSV).split("PublicTest")
    rows = []
    for i, (face, label) in enumerate(zip(x[:200], y[:200])):
        frame, _ = face_frame(face, side=220, seed=i)
        if len(rec.predict(frame)) == 1:
            name = f"photo{len(rows)}.png"
            cv2.imwrite(str(folder / name), frame)
            rows.append((name, f"p{len(rows) % 2}", EMOTIONS[label]))
        if len(rows) == 8:
            break
    (folder / "labels.csv").write_text("file,person,emotion\n" + "".join(f"{f},{p},{e}\n" for f, p, e in rows))
    return folder, rows


def test_own_labelled_photos_give_per_class_recall_and_the_per_person_gain(labelled, capsys):
    folder, rows = labelled
    before = sorted(folder.iterdir())
    assert real_faces.main(["--labels", str(folder / "labels.csv"), "--boot", "20", "--weights", "1.0"]) == 0
    out = capsys.readouterr().out
    counts = {e: sum(r[2] == e for r in rows) for e in EMOTIONS}
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.split()}
    for e, n in counts.items():
        assert (e in lines and int(lines[e][1]) == n) == (n > 0)  # one line per emotion the set holds
    assert "faces found in 8" in out
    assert "leave one photo out, 2 people" in out and "resting face 1.0 + answers" in out
    assert sorted(folder.iterdir()) == before  # nothing written: no photo copied, no crop kept


def test_a_bad_labels_file_is_one_sentence(labelled, tmp_path):
    folder, _ = labelled
    (tmp_path / "odd.csv").write_text("file,person,emotion\nphoto0.png,p0,smug\n")
    with pytest.raises(SystemExit, match="Unknown emotions"):
        real_faces.main(["--labels", str(tmp_path / "odd.csv")])
    (tmp_path / "gone.csv").write_text("file,person,emotion\nnot_there.png,p0,happy\n")
    with pytest.raises(SystemExit, match="could not be read"):
        real_faces.main(["--labels", str(tmp_path / "gone.csv")])


def fake_recognizer(label: int) -> EmotionRecognizer:
    """A recogniser whose classifier reads every face as `label`."""
    from fer.vision.classifier import Classifier

    return EmotionRecognizer(Classifier(lambda faces: np.eye(7, dtype=np.float32)[[label] * len(faces)], "fake"))


def test_ckplus_folds_each_model_reads_only_its_own_people():
    """benchmarks/ckplus.py --folds: model k reads the faces of fold k's people and no one else's."""
    people = np.array([f"S{i // 3:03d}" for i in range(30)])  # 10 people, 3 photos each
    fold = person_folds(people, 3)
    readings = ckplus.read_by_fold([fake_recognizer(k) for k in range(3)], fold,
                                   np.zeros((30, 48, 48), np.uint8), "crops")
    for person in set(people):
        read_as = {int(np.argmax(readings[j])) for j in np.flatnonzero(people == person)}
        assert read_as == {int(fold[people == person][0])}  # one fold per person, read by that fold's model


def test_ckplus_report_resamples_people_and_counts_a_missed_face_as_wrong(capsys):
    labels = np.array([0, 0, 0, 0, 3, 3])
    people = np.array(["a", "a", "b", "b", "a", "b"])
    readings = [np.eye(7)[0], np.eye(7)[4], np.eye(7)[0], None, np.eye(7)[3], np.eye(7)[3]]
    got = ckplus.report("t", readings, labels, people, boot=50)
    assert got["recall"] == {"angry": 0.5, "happy": 1.0} and got["macro"] == 0.75 and got["found"] == 5 / 6
    lo, hi = got["macro_interval"]
    assert lo == hi == 0.75  # persons a and b each have angry 1/2, happy 1/1: every draw of people gives 0.75
    assert "none" in capsys.readouterr().out


def test_ckplus_webcam_frames_hold_the_face_where_the_app_finds_it():
    rec = EmotionRecognizer.load()
    x, _ = load_dataset(FER_CSV).split("PublicTest")
    hits = 0
    for i in range(10):
        frame, box = ckplus.webcam_frame(x[i], i)
        assert frame.shape[:2] in ((480, 640), (720, 1280)) and frame.dtype == np.uint8
        hits += any(iou(f.box, box) > 0.3 for f in rec.read_photo(frame)[0])
    assert hits >= 7
