"""`python -m fer.prior`: a run's class prior put back to its dataset's (models/candidates-real-faces.md, H)."""

import numpy as np
import torch

from fer.emotions import EMOTIONS
from fer.model import load_checkpoint, update_checkpoint
from fer.training import loop as train
from fer.training import prior
from fer.training.data import load_dataset
from fer.training.targets import split_data
from tests.conftest import synthetic_faces, write_csv
from tests.training.test_real_face_training import write_people


def test_the_head_bias_is_lowered_by_the_log_ratio_of_class_shares(tmp_path, capsys):
    images, labels = synthetic_faces(70)
    data = write_csv(tmp_path / "tiny.csv", images, labels, ["Training"] * 42 + ["PublicTest"] * 28)
    root = write_people(tmp_path / "real")  # 6 people x 4 faces, no neutral
    run = tmp_path / "run"
    assert train.main(["--data", str(data), "--arch", "vgg", "--batch-size", "8", "--out", str(run), "--dry-run",
                       "--threads", "1", "--epochs", "1", "--real-faces", str(root), "--real-weight", "3"]) == 0
    update_checkpoint(run / "best.pt", temperature=0.5)  # fitted to the old net: must not be carried over
    out = tmp_path / "h" / "best.pt"
    assert prior.main([str(run / "best.pt"), "--out", str(out)]) == 0
    assert "logits lowered by" in capsys.readouterr().out

    # Expected from counts alone: FER2013 Training labels, then the same with each real face added 3 times.
    fer_labels = load_dataset(data).labels[split_data(load_dataset(data), 0)[0]]
    real = np.bincount(np.repeat([EMOTIONS.index(d.name) for d in root.iterdir() for _ in d.iterdir()], 3),
                       minlength=7)
    fer = np.bincount(fer_labels, minlength=7)
    mixed = fer + real
    expected = np.log(mixed / mixed.sum()) - np.log(fer / fer.sum())
    before, _ = load_checkpoint(run / "best.pt")
    after, meta = load_checkpoint(out)
    torch.testing.assert_close(after.head[-1].bias, before.head[-1].bias - torch.tensor(expected, dtype=torch.float32))
    assert expected[EMOTIONS.index("neutral")] < 0  # the real faces taught no neutral face: neutral goes up again
    assert "temperature" not in meta and meta["prior_of"] == str(run / "best.pt")
    for name, value in before.state_dict().items():
        if name != "head.3.bias":
            torch.testing.assert_close(after.state_dict()[name], value)


def test_a_run_without_added_faces_is_unchanged_and_a_bad_file_is_one_sentence(tiny_csv, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(["--data", str(tiny_csv), "--batch-size", "8", "--out", str(run), "--dry-run", "--threads", "1",
                       "--epochs", "1"]) == 0
    assert prior.main([str(run / "best.pt"), "--out", str(tmp_path / "same.pt")]) == 0
    torch.testing.assert_close(load_checkpoint(tmp_path / "same.pt")[0].head[-1].bias,
                               load_checkpoint(run / "best.pt")[0].head[-1].bias)
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    assert prior.main([str(tmp_path / "broken.pt"), "--out", str(tmp_path / "x.pt")]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
