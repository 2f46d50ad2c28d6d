"""The reading adapts to one person: their "not sure" answers bias it (fer/vision/personal.py), bounded, and a person
the model already reads right is left alone."""

from dataclasses import replace

import numpy as np
import pytest

from fer import EmotionRecognizer, StreamTracker
from fer.emotions import EMOTIONS
from fer.vision.live import LiveMood
from fer.vision.personal import MAX_BIAS, MAX_TAUGHT, answer_bias, remember, taught_pairs
from tests.scenes import astronaut_frame


def reading(**probs: float) -> np.ndarray:
    """7 probabilities: the named ones, the rest shared equally."""
    rest = (1 - sum(probs.values())) / (len(EMOTIONS) - len(probs))
    return np.array([probs.get(e, rest) for e in EMOTIONS])


def sad_resting_face(rec) -> np.ndarray:
    """A resting reading like the model's average neutral face, with sad 2.5 times as likely."""
    rest = np.array(rec.classifier.info["neutral_reference"])
    rest[EMOTIONS.index("sad")] *= 2.5
    return rest / rest.sum()


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer.load()


def test_no_answers_no_bias_and_answers_the_model_got_right_move_almost_nothing():
    assert answer_bias([]) is None
    right = answer_bias([(reading(happy=0.95), "happy"), (reading(neutral=0.9), "neutral")])
    assert np.abs(right).max() < 0.05


def test_answers_pull_the_answered_emotion_up_and_stay_bounded():
    # A stern face: its angry moments read as sad, and the person said "angry" three times.
    taught = [(reading(sad=0.5, angry=0.35), "angry")] * 3
    b = answer_bias(taught)
    assert b[EMOTIONS.index("angry")] > 0 > b[EMOTIONS.index("sad")]
    assert abs(b.sum()) < 1e-9  # a pure re-weighting: no class gains from a constant
    many = answer_bias([(reading(sad=0.9, angry=0.02), "angry")] * 500)
    assert np.abs(many).max() <= MAX_BIAS + 1e-12


def test_the_person_is_read_differently_and_the_correction_can_be_undone(rec):
    stern = reading(sad=0.5, angry=0.35)
    person = rec.with_person(None, [(stern, "angry")] * 3)
    after = person.correct(stern[None].astype(np.float32))[0]
    assert EMOTIONS[int(np.argmax(after))] == "angry"  # the next such face reads as they said
    assert person.uncorrect(after[None])[0] == pytest.approx(stern, abs=1e-5)
    plain = rec.with_person(None, [])
    assert plain.correct(stern[None])[0] == pytest.approx(stern)  # nothing taught: nothing changes


def test_answers_are_fitted_on_top_of_the_resting_face(rec):
    """With a resting face that already pulls sad down, the same answers need less bias."""
    sad_rest = sad_resting_face(rec)
    taught = [(reading(sad=0.45, angry=0.4), "angry")] * 2
    alone = rec.with_person(None, taught)
    both = rec.with_person(sad_rest, taught)
    resting_only = rec.with_person(sad_rest)
    x = reading(sad=0.45, angry=0.4)[None].astype(np.float32)
    assert both.correct(x)[0][EMOTIONS.index("angry")] > resting_only.correct(x)[0][EMOTIONS.index("angry")]
    assert both.correct(x)[0][EMOTIONS.index("angry")] == pytest.approx(
        alone.correct(x)[0][EMOTIONS.index("angry")], abs=0.15)


def test_the_resting_weight_scales_the_correction_in_log_space(rec):
    """A benchmark weighs shares of the resting-face correction: 0 changes nothing, 0.5 is half of 1's shift."""
    sad_rest = sad_resting_face(rec)
    x = reading(sad=0.45, angry=0.4)[None]
    logs = {w: np.log(rec.with_person(sad_rest, resting_weight=w).correct(x)[0]) for w in (0.0, 0.5, 1.0)}
    assert np.exp(logs[0.0]) == pytest.approx(x[0])
    full, half = logs[1.0] - np.log(x[0]), logs[0.5] - np.log(x[0])
    assert full - full.mean() == pytest.approx(2 * (half - half.mean()), abs=1e-5)
    assert full[EMOTIONS.index("sad")] < full.mean()  # a sad resting face: sad readings are damped


def test_a_profile_keeps_only_the_most_recent_answers():
    stored = None
    for _ in range(MAX_TAUGHT + 10):
        stored = remember(stored, reading(sad=0.4), "sad")
    stored = remember(stored, reading(happy=0.4), "happy")
    pairs = taught_pairs(stored)
    assert len(pairs) == MAX_TAUGHT and pairs[-1][1] == "happy"
    assert pairs[-1][0] == pytest.approx(reading(happy=0.4), abs=1e-6)
    assert taught_pairs(None) == []


def test_a_webcam_calibration_classifies_each_face_once(rec):
    """While the resting face is recorded, one classification gives both the model's reading (recorded) and the
    person's (shown): the classifier ran twice per frame before."""
    frame, _ = astronaut_frame()
    model_reading = rec.predict(frame, StreamTracker())[0]  # a stream's first frame, as LiveMood reads it
    person = rec.with_person(sad_resting_face(rec))
    batches = []
    counted = replace(rec.classifier, predict=lambda faces: batches.append(len(faces)) or rec.classifier.predict(faces))
    live = LiveMood(EmotionRecognizer(counted, rec.detector).with_person(person.resting))
    live.start_resting(seconds=600)
    live.process(frame)
    recording, recorded = live.resting()
    assert batches == [1] and recording
    assert recorded == [pytest.approx([model_reading.probs[e] for e in EMOTIONS])]  # uncorrected
    shown = live._faces[0].probs
    assert shown == pytest.approx(person.predict(frame, StreamTracker())[0].probs)  # corrected
    assert shown != pytest.approx(model_reading.probs)
