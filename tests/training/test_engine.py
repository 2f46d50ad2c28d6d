import json

import numpy as np
import pytest
import torch

from fer.files import DEFAULT_MODEL
from fer.model import ARCHS, DEFAULT_INPUT_SIZE, build_model, load_checkpoint, predict_proba
from fer.training import loop as train
from fer.training.data import load_dataset
from tests.conftest import dry_train, synthetic_faces


@pytest.mark.parametrize("arch", list(ARCHS))
def test_architectures_give_seven_logits(arch):
    model = build_model(arch).eval()
    size = DEFAULT_INPUT_SIZE[arch]
    assert model(torch.zeros(2, 1, size, size)).shape == (2, 7)


def test_paper_cnns_differ_in_conv_blocks():
    convs = {a: sum(isinstance(m, torch.nn.Conv2d) for m in build_model(a).modules()) for a in ("cnn1", "cnn2", "cnn3")}
    assert convs == {"cnn1": 4, "cnn2": 3, "cnn3": 2}



def test_dry_run_writes_the_run_directory(tiny_csv, tmp_path):
    out = tmp_path / "run"
    assert dry_train(tiny_csv, out, "--epochs", "1") == 0
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == "vgg" and config["validation"] == "PublicTest"
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1]
    assert {"train_loss", "val_loss", "train_acc", "val_acc", "lr", "seconds"} <= history[0].keys()
    model, meta = load_checkpoint(out / "best.pt")
    assert meta["arch"] == "vgg" and meta["metrics"]["val_split"] == "PublicTest"
    assert not (out / "pid").exists()  # only present while the trainer lives


def test_folder_dataset_validates_on_a_slice_of_training(tiny_folder, tmp_path):
    assert dry_train(tiny_folder, tmp_path / "run", "--epochs", "1") == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["validation"] == "10% of Training"


@pytest.mark.parametrize("extra", [[], ["--swa-start", "1"], ["--mixup", "1"]], ids=["plain", "swa", "mixup"])
@pytest.mark.parametrize("stop", ["before", "after"])
def test_resume_continues_exactly_where_a_stopped_run_left_off(tiny_csv, tmp_path, monkeypatch, stop, extra):
    assert dry_train(tiny_csv, tmp_path / "full", "--epochs", "3", *extra) == 0
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
        dry_train(tiny_csv, tmp_path / "cut", "--epochs", "3", *extra)
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
    assert dry_train(tiny_csv, out, "--epochs", "3", "--epochs-now", "2") == 0
    state = torch.load(out / "last.pt", weights_only=True)
    del state["history"]
    state["epoch"] = 1  # as if the stop came between epoch 2's history line and its checkpoint
    torch.save(state, out / "last.pt")
    assert train.main(["--data", "ignored", "--out", str(out), "--resume", "--threads", "1"]) == 0
    assert [json.loads(line)["epoch"] for line in (out / "history.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert train.main(["--data", "x", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_a_resumed_run_reads_its_targets_back_and_needs_no_teacher(tiny_csv, tmp_path):
    teacher, out = tmp_path / "teacher.pt", tmp_path / "kd"
    teacher.write_bytes(DEFAULT_MODEL.read_bytes())
    assert dry_train(tiny_csv, out, "--epochs", "2", "--epochs-now", "1", "--teacher", str(teacher),
                     "--distill", "0.5") == 0
    targets = np.load(out / "targets.npy")
    assert targets.shape == (42, 7)  # tiny_csv's Training rows
    np.testing.assert_allclose(targets.sum(1), 1, rtol=1e-5)
    teacher.unlink()  # e.g. resumed on another machine, or the teacher file was replaced since
    assert train.main(["--out", str(out), "--resume", "--threads", "1"]) == 0
    assert [json.loads(line)["epoch"] for line in (out / "history.jsonl").read_text().splitlines()] == [1, 2]
    np.testing.assert_array_equal(np.load(out / "targets.npy"), targets)


def test_init_starts_from_the_checkpoints_weights(tiny_csv, tmp_path, capsys):
    assert dry_train(tiny_csv, tmp_path / "ft", "--epochs", "1", "--init", str(DEFAULT_MODEL), "--lr", "1e-9") == 0
    start = load_checkpoint(DEFAULT_MODEL)[0].state_dict()
    tuned = load_checkpoint(tmp_path / "ft" / "best.pt")[0].state_dict()
    convs = [k for k in start if k.endswith(".weight") and start[k].ndim == 4]
    for k in convs:  # a learning rate of ~0: the weights are the shipped model's
        torch.testing.assert_close(tuned[k], start[k], atol=1e-6, rtol=0)
    assert dry_train(tiny_csv, tmp_path / "fresh", "--epochs", "1") == 0
    fresh = load_checkpoint(tmp_path / "fresh" / "best.pt")[0].state_dict()
    assert all((fresh[k] - start[k]).abs().max() > 1e-2 for k in convs)
    assert dry_train(tiny_csv, tmp_path / "other", "--arch", "cnn3", "--epochs", "1", "--init", str(DEFAULT_MODEL)) == 2
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
    assert train.main(["--data", str(tiny_csv), "--arch", "vgg", "--batch-size", "8", "--epochs", "3", "--out",
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
    assert dry_train(tiny_csv, out, "--epochs", "4", "--swa-start", "2", "--swa-lr", "0.02") == 0
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
    assert dry_train(tiny_csv, out, "--epochs", "2", "--swa-start", "1") == 0
    assert train.main(["--out", str(out), "--resume", "--epochs", "4", "--threads", "1"]) == 0
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h.get("averaged") for h in history] == [None, 1, 2, 3]  # the same average, continued
    assert json.loads((out / "config.json").read_text())["epochs"] == 4  # the training page reads it
    assert load_checkpoint(out / "last.pt")[1]["config"]["epochs"] == 4
    plain = tmp_path / "plain"
    assert dry_train(tiny_csv, plain, "--epochs", "2") == 0
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
