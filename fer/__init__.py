"""Facial-expression emotion recognition and emotion-based movie recommendations (no UI code here).

    from fer import EmotionRecognizer, load_image

Four parts, one folder each: `vision` (an image in, faces and emotions out), `training` (the CNN trained and
judged), `recommend` (the film list), `profiles` (a person's marks and settings), plus `server` (what one
server's sessions share). Shared words stay here: `emotions`, `genres`, `files`, `model`. The commands are
`python -m fer.predict | train | evaluate | calibrate | export | soup | movies | neighbours`.
"""

from importlib import import_module

# Lazy exports: `python -m fer.movies` and friends should not pay for importing torch and OpenCV.
_EXPORTS = {"EmotionRecognizer": "fer.vision.recognizer", "Face": "fer.vision.recognizer",
            "load_image": "fer.vision.images", "EmotionSmoother": "fer.vision.smoothing",
            "StreamMood": "fer.vision.smoothing", "StreamTracker": "fer.vision.detect", "EMOTIONS": "fer.emotions"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fer' has no attribute {name!r}")
