"""The 7 FER2013 classes, in FER2013's label order (0 angry ... 6 neutral)."""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
