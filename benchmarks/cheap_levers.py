"""Three accuracy levers that need no training, measured on PublicTest (the validation split) only.

    python -m benchmarks.cheap_levers [--models models/emotion_cnn.pt models/candidates/vgg-e90-swa60.pt ...]
                                      [--levers crops biases ensembles]

1. Test-time crops: the app averages a face with its mirror image (centre 40×40 of 48×48). Would averaging
   more crops (shifted by 2 or 4 px, each also mirrored) read better? It would cost one forward pass per crop.
2. An ensemble teacher: does averaging the given checkpoints beat the best of them? Distilling into one net
   only pays with a teacher stronger than the student (issue 16).
3. Per-class biases: would adding a bias per class to the log-probabilities (with a scale, which also does
   the temperature's work, fitted by NLL) read better? Fitted on one random half of PublicTest and scored on the other,
   both ways, over many splits, so the figure is a held-out one.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch
import torch.nn.functional as F

from fer.files import SHARED_FER, model_path
from fer.model import load_checkpoint, predict_proba
from fer.training.data import load_dataset

LEVERS = ("crops", "biases", "ensembles")
CROPS = {  # name -> (dx, dy) offsets of the 40×40 crop from the centre, centre first; each crop is also mirrored
    "centre (shipped)": [(0, 0)],
    "centre + 4 corners ±2 px": [(0, 0), (-2, -2), (2, -2), (-2, 2), (2, 2)],
    "centre + 4 corners ±4 px": [(0, 0), (-4, -4), (4, -4), (-4, 4), (4, 4)],
    "centre + 4 sides ±2 px": [(0, 0), (0, -2), (0, 2), (-2, 0), (2, 0)],
}


def shifted(faces: np.ndarray, size: int, dx: int, dy: int) -> np.ndarray:
    """The size×size window of each face, moved (dx, dy) px from the centre: `predict_proba` then takes it whole."""
    off = (faces.shape[-1] - size) // 2
    return np.ascontiguousarray(faces[:, off + dy:off + dy + size, off + dx:off + dx + size])


def fit_bias(logp: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, per-class bias) minimising the NLL of softmax(scale * logp + bias): bias-corrected temperature."""
    scale = torch.ones(1, dtype=logp.dtype, requires_grad=True)
    bias = torch.zeros(logp.shape[1], dtype=logp.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([scale, bias], max_iter=200)

    def loss():
        opt.zero_grad()
        nll = F.cross_entropy(logp * scale + bias, y)
        nll.backward()
        return nll

    opt.step(loss)
    return scale.detach(), bias.detach()


def bias_gains(probs: np.ndarray, y: np.ndarray, splits: int) -> np.ndarray:
    """Accuracy change of per-class biases on held-out halves: fit on one half, score the other, both ways."""
    logp, yt = torch.tensor(np.log(np.clip(probs, 1e-12, 1)), dtype=torch.float64), torch.as_tensor(y).long()
    rng, gains = np.random.default_rng(0), []
    for _ in range(splits):
        order = torch.as_tensor(rng.permutation(len(y)))
        halves = order[:len(y) // 2], order[len(y) // 2:]
        for fit, held in (halves, halves[::-1]):
            scale, bias = fit_bias(logp[fit], yt[fit])
            before = (logp[held].argmax(1) == yt[held]).double().mean()
            after = ((logp[held] * scale + bias).argmax(1) == yt[held]).double().mean()
            gains.append(float(after - before))
    return np.array(gains)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(SHARED_FER))
    p.add_argument("--models", nargs="+", default=[str(model_path())])
    p.add_argument("--bias-splits", type=int, default=50, help="random PublicTest halvings for lever 3")
    p.add_argument("--levers", nargs="+", choices=LEVERS, default=list(LEVERS), help="which levers to measure")
    a = p.parse_args(argv)
    x, y = load_dataset(a.data).split("PublicTest")
    nets = {path: load_checkpoint(path) for path in a.models}
    # One centre pass per net serves all three levers (uncalibrated: lever 3's scale absorbs the temperature).
    centre = {path: predict_proba(model, meta, x, temperature=1.0) for path, (model, meta) in nets.items()}
    if "crops" in a.levers:
        for path, (model, meta) in nets.items():
            print(f"{path}: PublicTest accuracy by test-time crops (each with its mirror)")
            for name, offsets in CROPS.items():
                probs = centre[path] + sum(predict_proba(model, meta, shifted(x, meta["input_size"], dx, dy),
                                                         temperature=1.0) for dx, dy in offsets[1:])
                print(f"  {name:28s} {len(offsets) * 2:2d} passes  {(probs.argmax(1) == y).mean():.2%}")
    if "biases" in a.levers:
        for path, probs in centre.items():
            g = bias_gains(probs, y, a.bias_splits)
            print(f"{path}: per-class biases on held-out halves of PublicTest ({len(g)} fits): accuracy change mean "
                  f"{g.mean():+.2%}, 5th-95th percentile {np.percentile(g, 5):+.2%} to {np.percentile(g, 95):+.2%}")
    if len(nets) > 1 and "ensembles" in a.levers:
        print("PublicTest accuracy of mean-probability ensembles")
        for r in range(1, len(centre) + 1):
            for members in itertools.combinations(centre, r):
                acc = (sum(centre[m] for m in members).argmax(1) == y).mean()
                print(f"  {acc:.2%}  {' + '.join(members)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
