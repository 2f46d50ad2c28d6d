"""Facial-expression emotion recognition and emotion-based movie recommendations (no UI code here).

    from fer import EmotionRecognizer, load_image
"""

from importlib import import_module

# Lazy exports: `python -m fer.movies` and friends should not pay for importing torch and OpenCV.
_EXPORTS = {"EmotionRecognizer": "fer.recognizer", "Face": "fer.recognizer", "load_image": "fer.images",
            "EmotionSmoother": "fer.smoothing", "StreamMood": "fer.smoothing", "StreamTracker": "fer.detect",
            "EMOTIONS": "fer.emotions"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fer' has no attribute {name!r}")
