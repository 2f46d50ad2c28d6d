"""Real faces in training (--real-faces, person folds, --real-weight) and the logit-adjusted loss (--logit-adjust)."""

import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fer.emotions import EMOTIONS
from fer.training import loop as train
from fer.training.archives import load_real_faces, person_folds, real_training_faces
from fer.training.config import TrainConfig
from fer.training.data import load_dataset
from fer.training.targets import class_log_prior, split_data, with_added_faces
from tests.conftest import SHARED, synthetic_faces, write_csv

CKPLUS = SHARED / "ckplus-dev"


def write_people(root, people: int = 6, per_person: int = 4):
    """<emotion>/P<i>_<seq>_<frame>.png: `people` people, each with `per_person` faces of cycling emotions."""
    images, _ = synthetic_faces(people * per_person, seed=3)
    for i, img in enumerate(images):
        person, k = i // per_person, i % per_person
        d = root / EMOTIONS[(person + k) % 6]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"P{person:03d}_{k:03d}_0001.png"), img)
    return root


def test_real_faces_keep_their_person_and_label(tmp_path):
    ds, people, names = load_real_faces(write_people(tmp_path))
    assert len(ds) == 24 and sorted(set(people)) == [f"P{i:03d}" for i in range(6)]
    for label, name, person in zip(ds.labels, names, people):
        assert name.startswith(person + "_")
        assert cv2.imread(str(tmp_path / EMOTIONS[label] / f"{name}.png"), cv2.IMREAD_GRAYSCALE) is not None


@pytest.mark.parametrize("k", [2, 3, 5])
def test_no_person_is_in_two_folds_and_folds_are_even(tmp_path, k):
    _, people, _ = load_real_faces(write_people(tmp_path, people=11))
    fold = person_folds(people, k)
    for p in set(people):
        assert len(set(fold[people == p])) == 1
    sizes = [len(set(people[fold == i])) for i in range(k)]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 11
    assert np.array_equal(fold, person_folds(people, k))  # the benchmark deals the same folds as training


@pytest.mark.skipif(not CKPLUS.exists(), reason="needs ../shared/datasets/ckplus-dev")
def test_ckplus_dev_folds_never_share_a_person():
    _, people, _ = load_real_faces(CKPLUS)
    fold = person_folds(people, 5)
    owners = {}
    for p, f in zip(people, fold):
        assert owners.setdefault(p, f) == f
    assert len(set(fold)) == 5


def test_a_held_out_fold_trains_on_every_other_person_only(tmp_path):
    root = write_people(tmp_path)
    _, people, _ = load_real_faces(root)
    fold = person_folds(people, 3)
    held = real_training_faces(root, 3, 1)
    assert len(held) == int(np.sum(fold != 1)) and len(real_training_faces(root, 3, None)) == len(people)
    with pytest.raises(ValueError, match="must be 0 to 2"):
        real_training_faces(root, 3, 3)


def test_bad_real_face_folders_are_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        load_real_faces(tmp_path / "missing")
    with pytest.raises(ValueError, match="no folder named after an emotion"):
        load_real_faces(tmp_path)
    with pytest.raises(ValueError, match="need 2 to 1"):
        person_folds(np.array(["a", "a"]), 2)


def test_real_faces_are_added_real_weight_times_with_their_labels(tmp_path):
    root = write_people(tmp_path)
    x, y = synthetic_faces(10)
    cfg = TrainConfig(data="-", real_faces=str(root), real_weight=3, real_folds=3, real_fold=0)
    targets = np.full((10, 7), 1 / 7, np.float32)
    x2, y2, t2 = with_added_faces(cfg, x, y, targets)
    n = len(real_training_faces(root, 3, 0))
    assert len(x2) == len(y2) == len(t2) == 10 + 3 * n
    assert np.array_equal(t2[10:].argmax(1), y2[10:]) and np.allclose(t2[10:].sum(1), 1)
    assert np.array_equal(y2[10:10 + n], y2[10 + n:10 + 2 * n])


def test_class_log_prior_is_the_log_share_of_labels_or_targets():
    labels = torch.tensor([0, 0, 0, 1, 3, 3, 3, 3])
    prior = class_log_prior(labels).exp()
    assert torch.allclose(prior[[0, 1, 3]], torch.tensor([3 / 8, 1 / 8, 4 / 8]))
    assert torch.all(prior[[2, 4, 5, 6]] == prior[1])  # never taught: the smallest share, not log 0
    soft = F.one_hot(labels, 7).float() * 0.5 + 0.5 / 7
    assert torch.allclose(class_log_prior(soft).exp(), soft.sum(0) / soft.sum())


def test_logit_adjusted_loss_adds_the_prior_to_the_logits_it_scores():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 7))
    x, y = torch.randn(5, 1, 2, 2), torch.tensor([0, 1, 2, 3, 4])
    cfg = TrainConfig(data="-", label_smoothing=0.0, logit_adjust=1.0)
    adjust = torch.log(torch.tensor([0.4, 0.01, 0.1, 0.2, 0.1, 0.09, 0.1]))
    logits, loss = train.batch_loss(model, x, y, cfg, adjust)
    assert torch.allclose(logits, model(x))  # what the net reads at test time is unadjusted
    assert torch.isclose(loss, F.cross_entropy(model(x) + adjust, y))
    assert not torch.isclose(loss, train.batch_loss(model, x, y, cfg)[1])


def test_a_run_with_real_faces_and_logit_adjustment_trains_and_records_them(tmp_path, capsys):
    images, labels = synthetic_faces(70)
    data = write_csv(tmp_path / "tiny.csv", images, labels, ["Training"] * 42 + ["PublicTest"] * 14 +
                     ["PrivateTest"] * 14)
    root = write_people(tmp_path / "real")
    out = tmp_path / "run"
    assert train.main(["--data", str(data), "--arch", "vgg", "--batch-size", "8", "--out", str(out), "--dry-run",
                       "--threads", "1", "--epochs", "1", "--real-faces", str(root), "--real-weight", "2",
                       "--real-folds", "3", "--real-fold", "2", "--logit-adjust", "1.0"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["real_fold"] == 2 and config["logit_adjust"] == 1.0
    fer_faces = len(split_data(load_dataset(data), 0)[0])
    assert config["n_train"] == fer_faces + 2 * len(real_training_faces(root, 3, 2))
    assert "--real-faces" in TrainConfig.from_dict(config).argv()


def test_tune_last_trains_only_the_last_convolutions_and_the_head(tmp_path):
    images, labels = synthetic_faces(70)
    data = write_csv(tmp_path / "tiny.csv", images, labels, ["Training"] * 42 + ["PublicTest"] * 14 +
                     ["PrivateTest"] * 14)
    common = ["--data", str(data), "--arch", "vgg", "--batch-size", "8", "--dry-run", "--threads", "1",
              "--epochs", "1"]
    assert train.main([*common, "--out", str(tmp_path / "a")]) == 0
    start = tmp_path / "a" / "last.pt"
    assert train.main([*common, "--out", str(tmp_path / "b"), "--init", str(start), "--tune-last", "2"]) == 0
    before, after = (torch.load(p, weights_only=True)["state_dict"] for p in (start, tmp_path / "b" / "last.pt"))
    convs = [k for k in before if k.startswith("features.") and before[k].ndim == 4]
    first_tuned = int(convs[-2].split(".")[1])
    for k in before:
        changed = not torch.equal(before[k], after[k])
        if k.startswith("features.") and int(k.split(".")[1]) < first_tuned:
            assert not changed, k  # weights and BatchNorm statistics of the early layers kept
        elif k.endswith("weight") and before[k].ndim > 1:
            assert changed, k  # the last two convolutions and the head learnt
    assert train.main([*common, "--out", str(tmp_path / "c"), "--init", str(start), "--tune-last", "9"]) == 2


def test_extra_data_and_real_faces_are_both_added(tmp_path):
    extra = tmp_path / "contributed" / "train" / "fear"
    extra.mkdir(parents=True)
    cv2.imwrite(str(extra / "a.png"), synthetic_faces(1)[0][0])
    root = write_people(tmp_path / "real")
    cfg = TrainConfig(data="-", extra_data=str(tmp_path / "contributed"), real_faces=str(root))
    x, y = synthetic_faces(10)
    x2, y2, t2 = with_added_faces(cfg, x, y, None)
    assert t2 is None and len(x2) == 10 + 1 + 24 and y2[10] == EMOTIONS.index("fear")


def test_balanced_real_faces_add_about_as_many_of_each_class(tmp_path):
    """--real-balance: a class the real set holds few of is repeated more, so each class adds about the same."""
    root = tmp_path / "real"
    counts = {"angry": 2, "fear": 1, "happy": 3}
    images, _ = synthetic_faces(sum(counts.values()), seed=5)
    for (emotion, n), start in zip(counts.items(), (0, 2, 3)):
        (root / emotion).mkdir(parents=True)
        for j in range(n):
            cv2.imwrite(str(root / emotion / f"P{start + j:03d}_001.png"), images[start + j])
    x, y = synthetic_faces(5)
    plain = with_added_faces(TrainConfig(data="-", real_faces=str(root), real_weight=3), x, y, None)[1][5:]
    balanced = with_added_faces(TrainConfig(data="-", real_faces=str(root), real_weight=3, real_balance=True),
                                x, y, None)[1][5:]
    added = {e: int(np.sum(balanced == EMOTIONS.index(e))) for e in counts}
    assert {e: int(np.sum(plain == EMOTIONS.index(e))) for e in counts} == {"angry": 6, "fear": 3, "happy": 9}
    assert added == {"angry": 6, "fear": 6, "happy": 6}  # 3 x the mean class (2 faces) each
    assert len(balanced) == len(plain)


def test_a_real_weight_below_one_is_refused_in_one_sentence(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--data", "x.csv", "--out", "o", "--real-faces", "r", "--real-weight", "0"])
    assert "--real-weight must be at least 1" in capsys.readouterr().err
