"""The ONNX export the app runs (OpenCV DNN, no torch): same results as torch, never stale, safe across threads."""

import shutil
import sys
import threading

import numpy as np
import pytest

from fer.files import DEFAULT_MODEL, export_matches, onnx_path, sidecar_path
from fer.model import (
    ARCHS,
    DEFAULT_INPUT_SIZE,
    build_model,
    load_checkpoint,
    predict_proba,
    record_metrics,
    save_checkpoint,
)
from fer.training import evaluate, export
from fer.training.data import load_dataset
from fer.vision.classifier import load_classifier
from tests.conftest import FER_CSV


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def _checkpoint(path, arch="cnn3"):
    size = DEFAULT_INPUT_SIZE[arch]
    save_checkpoint(path, build_model(arch, size).eval(), {"arch": arch, "input_size": size, "mean": 0.5, "std": 0.25})
    return path


@pytest.fixture
def shipped_copy(tmp_path):
    """The shipped checkpoint with its export, in a scratch folder."""
    model = tmp_path / "emotion_cnn.pt"
    for src in (DEFAULT_MODEL, onnx_path(DEFAULT_MODEL), sidecar_path(DEFAULT_MODEL)):
        shutil.copy(src, tmp_path / src.name)
    return model


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_architecture_exports_and_opencv_gives_torchs_probabilities(tmp_path, arch):
    ckpt = _checkpoint(tmp_path / "m.pt", arch)
    assert export.main(["--model", str(ckpt)]) == 0
    clf = load_classifier(ckpt)
    assert clf.backend == "onnx"
    model, meta = load_checkpoint(ckpt)
    faces = _faces(5)
    np.testing.assert_allclose(clf.predict(faces), predict_proba(model, meta, faces), atol=1e-5)
    assert clf.predict(faces[:0]).shape == (0, 7)


def test_the_shipped_model_runs_from_its_current_export():
    assert export_matches(DEFAULT_MODEL), "models/emotion_cnn.onnx is stale: run `python -m fer.export`"
    assert load_classifier().backend == "onnx"


@pytest.mark.skipif(not FER_CSV.exists(), reason="needs ../shared/datasets")
def test_the_shipped_export_agrees_with_torch_on_real_faces():
    x, _ = load_dataset(FER_CSV).split("PublicTest")
    x = x[:600]  # more than one OpenCV batch
    model, meta = load_checkpoint(DEFAULT_MODEL)
    onnx, torch_probs = load_classifier().predict(x), predict_proba(model, meta, x)
    np.testing.assert_allclose(onnx, torch_probs, atol=1e-5)
    assert (onnx.argmax(1) == torch_probs.argmax(1)).all()


def test_a_replaced_checkpoint_is_not_paired_with_a_stale_export(shipped_copy):
    _checkpoint(shipped_copy)  # e.g. copied over by hand: the export beside it is the old model's
    clf = load_classifier(shipped_copy)
    assert clf.backend == "torch"
    model, meta = load_checkpoint(shipped_copy)
    np.testing.assert_allclose(clf.predict(_faces(3)), predict_proba(model, meta, _faces(3)), atol=1e-6)


def test_a_damaged_export_falls_back_to_torch(shipped_copy):
    onnx_path(shipped_copy).write_bytes(b"not onnx")
    assert load_classifier(shipped_copy).backend == "torch"


def test_recording_metrics_keeps_a_current_export_current_but_never_blesses_a_stale_one(shipped_copy, tmp_path):
    record_metrics(shipped_copy, "PrivateTest", {"accuracy": 0.5})  # new bytes, same weights
    assert export_matches(shipped_copy)
    other = _checkpoint(tmp_path / "other.pt")
    shutil.copy(onnx_path(shipped_copy), onnx_path(other))
    shutil.copy(sidecar_path(shipped_copy), sidecar_path(other))
    record_metrics(other, "PrivateTest", {"accuracy": 0.5})
    assert not export_matches(other)


def test_export_of_a_broken_checkpoint_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert export.main(["--model", str(bad)]) == 2
    assert "not a readable model checkpoint" in capsys.readouterr().err
    assert not onnx_path(bad).exists() and not sidecar_path(bad).exists()


def test_one_export_serves_many_threads():
    """Several webcam viewers share one cached recogniser: concurrent calls must not mix up their inputs."""
    clf = load_classifier()
    batches = [_faces(3, seed) for seed in range(8)]
    expected = [clf.predict(b) for b in batches]
    got = [None] * len(batches)

    def work(i):
        for _ in range(20):
            got[i] = clf.predict(batches[i])
            if not np.array_equal(got[i], expected[i]):
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_evaluate_onnx_scores_the_export_like_the_checkpoint(tiny_csv, tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "m.pt")
    args = ["--model", str(ckpt), "--data", str(tiny_csv), "--split", "PrivateTest"]
    assert evaluate.main([*args, "--onnx"]) == 2  # not exported yet
    assert "no current ONNX export" in capsys.readouterr().err
    export.export_onnx(ckpt)
    on_torch, on_onnx = (evaluate.evaluate(ckpt, tiny_csv, "PrivateTest", onnx=o) for o in (False, True))
    assert on_onnx["backend"] == "onnx" and on_onnx["confusion_matrix"] == on_torch["confusion_matrix"]


def test_export_without_the_onnx_package_is_a_clear_error(tmp_path, monkeypatch):
    ckpt = _checkpoint(tmp_path / "m.pt")
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if it were not installed
    with pytest.raises(ValueError, match="onnx is not installed"):
        export.export_onnx(ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_an_export_that_disagrees_with_torch_leaves_the_old_export_whole(tmp_path, monkeypatch):
    ckpt = _checkpoint(tmp_path / "m.pt")
    export.export_onnx(ckpt)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # as if OpenCV and torch disagreed
    with pytest.raises(ValueError, match="differs from torch"):
        export.export_onnx(ckpt)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before and export_matches(ckpt)
