"""Smoothing on scripted probability sequences: stable against blips, responsive to real changes."""

import numpy as np
import pytest

from fer.emotions import EMOTIONS
from fer.vision.mood import read_mood
from fer.vision.recognizer import Face
from fer.vision.smoothing import EmotionSmoother, StreamMood


def onehot(emotion: str, p: float = 0.9) -> np.ndarray:
    v = np.full(len(EMOTIONS), (1 - p) / (len(EMOTIONS) - 1))
    v[EMOTIONS.index(emotion)] = p
    return v


def face(emotion: str, box=(100, 100, 80, 80)) -> Face:
    probs = dict(zip(EMOTIONS, onehot(emotion)))
    return Face(box, emotion, probs[emotion], probs)


def test_one_frame_blips_never_change_the_mood():
    s = EmotionSmoother()
    for _ in range(10):
        s.update(onehot("happy"))
    for blip in ["angry", "happy", "sad", "happy", "happy", "surprise", "happy", "fear"]:
        assert s.update(onehot(blip)) == "happy"


def test_a_two_frame_blip_does_not_change_the_mood_either():
    s = EmotionSmoother()
    for _ in range(10):
        s.update(onehot("happy"))
    moods = [s.update(onehot(e)) for e in ["sad", "sad", "happy", "happy", "happy"]]
    assert moods == ["happy"] * 5


def test_a_sustained_change_takes_over_within_a_bound():
    s = EmotionSmoother()
    for _ in range(20):
        s.update(onehot("happy"))
    moods = [s.update(onehot("sad")) for _ in range(8)]
    switch = moods.index("sad") + 1
    assert switch <= 5  # frames_to_lead (2) + hold (3)
    assert moods[switch - 1:] == ["sad"] * (len(moods) - switch + 1)


def test_dict_input_and_confidence():
    s = EmotionSmoother()
    s.update(dict(zip(EMOTIONS, onehot("neutral"))))
    assert s.mood == "neutral" and abs(s.confidence - 0.9) < 1e-9


def test_stream_mood_tracks_faces_and_averages_the_group():
    m = StreamMood()
    for _ in range(10):
        m.update([face("happy", (0, 0, 100, 100)), face("happy", (300, 0, 90, 90))])
    assert m.mood == "happy" and len(m.tracks) == 2
    for _ in range(10):  # one person turns sad: the mean is split, but happy still leads the group
        m.update([face("happy", (2, 0, 100, 100)), face("sad", (300, 2, 90, 90))])
    assert [t.smoother.mood for t in m.tracks] == ["happy", "sad"]


def test_a_face_that_leaves_is_dropped_after_max_missed_frames():
    m = StreamMood(max_missed=3)
    m.update([face("happy"), face("sad", (400, 0, 50, 50))])
    for _ in range(4):
        m.update([face("happy")])
    assert len(m.tracks) == 1


def test_no_face_keeps_the_last_mood():
    m = StreamMood()
    assert m.update([]) is None
    for _ in range(5):
        m.update([face("surprise")])
    assert m.update([]) == "surprise"


def test_one_rule_for_the_mood_of_a_picture():
    happy, sad = onehot("happy", 0.6), onehot("sad", 0.9)
    assert read_mood([]) is None
    assert read_mood([happy]).emotion == "happy" and read_mood([happy]).source == "the only face"
    largest = read_mood([happy, sad, sad])
    assert (largest.emotion, largest.source) == ("happy", "largest face")
    group = read_mood([happy, sad, sad], group=True)
    assert (group.emotion, group.source) == ("sad", "group of 3")
    assert group.confidence == pytest.approx((0.4 / 6 + 0.9 + 0.9) / 3)


def test_the_stream_follows_the_same_rule():
    """The largest face decides by default; with group on, the mean of the faces in view."""
    frame = [face("happy", (0, 0, 120, 120)), face("sad", (300, 0, 80, 80)), face("sad", (450, 0, 70, 70))]
    for group, expected in ((False, "happy"), (True, "sad")):
        m = StreamMood(group=group)
        for _ in range(10):
            m.update(frame)
        assert m.mood == expected == m.reading.emotion
