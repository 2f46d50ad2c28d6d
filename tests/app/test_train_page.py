"""The training & evaluation page under AppTest, and fer.training.runs (start / one-at-a-time / stop / promote)."""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer.files import DEFAULT_MODEL, export_matches
from fer.model import ARCHS, load_checkpoint
from fer.server.access import Owner
from fer.training import history as model_history
from fer.training import runs
from fer.training.config import TrainConfig
from fer.vision.classifier import load_classifier
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "1_Train_and_evaluate.py")
OWNER = Owner("cli")


@pytest.fixture
def env(tmp_path, monkeypatch, local_owner):
    """The page's files in tmp_path, opened by a browser on this machine (the owner: it trains and promotes)."""
    model = tmp_path / "models" / "emotion_cnn.pt"
    model.parent.mkdir()
    shutil.copy(DEFAULT_MODEL, model)
    monkeypatch.setenv("FER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FER_MODEL", str(model))
    return tmp_path / "runs", model


def _page():
    return AppTest.from_file(PAGE, default_timeout=60)


def _wait(runs_dir, name, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = runs.load_run(runs_dir / name)
        if run.status != "running":
            return run
        time.sleep(0.3)
    raise AssertionError(f"{name} still running after {timeout}s")


def _train_from_page(at, data, name="tiny"):
    at.radio(key="dataset_source").set_value("Path on the server").run()
    at.text_input[0].set_value(str(data)).run()
    at.selectbox(key="arch").set_value("vgg")
    at.number_input(key="epochs").set_value(1)
    at.number_input(key="batch_size").set_value(8)
    at.text_input(key="run_name").set_value(name)
    at.checkbox(key="dry_run").check()
    at.button[0].click().run()
    return at


def test_offers_every_architecture_fer_train_accepts(env):
    # The page keeps its own list so that visitors never import torch; it must not drift from fer.model's.
    at = _page().run()
    assert at.selectbox(key="arch").options == [arch.upper() for arch in ARCHS]


def test_one_page_run_reads_the_runs_once(env, monkeypatch):
    """The train, evaluate and compare tabs draw from one listing (each run's files are read per listing)."""
    listings, real = [], runs.list_runs
    monkeypatch.setattr(runs, "list_runs", lambda d: listings.append(d) or real(d))
    at = _page().run()
    assert not at.exception and len(listings) == 1


def test_renders_with_no_runs(env):
    at = _page().run()
    assert not at.exception
    assert any("No training runs yet" in i.value for i in at.info)


def test_training_started_from_the_page_writes_a_run_and_its_curve_appears(env, tiny_csv):
    runs_dir, _ = env
    at = _train_from_page(_page().run(), tiny_csv)
    assert not at.exception and not at.error
    run = _wait(runs_dir, "tiny")
    assert run.status == "finished" and (run.path / "best.pt").exists() and len(run.history) == 1
    at.run()
    assert "finished" in " ".join(m.value for m in at.markdown)
    assert len(at.get("vega_lite_chart")) >= 2  # loss and accuracy curves


def test_the_suggested_run_name_follows_the_settings_and_smoke_tests_are_not_compared(env, tiny_csv):
    runs_dir, _ = env
    at = _page().run()
    at.number_input(key="epochs").set_value(40).run()
    assert at.text_input(key="run_name").placeholder == "vgg-e40"
    at.checkbox(key="dry_run").check().run()
    assert at.text_input(key="run_name").placeholder == "vgg-e40-smoke"
    at = _train_from_page(at, tiny_csv, name="")
    run = _wait(runs_dir, "vgg-e1-smoke")
    assert run.smoke and run.status == "finished"
    at.run()
    assert any("smoke test" in m.value for m in at.markdown)
    assert any("1 smoke test(s) not compared" in c.value for c in at.caption)
    assert any("No runs to compare yet" in i.value for i in at.info)
    assert "run vgg-e1-smoke (smoke test)" in at.selectbox(key="eval_model").options


def test_a_malformed_upload_shows_an_error_and_keeps_nothing(env, tmp_path):
    runs_dir, _ = env
    at = _page().run()
    at.radio(key="dataset_source").set_value("Upload").run()
    at.file_uploader[0].upload("faces.csv", b"name,age\nbob,3\n", "text/csv").run()
    assert [e.value for e in at.error] == ["faces.csv: missing column(s) emotion, pixels; "
                                           "expected the header emotion,pixels,Usage."]
    assert list((runs_dir / "uploads").iterdir()) == []


def _shipped_public_test() -> float:
    acc = runs.public_test_accuracy(load_checkpoint(DEFAULT_MODEL)[1])
    assert 0.6 < acc < 1  # a real model's figure, read from the checkpoint
    return acc


def test_evaluation_shows_metrics_confusion_matrix_and_promote_replaces_the_default(env, tiny_csv):
    runs_dir, model = env
    _train_from_page(_page().run(), tiny_csv, "tiny")
    run = _wait(runs_dir, "tiny")
    old = model.read_bytes()
    at = _page().run()
    at.selectbox(key="eval_model").set_value("run tiny (smoke test)")
    at.text_input(key="eval_data").set_value(str(tiny_csv))
    at.selectbox(key="eval_split").set_value("PrivateTest")
    charts_before = len(at.get("vega_lite_chart"))
    at.button(key="evaluate").click().run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["Accuracy", "Macro F1", "Images"]
    assert at.metric[2].value == "14"
    assert len(at.get("vega_lite_chart")) == charts_before + 3  # reliability; confusion matrix (counts, normalised)
    assert any(c.value.startswith("Reliability: stated confidence against accuracy · ECE") for c in at.caption)
    # A 1-epoch model is worse on PublicTest than the default: promoting it takes an explicit confirmation.
    default = f"{_shipped_public_test():.1%}"  # the shipped model's own figure, whichever model ships
    shown = r"PublicTest accuracy: run tiny \(smoke test\) \d+\.\d% · current default " + re.escape(default)
    assert any(re.search(shown, c.value) for c in at.caption)
    assert at.button(key="promote").disabled
    at.checkbox(key="confirm_worse").check().run()
    at.button(key="promote").click().run()
    assert any("now the default model" in s.value for s in at.success)
    assert model.read_bytes() == run.best_model.read_bytes()
    assert [e.path.read_bytes() for e in model_history.entries(model)] == [old]
    assert export_matches(model) and load_classifier(model).backend == "onnx"  # the main page runs it without torch
    assert sorted(p.name for p in model.parent.iterdir()) == [
        "emotion_cnn.onnx", "emotion_cnn.onnx.json", "emotion_cnn.pt", "history"]


def test_one_training_at_a_time_stop_and_resume(env, tiny_csv):
    runs_dir, _ = env
    cfg = TrainConfig(str(tiny_csv), epochs=500, batch_size=8, device="cpu")
    first = runs.start(OWNER, runs_dir, "long", cfg, threads=1)
    try:
        with pytest.raises(RuntimeError, match="already"):
            runs.start(OWNER, runs_dir, "second", TrainConfig(str(tiny_csv), epochs=1, batch_size=8))
        deadline = time.time() + 60
        while not (first.path / "last.pt").exists():
            assert time.time() < deadline
            time.sleep(0.2)
    finally:
        runs.stop(OWNER, runs.load_run(first.path))
    stopped = runs.load_run(first.path)
    assert stopped.status == "stopped" and 0 < len(stopped.history) < 500
    done = len(stopped.history)
    resumed = runs.resume(OWNER, stopped, threads=1)
    deadline = time.time() + 60
    while len(runs.load_run(resumed.path).history) <= done:
        assert time.time() < deadline, "the resumed run made no progress"
        time.sleep(0.2)
    runs.stop(OWNER, runs.load_run(resumed.path))
    epochs = [h["epoch"] for h in runs.load_run(resumed.path).history]
    assert epochs[: done + 1] == list(range(1, done + 2))  # continued at the next epoch


def test_a_crashed_training_reports_its_error(env, tmp_path):
    runs_dir, _ = env
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n9,1 2 3,Training\n")
    run = _wait(runs_dir, runs.start(OWNER, runs_dir, "crash", TrainConfig(str(bad), epochs=1, batch_size=8)).name)
    assert run.status == "failed" and "row 2: 3 pixel values, expected 2304" in run.error


def test_promote_refuses_a_broken_model(env, tmp_path):
    _, model = env
    before = model.read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"nope")
    with pytest.raises(ValueError):
        runs.promote(OWNER, broken, model)
    assert model.read_bytes() == before
    load_checkpoint(model)
    assert sorted(p.name for p in model.parent.iterdir()) == ["emotion_cnn.pt"]


def test_promoting_twice_keeps_every_former_default_and_any_can_be_restored(env, tiny_csv, tmp_path):
    runs_dir, model = env
    shipped = model.read_bytes()
    for seed, name in enumerate(("a", "b")):
        cfg = TrainConfig(str(tiny_csv), epochs=1, batch_size=8, dry_run=True, seed=seed)
        run = _wait(runs_dir, runs.start(OWNER, runs_dir, name, cfg, threads=1).name)
        if name == "a":
            with pytest.raises(ValueError, match="confirm"):  # worse than the shipped model on PublicTest
                runs.promote(OWNER, run.best_model, model)
        runs.promote(OWNER, run.best_model, model, allow_worse=True)
    history = model_history.entries(model)
    assert history[0].path.read_bytes() == shipped and len(history) == 2
    assert history[0].info["public_test"] == pytest.approx(_shipped_public_test())
    runs.restore(OWNER, history[0], model)
    assert model.read_bytes() == shipped and export_matches(model)
    assert len(model_history.entries(model)) == 3  # b went to the history too: nothing lost


def test_uploads_are_named_per_content_and_validated_once(env, tiny_csv, monkeypatch):
    runs_dir, _ = env
    data = tiny_csv.read_bytes()
    first = runs.save_upload(OWNER, runs_dir, "faces.csv", data)
    other = runs.save_upload(OWNER, runs_dir, "faces.csv", data.replace(b"Training", b"PublicTest", 1))
    assert first != other and first.read_bytes() == data  # same name from two people: no overwrite
    import fer.training.data

    monkeypatch.setattr(fer.training.data, "load_dataset", lambda *a, **k: pytest.fail("parsed again"))
    assert runs.save_upload(OWNER, runs_dir, "renamed.csv", data) == first
    old = time.time() - runs.UPLOAD_MAX_AGE_S - 60
    os.utime(first, (old, old))
    assert runs.clean_uploads(runs_dir) == [first] and other.exists()


def test_evaluating_the_root_folder_is_one_sentence_not_a_walk_or_a_traceback(env):
    at = _page().run()
    at.text_input(key="eval_data").set_value("/")
    t0 = time.time()
    at.button(key="evaluate").click().run()
    assert time.time() - t0 < 10 and not at.exception
    assert [e.value for e in at.error] == [
        "/: expected the folders train/ and test/, each with one folder per emotion."]


def test_a_finished_training_is_reaped_not_left_a_zombie(env, tiny_csv):
    runs_dir, _ = env
    run = runs.start(OWNER, runs_dir, "z", TrainConfig(str(tiny_csv), epochs=1, batch_size=8, dry_run=True), threads=1)
    pid = int((run.path / "pid").read_text())
    _wait(runs_dir, "z")
    deadline = time.time() + 10
    while Path(f"/proc/{pid}").exists():  # a zombie keeps its /proc entry until its parent reaps it
        assert time.time() < deadline, "the finished trainer was never reaped"
        time.sleep(0.1)
