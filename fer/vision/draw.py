"""Boxes and labels drawn onto frames; shared by the CLI, the photo view and the webcam callback."""

from __future__ import annotations

import cv2
import numpy as np

# BGR colours per emotion, so the same mood always has the same colour.
COLOURS = {"angry": (60, 60, 230), "disgust": (60, 160, 60), "fear": (160, 60, 160), "happy": (40, 200, 250),
           "sad": (200, 120, 40), "surprise": (230, 200, 40), "neutral": (200, 200, 200)}


def draw_faces(image: np.ndarray, faces: list, numbered: bool = False) -> np.ndarray:
    """Return a BGR copy of `image` with each face boxed and labelled "emotion 93%"; `numbered`: "1 emotion 93%",
    in the order of `faces`, so a group photo's boxes match the page's "Face 1", "Face 2"…"""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    thick = max(1, round(max(out.shape[:2]) / 400))
    scale = max(0.5, max(out.shape[:2]) / 1000)
    for i, f in enumerate(faces, 1):
        x, y, w, h = f.box
        colour = COLOURS.get(f.emotion, (255, 255, 255))
        text = (f"{i} " if numbered else "") + f"{f.emotion} {f.confidence:.0%}"
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thick + 1)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = y - 4 if y - th - base - 4 > 0 else y + h + th + 4
        cv2.rectangle(out, (x, ty - th - base), (x + tw + 4, ty + base), colour, -1)
        cv2.putText(out, text, (x + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), thick, cv2.LINE_AA)
    return out
