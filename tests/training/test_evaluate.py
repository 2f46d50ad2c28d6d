"""Evaluation figures and the checkpoint format: what `fer.evaluate` prints and records, and clear errors."""

import json

import numpy as np
import pytest
import torch

from fer.emotions import EMOTIONS
from fer.files import DEFAULT_MODEL
from fer.model import build_model, load_checkpoint, predict_proba, save_checkpoint
from fer.training import evaluate
from fer.training.data import load_dataset
from tests.conftest import FER_CSV, dry_train


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
    assert dry_train(tiny_csv, tmp_path / "run", "--epochs", "1") == 0
    out = tmp_path / "m.json"
    assert evaluate.main(["--model", str(tmp_path / "run" / "best.pt"), "--data", str(tiny_csv),
                          "--split", "PrivateTest", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "confusion matrix" in text and "precision" in text
    m = json.loads(out.read_text())
    assert {"accuracy", "per_class", "macro_f1", "confusion_matrix", "classes"} <= m.keys()
    assert sum(map(sum, m["confusion_matrix"])) == 14 and m["classes"] == list(EMOTIONS)


def test_evaluate_record_stores_the_figures_in_the_checkpoint(tiny_csv, tmp_path):
    assert dry_train(tiny_csv, tmp_path / "run", "--epochs", "1") == 0
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
