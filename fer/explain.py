"""Why the model read a face so: occlusion sensitivity through the app's own classifier (no torch, no gradients).

A grey square slides over the 48x48 face; wherever covering the face lowers the probability of the
predicted emotion most, the face mattered most. All positions go through the classifier in one batch.
"""

from __future__ import annotations

import cv2
import numpy as np

from fer.detect import Box, crop_face
from fer.recognizer import EmotionRecognizer

PATCH, STRIDE = 12, 6  # 7 x 7 positions on a 48 x 48 face: one batch of 50 faces
MAX_WHY = 3  # faces explained per photo, largest first: each map costs ~0.4 s of the shared server's time
COLOURS = cv2.COLORMAP_JET  # blue (covering it changes the reading least) ... red (most)


def occlusion_map(rec: EmotionRecognizer, gray: np.ndarray, box: Box) -> np.ndarray:
    """48x48 map in [0, 1]: how much hiding each part of the face lowers the predicted emotion's probability."""
    crop = crop_face(gray, box, rec.margin)
    positions = [(y, x) for y in range(0, 48 - PATCH + 1, STRIDE) for x in range(0, 48 - PATCH + 1, STRIDE)]
    batch = np.repeat(crop[None], len(positions) + 1, axis=0)
    fill = np.uint8(crop.mean())
    for i, (y, x) in enumerate(positions, 1):
        batch[i, y:y + PATCH, x:x + PATCH] = fill
    probs = rec.classifier.predict(batch)
    target = int(np.argmax(probs[0]))
    drop = np.clip(probs[0, target] - probs[1:, target], 0, None)
    heat, count = np.zeros((48, 48)), np.zeros((48, 48))
    for d, (y, x) in zip(drop, positions):
        heat[y:y + PATCH, x:x + PATCH] += d
        count[y:y + PATCH, x:x + PATCH] += 1
    heat /= np.maximum(count, 1)
    return (heat / heat.max() if heat.max() > 0 else heat).astype(np.float32)


def overlay(image: np.ndarray, faces: list, maps: list[np.ndarray], alpha: float = 0.45) -> np.ndarray:
    """A BGR copy of `image` with each face's map blended over its (square) crop area."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    for face, heat in zip(faces, maps):
        x, y, w, h = face.box
        side = max(w, h)
        x0, y0 = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
        x1, y1 = min(out.shape[1], x0 + side), min(out.shape[0], y0 + side)
        x0c, y0c = max(0, x0), max(0, y0)
        if x1 <= x0c or y1 <= y0c:
            continue
        colour = cv2.applyColorMap(cv2.resize((heat * 255).astype(np.uint8), (side, side)), COLOURS)
        part = colour[y0c - y0:y1 - y0, x0c - x0:x1 - x0]
        out[y0c:y1, x0c:x1] = cv2.addWeighted(out[y0c:y1, x0c:x1], 1 - alpha, part, alpha, 0)
    return out


def legend(width: int = 240, height: int = 12) -> np.ndarray:
    """The heatmap's colour scale as a BGR strip, from "moved the reading least" (left) to "most" (right)."""
    ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    return cv2.applyColorMap(ramp, COLOURS)
