"""fer.soup: the average of several checkpoints of one net, its BatchNorm measured again, uncalibrated."""

import numpy as np
import pytest
import torch

from fer.model import build_model, load_checkpoint, update_checkpoint
from fer.training import loop as train
from fer.training import soup
from fer.vision.recognizer import EmotionRecognizer


def _net(tiny, out, *extra):
    assert train.main(["--data", str(tiny), "--batch-size", "8", "--out", str(out), "--dry-run", "--threads", "1",
                       "--epochs", "1", *extra]) == 0
    return out / "best.pt"


def test_the_average_holds_the_mean_weights_and_new_batchnorm_statistics(tiny_csv, tmp_path, capsys):
    a = _net(tiny_csv, tmp_path / "a", "--arch", "vgg", "--seed", "1")
    b = _net(tiny_csv, tmp_path / "b", "--arch", "vgg", "--seed", "2")
    update_checkpoint(a, temperature=0.5)  # calibration belongs to one net: the average must be fitted anew
    out = tmp_path / "soup" / "best.pt"
    assert soup.main([str(a), str(b), "--data", str(tiny_csv), "--out", str(out)]) == 0
    assert "average of 2 nets" in capsys.readouterr().out
    members = [load_checkpoint(p)[0].state_dict() for p in (a, b)]
    model, meta = load_checkpoint(out)
    got = model.state_dict()
    for name, _ in build_model("vgg").named_parameters():
        torch.testing.assert_close(got[name], (members[0][name] + members[1][name]) / 2)
    stats = [k for k in got if k.endswith("running_var")]
    assert stats and any(not torch.allclose(got[k], (members[0][k] + members[1][k]) / 2) for k in stats)
    assert "temperature" not in meta and meta["soup"] == [str(a), str(b)]
    assert meta["metrics"]["val_split"] == "PublicTest"
    probs = EmotionRecognizer.load(out).classify(np.zeros((1, 48, 48), np.uint8))
    assert probs.shape == (1, 7) and np.isclose(probs.sum(), 1, atol=1e-5)


def test_nets_of_different_shapes_are_refused_in_one_sentence(tiny_csv, tmp_path, capsys):
    a = _net(tiny_csv, tmp_path / "a", "--arch", "vgg")
    b = _net(tiny_csv, tmp_path / "b", "--arch", "vgg-wide")
    out = tmp_path / "soup.pt"
    assert soup.main([str(a), str(b), "--data", str(tiny_csv), "--out", str(out)]) == 2
    assert "only one net's checkpoints can be averaged" in capsys.readouterr().err
    assert not out.exists()


def test_weighted_average_of_a_fine_tune_and_its_start(tiny_csv, tmp_path, capsys):
    """--weights: WiSE-FT's mix of a fine-tuned net and the net it started from; bad weights are one sentence."""
    a = _net(tiny_csv, tmp_path / "a", "--arch", "vgg", "--seed", "1")
    b = _net(tiny_csv, tmp_path / "b", "--arch", "vgg", "--seed", "2")
    out = tmp_path / "wise.pt"
    assert soup.main([str(a), str(b), "--data", str(tiny_csv), "--out", str(out), "--weights", "0.75,0.25"]) == 0
    members = [load_checkpoint(p)[0].state_dict() for p in (a, b)]
    model, meta = load_checkpoint(out)
    for name, _ in build_model("vgg").named_parameters():
        torch.testing.assert_close(model.state_dict()[name], 0.75 * members[0][name] + 0.25 * members[1][name])
    assert meta["soup_weights"] == [0.75, 0.25]
    capsys.readouterr()
    for bad in ("0.5", "0.7,0.7", "1.2,-0.2"):
        assert soup.main([str(a), str(b), "--data", str(tiny_csv), "--out", str(tmp_path / "x.pt"),
                          "--weights", bad]) == 2
        assert "give one per net, none negative, summing to 1" in capsys.readouterr().err
    # Checked before any net is read: a long load is not wasted on weights that cannot be used.
    assert soup.main([str(tmp_path / "not-read.pt"), str(b), "--data", str(tiny_csv), "--out", str(tmp_path / "x.pt"),
                      "--weights", "0.7,0.7"]) == 2
    assert "summing to 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        soup.main([str(a), str(b), "--data", str(tiny_csv), "--out", str(tmp_path / "x.pt"), "--weights", "a,b"])
    assert not (tmp_path / "x.pt").exists()
