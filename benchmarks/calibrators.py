"""Would a calibrator more flexible than one temperature make confidence truer? Measured on PublicTest only.

    python -m benchmarks.calibrators [--model models/emotion_cnn.pt] [--splits 40]

Each calibrator maps the app's mirror-averaged prediction p to new probabilities without changing the winner:
- one T by the lowest NLL (shipped, `fer.training.calibrate.fit_temperature`): softmax(log(p) / T);
- one T by the lowest ECE on the same grid (ECE is what the trust target counts, but it is a noisy objective);
- a T per face that grows or shrinks with p's entropy: T = exp(a + b · (H(p) / log 7 − 1/2)), a and b by the
  lowest NLL (sample-adaptive temperature scaling: a net taught by soft targets can be over-confident in the
  middle of its range and under-confident at the top, which one T cannot undo).
Each is fitted on one random half of PublicTest and scored on the other, both ways, over many halvings, so the
figures are held-out ones; a perfectly calibrated model's ECE on as many faces is printed beside them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from fer.files import SHARED_FER, model_path
from fer.model import load_checkpoint, predict_proba
from fer.training.calibrate import GRID, fit_temperature
from fer.training.data import load_dataset
from fer.training.evaluate import calibration_figures, ece_noise_floor

Calibrator = Callable[[np.ndarray], np.ndarray]  # log p (N, 7) -> calibrated probabilities (N, 7)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def entropy(logp: np.ndarray) -> np.ndarray:
    """H(p) / log K: 0 for a sure reading, 1 for a uniform one."""
    return -(np.exp(logp) * logp).sum(1) / np.log(logp.shape[1])


def nll_temperature(logp: np.ndarray, y: np.ndarray) -> Calibrator:
    t = fit_temperature(np.exp(logp), y)
    return lambda lp: softmax(lp / t)


def ece_temperature(logp: np.ndarray, y: np.ndarray) -> Calibrator:
    t = min(GRID, key=lambda t: calibration_figures(softmax(logp / t), y)["ece"])
    return lambda lp: softmax(lp / t)


def entropy_temperature(logp: np.ndarray, y: np.ndarray) -> Calibrator:
    lp, yt, h = torch.tensor(logp), torch.as_tensor(y).long(), torch.tensor(entropy(logp) - 0.5)
    ab = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([ab], max_iter=200, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        nll = F.cross_entropy(lp / torch.exp(ab[0] + ab[1] * h)[:, None], yt)
        nll.backward()
        return nll

    opt.step(loss)
    a, b = ab.detach().numpy()
    return lambda lp: softmax(lp / np.exp(a + b * (entropy(lp) - 0.5))[:, None])


CALIBRATORS = {"one T, lowest NLL (shipped)": nll_temperature, "one T, lowest ECE": ece_temperature,
               "T by entropy, lowest NLL": entropy_temperature}


def held_out(logp: np.ndarray, y: np.ndarray, splits: int) -> dict[str, np.ndarray]:
    """(ECE, NLL) of each calibrator on held-out halves: fit on one half, score the other, both ways."""
    rng, out = np.random.default_rng(0), {name: [] for name in CALIBRATORS}
    for _ in range(splits):
        order = rng.permutation(len(y))
        halves = order[:len(y) // 2], order[len(y) // 2:]
        for fit, held in (halves, halves[::-1]):
            for name, make in CALIBRATORS.items():
                q = make(logp[fit], y[fit])(logp[held])
                assert (q.argmax(1) == logp[held].argmax(1)).all(), f"{name} changed a winner"
                f = calibration_figures(q, y[held])
                out[name].append((f["ece"], f["nll"]))
    return {name: np.array(v) for name, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(SHARED_FER))
    p.add_argument("--model", default=str(model_path()))
    p.add_argument("--splits", type=int, default=40, help="random PublicTest halvings")
    a = p.parse_args(argv)
    x, y = load_dataset(a.data).split("PublicTest")
    model, meta = load_checkpoint(a.model)
    logp = np.log(np.clip(predict_proba(model, meta, x, temperature=1.0), 1e-12, None))
    results = held_out(logp, y, a.splits)
    half = nll_temperature(logp, y)(logp).max(1)[::2]  # every other face: as many as a held-out half
    floor = ece_noise_floor(half)
    print(f"{a.model}: calibrators on held-out halves of PublicTest ({2 * a.splits} fits; a perfectly calibrated "
          f"model's ECE on {len(half)} faces: mean {floor['mean']:.4f}, 95th percentile {floor['p95']:.4f})")
    for name, v in results.items():
        sem = v[:, 0].std() / np.sqrt(len(v))
        print(f"  {name:28s} ECE {v[:, 0].mean():.4f} ± {sem:.4f}  NLL {v[:, 1].mean():.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
