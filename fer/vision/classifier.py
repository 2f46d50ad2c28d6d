"""The face classifier behind `EmotionRecognizer`: a checkpoint's ONNX export run by OpenCV, or torch.

Importing torch takes about a second, the largest part of the app's start. So a checkpoint
`<name>.pt` ships with `<name>.onnx` (written by `python -m fer.export`; it contains the whole
inference graph of `fer.model.InferenceNet`: crop, normalisation, net, softmax, mirror averaging)
and `<name>.onnx.json`, which records the SHA-256 of the checkpoint it came from. The export is used
only while that hash matches, so a checkpoint replaced by hand is never paired with a stale export:
it falls back to torch (slower start, same results).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fer.emotions import EMOTIONS
from fer.files import DEFAULT_MODEL, export_matches, onnx_path, read_sidecar
from fer.server.pool import Pool

BATCH = 256  # faces per OpenCV forward pass (bounds memory on a whole-dataset run)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Classifier:
    """`predict`: uint8 (N, 48, 48) faces -> (N, 7) probabilities in EMOTIONS order. Thread-safe."""

    predict: Callable[[np.ndarray], np.ndarray]
    backend: str  # "onnx" (OpenCV DNN) or "torch"
    info: dict = field(default_factory=dict)  # fer.model.reading_info: temperature, threshold, neutral reference


def onnx_classifier(path: Path, info: dict | None = None) -> Classifier:
    """OpenCV DNN on an exported graph: raw faces in, mirror-averaged probabilities out."""
    model = np.frombuffer(Path(path).read_bytes(), np.uint8)
    nets = Pool(lambda: cv2.dnn.readNetFromONNX(model))
    nets.prime()  # an unreadable export fails here, at load time

    def predict(faces: np.ndarray) -> np.ndarray:
        out = []
        with nets.borrow() as net:  # NOTE: setInput + forward is stateful: one net per thread at a time
            for i in range(0, len(faces), BATCH):
                net.setInput(np.ascontiguousarray(faces[i:i + BATCH, None], dtype=np.float32))
                out.append(net.forward().copy())
        return np.concatenate(out) if out else np.zeros((0, len(EMOTIONS)), np.float32)

    return Classifier(predict, "onnx", info or {})


def current_export(checkpoint: Path) -> Classifier | None:
    """The checkpoint's ONNX export when it was made from these bytes and OpenCV reads it; else None (logged)."""
    if export_matches(checkpoint):
        try:
            return onnx_classifier(onnx_path(checkpoint), read_sidecar(checkpoint))
        except cv2.error as e:
            log.warning("%s: unreadable ONNX export (%s).", onnx_path(checkpoint), e.err)
    elif onnx_path(checkpoint).exists():
        log.warning("%s was not exported from %s (run `python -m fer.export`).", onnx_path(checkpoint), checkpoint)
    return None


def load_classifier(checkpoint: str | Path | None = None) -> Classifier:
    """The classifier of a checkpoint (default: the shipped model): its ONNX export when current, else torch.

    Raises ValueError with one clear sentence for a missing, corrupt or mismatched checkpoint.
    """
    path = Path(checkpoint) if checkpoint else DEFAULT_MODEL
    if not path.is_file():
        raise ValueError(f"{path}: model file not found.")
    export = current_export(path)
    if export is not None:
        return export
    from fer.model import load_checkpoint, predict_proba, reading_info  # torch: only without a usable export

    model, meta = load_checkpoint(path)
    return Classifier(lambda faces: predict_proba(model, meta, faces), "torch", reading_info(meta))
