"""Evaluate an emotion model on one split: accuracy, per-class precision/recall/F1, macro F1, confusion matrix.

    python -m fer.evaluate --data ../shared/datasets/fer2013.csv.gz --split PrivateTest \
        [--model PATH] [--json OUT] [--record] [--onnx] [--ferplus ../shared/datasets/fer2013new.csv]

--record stores the figures in the checkpoint itself, under metrics[SPLIT], next to the validation figures.
--onnx runs the checkpoint's ONNX export through OpenCV, as the app does, instead of torch.
--ferplus scores against the FER+ annotators' majority labels of the split instead of FER2013's own.
--robustness scores the split under the conditions webcams produce (blur, low light, gamma, noise, JPEG,
rotation, box jitter, occlusion bars) instead: one accuracy per condition and its drop from clean.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from fer.emotions import EMOTIONS
from fer.files import DEFAULT_MODEL
from fer.model import load_checkpoint, predict_proba, reading_info, record_metrics
from fer.training.data import align_dataset, apply_ferplus, load_dataset
from fer.vision.align import wants_aligned
from fer.vision.classifier import current_export


def metrics_from_confusion(cm: np.ndarray, classes: list[str] | tuple[str, ...] = EMOTIONS) -> dict:
    """Metrics from a confusion matrix whose rows are true classes and columns predictions.

    A class with no predictions has precision 0 (and no true samples: recall 0), as scikit-learn's zero_division=0.
    """
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm).astype(float)
    pred, true = cm.sum(0), cm.sum(1)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1.mean()),
        "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                          "support": int(true[i])} for i, c in enumerate(classes)},
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
    }


def _bin_gaps(conf: np.ndarray, correct: np.ndarray, bins: int):
    """Equal-width confidence bins: (bin mask, its |accuracy - confidence|) for every non-empty bin."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    for b in range(bins):
        m = which == b
        if m.any():
            yield b, m, abs(correct[m].mean() - conf[m].mean())


def calibration_figures(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Expected calibration error (equal-width confidence bins), negative log-likelihood, and the reliability
    diagram's bins: how far the stated confidence is from the accuracy it delivers."""
    conf, pred = probs.max(1), probs.argmax(1)
    correct = (pred == labels).astype(float)
    table, ece = [], 0.0
    for b, m, gap in _bin_gaps(conf, correct, bins):
        ece += m.mean() * gap
        table.append({"confidence": float(conf[m].mean()), "accuracy": float(correct[m].mean()),
                      "count": int(m.sum()), "low": b / bins, "high": (b + 1) / bins})
    nll = float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()) if len(labels) else 0.0
    return {"ece": float(ece), "nll": nll, "reliability": table}


def ece_noise_floor(conf: np.ndarray, bins: int = 15, trials: int = 200, seed: int = 0) -> dict:
    """The ECE a *perfectly* calibrated model with these confidences would show on this many faces: each reading
    right with exactly its stated chance, drawn `trials` times. Mean and 95th percentile.

    ECE is never 0 on a finite test set (each bin's accuracy is a sample); an ECE within this range cannot be
    told apart from perfect calibration on this data."""
    rng = np.random.default_rng(seed)
    eces = [sum(m.mean() * gap for _, m, gap in _bin_gaps(conf, (rng.random(len(conf)) < conf).astype(float), bins))
            for _ in range(trials)]
    return {"mean": float(np.mean(eces)), "p95": float(np.percentile(eces, 95))}


def evaluate(model_path: str | Path | None, data: str | Path, split: str, with_predictions: bool = False,
             onnx: bool = False, ferplus: str | Path | None = None) -> dict:
    """Run the model on one split; returns the metrics dict plus model/split/timing information.

    with_predictions adds "images" (N, 48, 48), "labels" (N,) and "probs" (N, 7) arrays (not JSON-able).
    onnx: run the checkpoint's ONNX export with OpenCV (the app's classifier); ValueError when it is not current.
    ferplus: fer2013new.csv; the split's labels become the FER+ majority (rows without one are left out).
    """
    path = Path(model_path) if model_path else DEFAULT_MODEL
    model, meta = load_checkpoint(path)
    if onnx:
        export = current_export(path)
        if export is None:
            raise ValueError(f"{path}: no current ONNX export (run `python -m fer.export --model {path}`).")
        predict = export.predict
    else:
        predict = partial(predict_proba, model, meta)
    ds = load_dataset(data)
    if wants_aligned(reading_info(meta)):  # a model trained on eye-aligned faces reads its test faces aligned too
        ds = align_dataset(ds)
    if ferplus:
        ds = apply_ferplus(ds, ferplus, splits=(split,))
    x, y = ds.split(split)
    t0 = time.perf_counter()
    probs = predict(x)
    seconds = time.perf_counter() - t0
    cm = np.zeros((len(EMOTIONS), len(EMOTIONS)), np.int64)
    np.add.at(cm, (y, probs.argmax(1)), 1)
    out = {**metrics_from_confusion(cm), **calibration_figures(probs, y),
           "ece_noise_floor": ece_noise_floor(probs.max(1)), "model": str(path), "arch": meta["arch"],
           "backend": "onnx" if onnx else "torch", "data": str(data),
           "label_source": "FER+ majority" if ferplus else "FER2013", "split": split, "n": int(len(y)),
           "images_per_s": round(len(y) / seconds, 1)}
    if with_predictions:
        out.update(images=x, labels=y, probs=probs)
    return out


def _affine(x: np.ndarray, angle: float = 0.0, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    m = cv2.getRotationMatrix2D((23.5, 23.5), angle, scale)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(x, m, (48, 48), borderMode=cv2.BORDER_REPLICATE)


def _jitter(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The face box a little off: shifted up to 4 px and scaled by up to 10 %, as a detector's box moves."""
    return _affine(x, 0.0, 1 + rng.uniform(-0.1, 0.1), *rng.uniform(-4, 4, 2))


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_GRAYSCALE)


def _bar(x: np.ndarray, rows: slice) -> np.ndarray:
    out = x.copy()
    out[rows, 6:42] = 0
    return out


# What webcams do to faces, applied to the 48x48 crops (a seeded generator where there is chance).
CONDITIONS = {
    "blur (Gaussian, sigma 1.2 px)": lambda x, rng: cv2.GaussianBlur(x, (0, 0), 1.2),
    "low light (x0.35 + noise)": lambda x, rng: np.clip(x * 0.35 + rng.normal(0, 4, x.shape), 0, 255).astype(np.uint8),
    "gamma 2.0 (dark)": lambda x, rng: (255 * (x / 255.0) ** 2.0).astype(np.uint8),
    "gamma 0.5 (washed out)": lambda x, rng: (255 * (x / 255.0) ** 0.5).astype(np.uint8),
    "sensor noise (sigma 12)": lambda x, rng: np.clip(x + rng.normal(0, 12, x.shape), 0, 255).astype(np.uint8),
    "JPEG quality 20": lambda x, rng: _jpeg(x, 20),
    "rotation +15 deg": lambda x, rng: _affine(x, 15.0),
    "rotation -15 deg": lambda x, rng: _affine(x, -15.0),
    "box jitter (shift 4 px, scale 10 %)": _jitter,
    "bar over the eyes": lambda x, rng: _bar(x, slice(14, 24)),
    "bar over the mouth": lambda x, rng: _bar(x, slice(32, 42)),
}


def robustness(model_path: str | Path | None, data: str | Path, split: str = "PrivateTest") -> list[dict]:
    """Accuracy of the model (its ONNX export, as the app runs it, when current) on the split under each condition."""
    path = Path(model_path) if model_path else DEFAULT_MODEL
    model, meta = load_checkpoint(path)
    export = current_export(path)
    predict = partial(predict_proba, model, meta) if export is None else export.predict
    ds = load_dataset(data)
    x, y = (align_dataset(ds) if wants_aligned(reading_info(meta)) else ds).split(split)
    clean = float((predict(x).argmax(1) == y).mean())
    rows = [{"condition": "clean", "accuracy": clean, "drop": 0.0}]
    for i, (name, f) in enumerate(CONDITIONS.items()):
        rng = np.random.default_rng(i)
        acc = float((predict(np.stack([f(face, rng) for face in x])).argmax(1) == y).mean())
        rows.append({"condition": name, "accuracy": acc, "drop": clean - acc})
    return rows


def format_report(m: dict) -> str:
    """Readable tables: summary, per-class metrics and the confusion matrix."""
    lines = [f"{m.get('split', '')}: {m.get('n', sum(map(sum, m['confusion_matrix'])))} images, "
             f"accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f}"
             + (f", ECE {m['ece']:.4f} (15 bins), NLL {m['nll']:.4f}" if "ece" in m else "")]
    if "ece_noise_floor" in m:
        f = m["ece_noise_floor"]
        lines.append(f"(a perfectly calibrated model with these confidences would show ECE {f['mean']:.4f} on average "
                     f"on {m['n']} faces, up to {f['p95']:.4f} at the 95th percentile)")
    lines += ["", f"{'class':10s} {'precision':>9s} {'recall':>7s} {'f1':>7s} {'support':>8s}"]
    for c, r in m["per_class"].items():
        lines.append(f"{c:10s} {r['precision']:9.3f} {r['recall']:7.3f} {r['f1']:7.3f} {r['support']:8d}")
    short = [c[:7] for c in m["classes"]]
    lines += ["", "confusion matrix (rows: true, columns: predicted)", f"{'':10s}" + "".join(f"{c:>8s}" for c in short)]
    for c, row in zip(m["classes"], m["confusion_matrix"]):
        lines.append(f"{c:10s}" + "".join(f"{v:8d}" for v in row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Evaluate an emotion model on a FER2013 split.")
    p.add_argument("--model", default=None, help=f"checkpoint (default: {DEFAULT_MODEL.name}, the shipped model)")
    p.add_argument("--data", required=True, help="fer2013.csv[.gz], a Kaggle train/test folder, or its .zip")
    p.add_argument("--split", default="PrivateTest")
    p.add_argument("--json", default=None, help="also write the metrics as JSON here")
    p.add_argument("--record", action="store_true", help="also store the figures in the checkpoint (metrics[SPLIT])")
    p.add_argument("--onnx", action="store_true", help="run the ONNX export with OpenCV, as the app does")
    p.add_argument("--ferplus", default=None, help="fer2013new.csv: score against the FER+ majority labels")
    p.add_argument("--robustness", action="store_true", help="accuracy under webcam conditions (blur, light, ...)")
    a = p.parse_args(argv)
    if a.robustness:
        try:
            rows = robustness(a.model, a.data, a.split)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{'condition':38s} {'accuracy':>8s} {'drop':>7s}")
        for r in rows:
            print(f"{r['condition']:38s} {r['accuracy']:8.2%} {-r['drop']:+7.2%}")
        if a.json:
            Path(a.json).write_text(json.dumps(rows, indent=2))
        return 0
    if a.record and (a.onnx or a.ferplus):
        p.error("--record stores the checkpoint's own figures on FER2013 labels; leave out --onnx and --ferplus.")
    try:
        m = evaluate(a.model, a.data, a.split, onnx=a.onnx, ferplus=a.ferplus)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"model {m['model']} ({m['arch']}, {m['backend']}) on {m['data']}, {m['label_source']} labels")
    print(format_report(m))
    if a.json:
        Path(a.json).write_text(json.dumps(m, indent=2))
    if a.record:
        figures = ("accuracy", "macro_f1", "per_class", "confusion_matrix", "ece", "nll")
        record_metrics(m["model"], a.split, {k: m[k] for k in figures})
    return 0
