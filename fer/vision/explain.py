"""Why the model read a face so: occlusion sensitivity through the app's own classifier (no torch, no gradients).

A grey square slides over the 48x48 face; wherever covering the face lowers the probability of the
predicted emotion most, the face mattered most. All positions go through the classifier in one batch.
"""

from __future__ import annotations

import cv2
import numpy as np

from fer.vision.align import crop_matrix
from fer.vision.detect import Found
from fer.vision.recognizer import EmotionRecognizer

PATCH, STRIDE = 12, 6  # 7 x 7 positions on a 48 x 48 face: one batch of 50 faces
MAX_WHY = 3  # faces explained per photo, largest first: each map costs ~0.4 s of the shared server's time
COLOURS = cv2.COLORMAP_JET  # blue (covering it changes the reading least) ... red (most)


def occlusion_map(rec: EmotionRecognizer, gray: np.ndarray, face: Found) -> np.ndarray:
    """48x48 map in [0, 1]: how much hiding each part of the face's crop lowers the predicted emotion's probability.

    `face`: a `Face` or `Found`; its crop is the one the classifier reads (aligned when its eyes are known)."""
    crop = rec.crop(gray, face)
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


def overlay(image: np.ndarray, faces: list, maps: list[np.ndarray], rec: EmotionRecognizer, alpha: float = 0.45) \
        -> np.ndarray:
    """A BGR copy of `image` with each face's map blended over the area `rec`'s crop of it came from (turned
    with the face when the crop was aligned), inside the face's box: the crop's margin and an aligned crop's
    corners reach beyond the box, and a map spilling over it reads as if the background moved the reading."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    size = (out.shape[1], out.shape[0])
    for face, heat in zip(faces, maps):
        back = cv2.invertAffineTransform(crop_matrix(face, rec.margin, rec.align, heat.shape[0]))
        colour = cv2.warpAffine(cv2.applyColorMap((heat * 255).astype(np.uint8), COLOURS), back, size,
                                flags=cv2.INTER_LINEAR)
        inside = cv2.warpAffine(np.full(heat.shape, 255, np.uint8), back, size, flags=cv2.INTER_NEAREST) > 0
        x, y, w, h = face.box
        box = np.zeros(inside.shape, bool)
        box[max(y, 0):y + h, max(x, 0):x + w] = True
        inside &= box
        out[inside] = cv2.addWeighted(out, 1 - alpha, colour, alpha, 0)[inside]
    return out


def legend(width: int = 240, height: int = 12) -> np.ndarray:
    """The heatmap's colour scale as a BGR strip, from "moved the reading least" (left) to "most" (right)."""
    ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    return cv2.applyColorMap(ramp, COLOURS)
