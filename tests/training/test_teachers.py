"""What a training image is taught: FER+ votes, teachers (offline and online), and mixed views."""

import json

import numpy as np
import torch

from fer.emotions import EMOTIONS
from fer.files import DEFAULT_MODEL
from fer.model import load_checkpoint, predict_proba
from fer.training import loop as train
from fer.training.augment import augment, mixup
from fer.training.data import load_dataset, vote_distributions
from fer.training.targets import soft_targets
from fer.training.teacher import Teacher
from tests.conftest import dry_train


def test_soft_targets_blend_label_votes_and_teacher_and_sum_to_one(tiny_csv, tmp_path):
    from tests.training.test_data import _votes

    ds = load_dataset(tiny_csv)
    happy = [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]  # fer2013new.csv order: neutral, happiness, surprise, ...
    votes = _votes(tmp_path / "new.csv", ds, [happy])
    dist = vote_distributions(ds, votes)
    np.testing.assert_allclose(dist.sum(1), 1, rtol=1e-6)
    private = ds.splits == "PrivateTest"
    assert (dist[private].argmax(1) == EMOTIONS.index("happy")).all()
    assert (dist[ds.splits == "Training"].argmax(1) == EMOTIONS.index("neutral")).all()  # _votes: neutral
    cfg = train.TrainConfig(str(tiny_csv), ferplus_votes=str(votes), ferplus_soft=0.3,
                            teacher=str(DEFAULT_MODEL), distill=0.3)
    idx = np.flatnonzero(ds.splits == "Training")
    t = soft_targets(cfg, ds, idx)
    np.testing.assert_allclose(t.sum(1), 1, rtol=1e-5)
    assert (t[np.arange(len(idx)), ds.labels[idx]] >= 0.4 - 1e-6).all()  # the FER2013 label keeps its 0.4


def test_several_teachers_teach_the_mean_of_their_probabilities(tiny_csv, tmp_path):
    ds = load_dataset(tiny_csv)
    idx = np.flatnonzero(ds.splits == "Training")
    assert dry_train(tiny_csv, tmp_path / "other", "--epochs", "1") == 0
    former = tmp_path / "other" / "best.pt"  # a second, much weaker net
    alone = [predict_proba(*load_checkpoint(p), ds.images[idx]) for p in (DEFAULT_MODEL, former)]
    assert np.abs(alone[0] - alone[1]).max() > 0.05  # two teachers that disagree somewhere
    cfg = train.TrainConfig(str(tiny_csv), teacher=f"{DEFAULT_MODEL},{former}", distill=1.0, distill_t=1.0)
    np.testing.assert_allclose(soft_targets(cfg, ds, idx), (alone[0] + alone[1]) / 2, atol=1e-5)


def test_distillation_training_lowers_the_loss(tiny_csv, tmp_path):
    out = tmp_path / "kd"
    assert train.main(["--data", str(tiny_csv), "--arch", "vgg", "--batch-size", "8", "--epochs", "6", "--out",
                       str(out), "--threads", "1", "--teacher", str(DEFAULT_MODEL), "--distill", "0.5",
                       "--lr", "0.01"]) == 0
    losses = [json.loads(line)["train_loss"] for line in (out / "history.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0]
    assert load_checkpoint(out / "best.pt")[1]["config"]["teacher"] == str(DEFAULT_MODEL)


def test_an_online_teacher_reads_the_view_the_student_sees(tiny_csv):

    ds = load_dataset(tiny_csv)
    model, meta = load_checkpoint(DEFAULT_MODEL)
    teacher = Teacher(str(DEFAULT_MODEL), meta["input_size"], torch.device("cpu"))
    faces = torch.from_numpy(ds.images[:8])
    views = [augment(faces, meta["input_size"], torch.Generator().manual_seed(s), webcam=0.5) for s in (1, 2)]
    p = [teacher.probs(v, 1.0) for v in views]
    torch.testing.assert_close(p[0].sum(1), torch.ones(8))
    assert (p[0] - p[1]).abs().max() > 0.05  # another view of the same faces, another reading
    with torch.no_grad():  # T 1: the shipped net's calibrated probabilities on exactly that view
        logits = model((views[0] - meta["mean"]) / meta["std"])
    torch.testing.assert_close(p[0], torch.softmax(logits / meta["temperature"], 1), atol=1e-5, rtol=1e-4)
    flat = teacher.probs(views[0], 4.0)  # a higher temperature flattens the targets, keeps the order
    assert (flat.max(1).values < p[0].max(1).values).all() and (flat.argmax(1) == p[0].argmax(1)).all()


def test_online_distillation_trains_and_resumes_only_with_the_same_teachers(tiny_csv, tmp_path):
    teacher, out = tmp_path / "teacher.pt", tmp_path / "kd"
    teacher.write_bytes(DEFAULT_MODEL.read_bytes())
    assert train.main(["--data", str(tiny_csv), "--arch", "vgg", "--batch-size", "8", "--epochs", "6",
                       "--epochs-now", "5", "--out", str(out), "--threads", "1", "--teacher", str(teacher),
                       "--distill", "0.5", "--distill-online", "--lr", "0.01"]) == 0
    losses = [json.loads(line)["train_loss"] for line in (out / "history.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0]
    targets = np.load(out / "targets.npy")  # the labels' half; the teacher's half is made per batch
    np.testing.assert_allclose(targets.sum(1), 0.5, rtol=1e-5)
    resume = ["--out", str(out), "--resume", "--threads", "1"]
    moved = tmp_path / "moved.pt"
    teacher.rename(moved)
    assert train.main(resume) == 2  # gone: one sentence, nothing lost
    teacher.write_bytes((out / "best.pt").read_bytes())  # another net at the teacher's path
    assert train.main(resume) == 2  # refused, not quietly taught by it
    assert len((out / "history.jsonl").read_text().splitlines()) == 5
    assert train.main([*resume, "--teacher", str(moved)]) == 0  # the same file, moved: named again, it resumes
    assert len((out / "history.jsonl").read_text().splitlines()) == 6


def test_mixup_blends_pairs_of_views_and_their_targets_alike():
    views, labels = torch.rand(7, 1, 8, 8), torch.arange(7)  # one face per class: a target names its two faces
    mixed, y = mixup(views, labels, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(y.sum(1), torch.ones(7))  # still distributions
    for i in range(7):  # λ of its own face and 1 − λ of one partner's, in the view and in the target alike
        lam, others = y[i, i], [j for j in y[i].nonzero().flatten().tolist() if j != i]
        j = others[0] if others else i
        assert len(others) <= 1
        torch.testing.assert_close(mixed[i], lam * views[i] + (1 - lam) * views[j])
    assert not torch.allclose(mixed, views)
    again, _ = mixup(views, labels, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(again, mixed)  # drawn from the run's generator: a resumed run mixes alike


def test_function_matching_learns_from_the_teacher_alone_on_mixed_views(tiny_csv, tmp_path):
    out = tmp_path / "fm"
    assert train.main(["--data", str(tiny_csv), "--arch", "vgg", "--batch-size", "8", "--epochs", "6", "--out",
                       str(out), "--threads", "1", "--teacher", str(DEFAULT_MODEL), "--distill", "1",
                       "--distill-online", "--mixup", "1", "--lr", "0.01"]) == 0
    np.testing.assert_allclose(np.load(out / "targets.npy"), 0)  # no share left to the labels
    losses = [json.loads(line)["train_loss"] for line in (out / "history.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0]
    assert load_checkpoint(out / "best.pt")[1]["config"]["mixup"] == 1.0


def test_an_online_teacher_must_read_the_students_input_size(tiny_csv, tmp_path):
    assert dry_train(tiny_csv, tmp_path / "cnn1", "--arch", "cnn1", "--epochs", "1") == 0  # 48 px input, vgg's 40
    assert dry_train(tiny_csv, tmp_path / "kd", "--epochs", "1", "--teacher", str(tmp_path / "cnn1" / "best.pt"),
                     "--distill-online") == 2
