"""Make a model's confidence mean what it says, and decide when a reading is too uncertain to state.

    python -m fer.calibrate --data ../shared/datasets/fer2013.csv.gz [--model models/emotion_cnn.pt]

Fits, on PublicTest only (PrivateTest is never read here):
- the temperature T of temperature scaling, applied to the app's mirror-averaged prediction p as
  softmax(log(p) / T) (the winner never changes), by the lowest negative log-likelihood over a grid of T;
- the "not sure" threshold: the lowest calibrated top probability at which the readings the app states
  are right at least TARGET_ACCURACY of the time (below it the app asks instead of answering).
It also stores the model's mean output on Training's neutral faces (the average resting face that
`EmotionRecognizer.calibrated` compares a person's own neutral face with). All three go into the
checkpoint, and the ONNX export is redone, so the app's two paths give the same numbers.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from fer.emotions import EMOTIONS
from fer.files import DEFAULT_MODEL
from fer.training.evaluate import calibration_figures

TARGET_ACCURACY = 0.8
GRID = np.exp(np.linspace(np.log(0.5), np.log(4.0), 281))  # T from 0.5 to 4, 0.75 % apart


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The T of the grid with the lowest NLL of softmax(log(p) / T), p the app's mirror-averaged probabilities."""
    logp = np.log(np.clip(probs, 1e-12, None))
    best, best_nll = 1.0, np.inf
    for t in GRID:
        z = logp / t
        z -= z.max(1, keepdims=True)
        nll = -(z[np.arange(len(labels)), labels] - np.log(np.exp(z).sum(1))).mean()
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def uncertainty_threshold(probs: np.ndarray, labels: np.ndarray, target: float = TARGET_ACCURACY) -> dict:
    """The lowest confidence threshold whose stated readings reach `target` accuracy, with its coverage."""
    conf, right = probs.max(1), probs.argmax(1) == labels
    for t in np.round(np.arange(0.30, 0.96, 0.01), 2):
        stated = conf >= t
        if stated.any() and right[stated].mean() >= target:
            return {"threshold": float(t), "coverage": float(stated.mean()), "accuracy": float(right[stated].mean()),
                    "accuracy_all": float(right.mean())}
    return {"threshold": 0.96, "coverage": float((conf >= 0.96).mean()), "accuracy": float("nan"),
            "accuracy_all": float(right.mean())}


def calibrate(model_path: str | Path, data: str | Path) -> dict:
    """Fit and store T, the threshold and the neutral reference; re-export; returns the figures (PublicTest)."""
    from fer.model import load_checkpoint, predict_proba, reading_info, update_checkpoint
    from fer.training.data import align_dataset, load_dataset
    from fer.training.export import export_onnx
    from fer.vision.align import wants_aligned

    path = Path(model_path)
    model, meta = load_checkpoint(path)
    ds = load_dataset(data)
    if wants_aligned(reading_info(meta)):
        ds = align_dataset(ds)
    x, y = ds.split("PublicTest")
    before = predict_proba(model, meta, x, temperature=1.0)
    t = fit_temperature(before, y)
    after = predict_proba(model, meta, x, temperature=t)
    sure = uncertainty_threshold(after, y)
    train_x, train_y = ds.split("Training")
    neutral = predict_proba(model, meta, train_x[train_y == EMOTIONS.index("neutral")], temperature=t).mean(0)
    update_checkpoint(path, temperature=t, uncertain_below=sure["threshold"],
                      neutral_reference=[float(v) for v in neutral])
    export_onnx(path)
    conf, right = after.max(1), after.argmax(1) == y
    # (threshold, coverage, accuracy of the readings kept); no reading that sure: accuracy NaN
    tradeoff = [(th, float((conf >= th).mean()), float(right[conf >= th].mean()) if (conf >= th).any() else math.nan)
                for th in (0.4, 0.5, 0.6, 0.7, 0.8)]
    return {"temperature": t, "before": calibration_figures(before, y), "after": calibration_figures(after, y),
            "not_sure": sure, "tradeoff": tradeoff, "accuracy_before": float((before.argmax(1) == y).mean()),
            "accuracy_after": float((after.argmax(1) == y).mean())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Fit temperature scaling and the 'not sure' threshold on PublicTest.")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--data", required=True, help="fer2013.csv[.gz] (its PublicTest split is used)")
    a = p.parse_args(argv)
    try:
        r = calibrate(a.model, a.data)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    b, f, s = r["before"], r["after"], r["not_sure"]
    print(f"{a.model}: temperature {r['temperature']:.3f} (fitted on PublicTest)")
    print(f"PublicTest ECE {b['ece']:.4f} -> {f['ece']:.4f}, NLL {b['nll']:.4f} -> {f['nll']:.4f}, "
          f"accuracy {r['accuracy_before']:.4f} -> {r['accuracy_after']:.4f}")
    print(f"not sure below {s['threshold']:.2f}: states {s['coverage']:.1%} of readings, {s['accuracy']:.1%} right "
          f"(all readings: {s['accuracy_all']:.1%})")
    print("threshold  stated  right: " + "; ".join(f"{t:.1f} {c:.1%} {acc:.1%}" for t, c, acc in r["tradeoff"]))
    return 0
