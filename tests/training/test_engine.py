import json

import numpy as np
import pytest
import torch

from fer.emotions import EMOTIONS
from fer.files import DEFAULT_MODEL
from fer.model import ARCHS, DEFAULT_INPUT_SIZE, build_model, load_checkpoint, predict_proba, save_checkpoint
from fer.training import evaluate
from fer.training import loop as train
from fer.training.augment import augment, mixup
from fer.training.data import load_dataset, vote_distributions
from fer.training.targets import soft_targets
from tests.conftest import FER_CSV, synthetic_faces


@pytest.mark.parametrize("arch", list(ARCHS))
def test_architectures_give_seven_logits(arch):
    model = build_model(arch).eval()
    size = DEFAULT_INPUT_SIZE[arch]
    assert model(torch.zeros(2, 1, size, size)).shape == (2, 7)


def test_paper_cnns_differ_in_conv_blocks():
    convs = {a: sum(isinstance(m, torch.nn.Conv2d) for m in build_model(a).modules()) for a in ("cnn1", "cnn2", "cnn3")}
    assert convs == {"cnn1": 4, "cnn2": 3, "cnn3": 2}


def _train(tiny, out, *extra):
    return train.main(["--data", str(tiny), "--arch", "vgg", "--batch-size", "8", "--out", str(out), "--dry-run",
                       "--threads", "1", *extra])


def test_dry_run_writes_the_run_directory(tiny_csv, tmp_path):
    out = tmp_path / "run"
    assert _train(tiny_csv, out, "--epochs", "1") == 0
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == "vgg" and config["validation"] == "PublicTest"
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1]
    assert {"train_loss", "val_loss", "train_acc", "val_acc", "lr", "seconds"} <= history[0].keys()
    model, meta = load_checkpoint(out / "best.pt")
    assert meta["arch"] == "vgg" and meta["metrics"]["val_split"] == "PublicTest"
    assert not (out / "pid").exists()  # only present while the trainer lives


def test_folder_dataset_validates_on_a_slice_of_training(tiny_folder, tmp_path):
    assert _train(tiny_folder, tmp_path / "run", "--epochs", "1") == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["validation"] == "10% of Training"


@pytest.mark.parametrize("extra", [[], ["--swa-start", "1"], ["--mixup", "1"]], ids=["plain", "swa", "mixup"])
@pytest.mark.parametrize("stop", ["before", "after"])
def test_resume_continues_exactly_where_a_stopped_run_left_off(tiny_csv, tmp_path, monkeypatch, stop, extra):
    assert _train(tiny_csv, tmp_path / "full", "--epochs", "3", *extra) == 0
    # Stop a second, identical run just before or just after epoch 2's last.pt is written (as a kill would).
    real_save = train.save_checkpoint

    def save_and_stop(path, model, meta, **extra):
        stopping = path.name == "last.pt" and extra["epoch"] == 2
        if stopping and stop == "before":
            raise KeyboardInterrupt
        real_save(path, model, meta, **extra)
        if stopping:
            raise KeyboardInterrupt

    monkeypatch.setattr(train, "save_checkpoint", save_and_stop)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_csv, tmp_path / "cut", "--epochs", "3", *extra)
    monkeypatch.setattr(train, "save_checkpoint", real_save)
    assert train.main(["--data", "ignored", "--out", str(tmp_path / "cut"), "--resume", "--threads", "1"]) == 0

    cut = [json.loads(line) for line in (tmp_path / "cut" / "history.jsonl").read_text().splitlines()]
    full = [json.loads(line) for line in (tmp_path / "full" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in cut] == [1, 2, 3]  # each epoch once: none lost, none repeated
    assert [h["lr"] for h in cut] == [h["lr"] for h in full]
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    for part in ["state_dict"] + (["swa"] if "--swa-start" in extra else []):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            torch.testing.assert_close(a[part][k], b[part][k])


def test_resume_of_a_run_without_history_in_its_checkpoint_drops_lines_past_it(tiny_csv, tmp_path):
    # last.pt files written before the history moved into them: history.jsonl may be one epoch ahead.
    out = tmp_path / "old"
    assert _train(tiny_csv, out, "--epochs", "3", "--epochs-now", "2") == 0
    state = torch.load(out / "last.pt", weights_only=True)
    del state["history"]
    state["epoch"] = 1  # as if the stop came between epoch 2's history line and its checkpoint
    torch.save(state, out / "last.pt")
    assert train.main(["--data", "ignored", "--out", str(out), "--resume", "--threads", "1"]) == 0
    assert [json.loads(line)["epoch"] for line in (out / "history.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert train.main(["--data", "x", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_metrics_on_a_hand_checked_confusion_matrix():
    # 3 classes: rows true, columns predicted.
    cm = np.array([[5, 1, 0],
                   [2, 3, 1],
                   [0, 0, 0]])
    m = evaluate.metrics_from_confusion(cm, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(8 / 12)
    assert m["per_class"]["a"]["precision"] == pytest.approx(5 / 7)
    assert m["per_class"]["a"]["recall"] == pytest.approx(5 / 6)
    assert m["per_class"]["b"]["precision"] == pytest.approx(3 / 4)
    assert m["per_class"]["b"]["recall"] == pytest.approx(3 / 6)
    f1_a = 2 * (5 / 7) * (5 / 6) / (5 / 7 + 5 / 6)
    f1_b = 2 * (3 / 4) * (1 / 2) / (3 / 4 + 1 / 2)
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_f1"] == pytest.approx((f1_a + f1_b) / 3)


def test_evaluate_cli_prints_tables_and_writes_json(tiny_csv, tmp_path, capsys):
    assert _train(tiny_csv, tmp_path / "run", "--epochs", "1") == 0
    out = tmp_path / "m.json"
    assert evaluate.main(["--model", str(tmp_path / "run" / "best.pt"), "--data", str(tiny_csv),
                          "--split", "PrivateTest", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "confusion matrix" in text and "precision" in text
    m = json.loads(out.read_text())
    assert {"accuracy", "per_class", "macro_f1", "confusion_matrix", "classes"} <= m.keys()
    assert sum(map(sum, m["confusion_matrix"])) == 14 and m["classes"] == list(EMOTIONS)


def test_evaluate_record_stores_the_figures_in_the_checkpoint(tiny_csv, tmp_path):
    assert _train(tiny_csv, tmp_path / "run", "--epochs", "1") == 0
    best = tmp_path / "run" / "best.pt"
    assert evaluate.main(["--model", str(best), "--data", str(tiny_csv), "--split", "PrivateTest", "--record"]) == 0
    _, meta = load_checkpoint(best)
    assert meta["metrics"]["val_split"] == "PublicTest"  # the training figures stay
    recorded = meta["metrics"]["PrivateTest"]
    assert recorded["accuracy"] == evaluate.evaluate(best, tiny_csv, "PrivateTest")["accuracy"]
    assert sum(map(sum, recorded["confusion_matrix"])) == 14


def test_checkpoint_round_trip(tmp_path):
    model = build_model("cnn3").eval()
    meta = {"arch": "cnn3", "input_size": 48, "mean": 0.5, "std": 0.25, "config": {"epochs": 1}}
    save_checkpoint(tmp_path / "m.pt", model, meta, metrics={"accuracy": 0.5})
    loaded, m = load_checkpoint(tmp_path / "m.pt")
    x = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(predict_proba(loaded, m, x), predict_proba(model, meta, x), atol=1e-5)
    assert m["metrics"] == {"accuracy": 0.5} and m["classes"] == list(EMOTIONS)


@pytest.mark.parametrize("content,message", [
    (b"garbage", "not a readable model checkpoint"),
    (None, "not a checkpoint of this project"),
])
def test_corrupt_or_foreign_checkpoint_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save({"weights": torch.zeros(1)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    model = build_model("cnn3")
    save_checkpoint(tmp_path / "m.pt", model, {"arch": "cnn3", "input_size": 48, "mean": 0.5, "std": 0.25})
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "m.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable model checkpoint"):
        load_checkpoint(tmp_path / "m.pt")


def test_mismatched_weights_are_a_clear_error(tmp_path):
    meta = {"arch": "cnn2", "input_size": 48, "mean": 0.5, "std": 0.25}
    save_checkpoint(tmp_path / "m.pt", build_model("cnn3"), meta)
    with pytest.raises(ValueError, match="do not match architecture 'cnn2'"):
        load_checkpoint(tmp_path / "m.pt")


@pytest.mark.skipif(not FER_CSV.exists(), reason="needs ../shared/datasets")
def test_shipped_model_beats_chance_on_real_public_test_faces():
    model, meta = load_checkpoint(DEFAULT_MODEL)
    x, y = load_dataset(FER_CSV).split("PublicTest")
    pred = predict_proba(model, meta, x[:300]).argmax(1)
    assert (pred == y[:300]).mean() > 0.5  # chance is ~0.25 (always "happy")


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
    assert _train(tiny_csv, tmp_path / "other", "--epochs", "1") == 0
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
    from fer.training.teacher import Teacher

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
    assert _train(tiny_csv, tmp_path / "cnn1", "--arch", "cnn1", "--epochs", "1") == 0  # 48 px input, vgg's 40
    assert _train(tiny_csv, tmp_path / "kd", "--epochs", "1", "--teacher", str(tmp_path / "cnn1" / "best.pt"),
                  "--distill-online") == 2


def test_a_resumed_run_reads_its_targets_back_and_needs_no_teacher(tiny_csv, tmp_path):
    teacher, out = tmp_path / "teacher.pt", tmp_path / "kd"
    teacher.write_bytes(DEFAULT_MODEL.read_bytes())
    assert _train(tiny_csv, out, "--epochs", "2", "--epochs-now", "1", "--teacher", str(teacher),
                  "--distill", "0.5") == 0
    targets = np.load(out / "targets.npy")
    assert targets.shape == (42, 7)  # tiny_csv's Training rows
    np.testing.assert_allclose(targets.sum(1), 1, rtol=1e-5)
    teacher.unlink()  # e.g. resumed on another machine, or the teacher file was replaced since
    assert train.main(["--out", str(out), "--resume", "--threads", "1"]) == 0
    assert [json.loads(line)["epoch"] for line in (out / "history.jsonl").read_text().splitlines()] == [1, 2]
    np.testing.assert_array_equal(np.load(out / "targets.npy"), targets)


def test_init_starts_from_the_checkpoints_weights(tiny_csv, tmp_path, capsys):
    assert _train(tiny_csv, tmp_path / "ft", "--epochs", "1", "--init", str(DEFAULT_MODEL), "--lr", "1e-9") == 0
    start = load_checkpoint(DEFAULT_MODEL)[0].state_dict()
    tuned = load_checkpoint(tmp_path / "ft" / "best.pt")[0].state_dict()
    convs = [k for k in start if k.endswith(".weight") and start[k].ndim == 4]
    for k in convs:  # a learning rate of ~0: the weights are the shipped model's
        torch.testing.assert_close(tuned[k], start[k], atol=1e-6, rtol=0)
    assert _train(tiny_csv, tmp_path / "fresh", "--epochs", "1") == 0
    fresh = load_checkpoint(tmp_path / "fresh" / "best.pt")[0].state_dict()
    assert all((fresh[k] - start[k]).abs().max() > 1e-2 for k in convs)
    assert _train(tiny_csv, tmp_path / "other", "--arch", "cnn3", "--epochs", "1", "--init", str(DEFAULT_MODEL)) == 2
    assert "a vgg net at input 40, but this run trains cnn3 at 48" in capsys.readouterr().err


def test_bf16_trains_in_bfloat16_and_keeps_float32_weights(tiny_csv, tmp_path, monkeypatch):
    seen = []  # the dtype each convolution's output had, in training mode only

    def build_and_watch(*args, **kwargs):
        model = build_model(*args, **kwargs)
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.register_forward_hook(lambda mod, i, o: seen.append(o.dtype) if mod.training else None)
        return model

    monkeypatch.setattr(train, "build_model", build_and_watch)
    out = tmp_path / "bf16"
    assert train.main(["--data", str(tiny_csv), "--arch", "vgg", "--batch-size", "8", "--epochs", "6", "--out",
                       str(out), "--threads", "1", "--lr", "0.01", "--bf16"]) == 0
    assert seen and set(seen) == {torch.bfloat16}
    losses = [json.loads(line)["train_loss"] for line in (out / "history.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0]
    model, meta = load_checkpoint(out / "best.pt")
    assert meta["config"]["bf16"] is True
    assert all(t.dtype == torch.float32 for t in model.state_dict().values() if t.is_floating_point())
    np.testing.assert_allclose(predict_proba(model, meta, load_dataset(tiny_csv).images[:4]).sum(1), 1, rtol=1e-5)


def test_swa_keeps_the_mean_of_the_weights_after_each_averaged_epoch(tiny_csv, tmp_path, monkeypatch):
    ends = {}  # the trained (not averaged) weights after each epoch
    real_save = train.save_checkpoint

    def keep(path, model, meta, **extra):
        if path.name == "last.pt":
            ends[extra["epoch"]] = {k: v.clone() for k, v in model.state_dict().items()}
        real_save(path, model, meta, **extra)

    monkeypatch.setattr(train, "save_checkpoint", keep)
    real_validate, calls = train.validate, []

    def better_each_epoch(*args):  # so that best.pt is the last epoch's: an average of two
        calls.append(real_validate(*args))
        return calls[-1][0], len(calls) / 10

    monkeypatch.setattr(train, "validate", better_each_epoch)
    out = tmp_path / "swa"
    assert _train(tiny_csv, out, "--epochs", "4", "--swa-start", "2", "--swa-lr", "0.02") == 0
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h.get("averaged") for h in history] == [None, None, 1, 2]
    assert [h["lr"] for h in history][2:] == [0.02, 0.02] and history[1]["lr"] != 0.02
    average = {k: (ends[3][k] + ends[4][k]) / 2 for k in ends[4]}
    avg = torch.load(out / "last.pt", weights_only=True)["swa"]
    names = [name for name, _ in build_model("vgg").named_parameters()]
    for name in names:
        torch.testing.assert_close(avg[f"module.{name}"], average[name])
    model, best = load_checkpoint(out / "best.pt")
    assert best["metrics"]["epoch"] == 4
    kept = model.state_dict()
    for name in names:  # best.pt holds what was scored: the average
        torch.testing.assert_close(kept[name], average[name])


def test_an_averaging_run_can_be_extended_and_a_one_cycle_run_cannot(tiny_csv, tmp_path, capsys):
    out = tmp_path / "swa"
    assert _train(tiny_csv, out, "--epochs", "2", "--swa-start", "1") == 0
    assert train.main(["--out", str(out), "--resume", "--epochs", "4", "--threads", "1"]) == 0
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h.get("averaged") for h in history] == [None, 1, 2, 3]  # the same average, continued
    assert json.loads((out / "config.json").read_text())["epochs"] == 4  # the training page reads it
    assert load_checkpoint(out / "last.pt")[1]["config"]["epochs"] == 4
    plain = tmp_path / "plain"
    assert _train(tiny_csv, plain, "--epochs", "2") == 0
    assert train.main(["--out", str(plain), "--resume", "--epochs", "4", "--threads", "1"]) == 2
    assert "a one-cycle schedule would change under it" in capsys.readouterr().err
    assert len((plain / "history.jsonl").read_text().splitlines()) == 2


def test_webcam_conditions_only_when_asked_and_stay_in_range():
    from fer.training.loop import augment

    faces = torch.from_numpy(synthetic_faces(64)[0])
    plain = augment(faces, 40, torch.Generator().manual_seed(3))
    assert torch.equal(plain, augment(faces, 40, torch.Generator().manual_seed(3), 0.0))  # today's stream, unchanged
    webcam = augment(faces, 40, torch.Generator().manual_seed(3), 0.5)
    assert webcam.shape == plain.shape and webcam.min() >= 0 and webcam.max() <= 1
    changed = (webcam - plain).abs().flatten(1).amax(1) > 1e-6
    assert 0.5 < changed.float().mean() < 1.0  # most images get a condition, some none (0.5^4 of them)


def test_sharpness_aware_gradient_is_the_gradient_at_the_worst_nearby_weights():
    torch.manual_seed(0)
    model = build_model("vgg").train()
    cfg = train.TrainConfig("x", sam=0.05)
    xb, yb = torch.randn(8, 1, 40, 40), torch.randint(0, 7, (8,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train.batch_loss(model, xb, yb, cfg)[1].backward()
    plain = [p.grad.clone() for p in model.parameters()]
    stats = {k: v.clone() for k, v in model.state_dict().items()}  # running statistics after the one counted pass
    torch.manual_seed(1)  # the same dropout in the second pass as in the check below
    train.sharpness_aware_gradient(model, xb, yb, cfg)
    assert all(torch.equal(v, stats[k]) for k, v in model.state_dict().items())  # weights back, batch counted once
    assert not all(torch.equal(v, before[k]) for k, v in stats.items())  # (the first pass did move the statistics)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in plain]))
    worst = build_model("vgg").train()
    worst.load_state_dict(before)
    with torch.no_grad():
        for p, g in zip(worst.parameters(), plain):
            p.add_(g * 0.05 / norm)
    torch.manual_seed(1)
    train.batch_loss(worst, xb, yb, cfg)[1].backward()
    for p, q in zip(model.parameters(), worst.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)
    assert not all(torch.allclose(p.grad, g) for p, g in zip(model.parameters(), plain))


def test_a_sharpness_aware_run_trains_and_records_its_radius(tiny_csv, tmp_path):
    out = tmp_path / "sam"
    assert train.main(["--data", str(tiny_csv), "--batch-size", "8", "--out", str(out), "--dry-run", "--threads",
                       "1", "--epochs", "2", "--sam", "0.05"]) == 0
    assert json.loads((out / "config.json").read_text())["sam"] == 0.05
    assert load_checkpoint(out / "best.pt")[1]["config"]["sam"] == 0.05
