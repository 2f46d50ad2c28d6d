"""benchmarks/real_faces.py on a labelled set of one's own (`--labels`): what someone with a licensed real-face
set runs to get per-class recall and the per-person gain. Photos here: FER2013 faces pasted into frames."""

import cv2
import pytest

from benchmarks import real_faces
from fer import EmotionRecognizer
from fer.emotions import EMOTIONS
from fer.training.data import load_dataset
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
