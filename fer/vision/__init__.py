"""Reading faces: an image in, faces and their 7 emotion probabilities out, and the mood they decide.

The door is `recognizer.EmotionRecognizer` (detect, align, classify); `images` decodes uploads, `detect` finds faces
(YuNet or Haar), `smoothing` / `mood` / `live` turn per-frame readings into one mood, `personal` adapts to a person,
`explain` shows why, `draw` boxes faces.
"""
