"""The "not sure" question: an uncertain reading is asked about, and the answer adapts this person's readings."""

from __future__ import annotations

import streamlit as st

from fer.emotions import EMOTIONS
from fer.files import runs_dir
from fer.profiles.store import ProfileError
from fer.training.contributions import ContributionRefused, contribute, contributed_dir
from fer.vision.mood import Reading, answered, as_vector
from fer.vision.personal import remember
from ui.profile import session_profile
from ui.state import save


def not_sure(reading: Reading, key: str) -> Reading | None:
    """"Not sure: sad or angry?" with one tap per candidate and "something else"; the answer becomes the mood.

    Answers are counted per emotion pair in the person's profile (numbers only). With the person's explicit
    opt-in, the 48x48 grey face crop is kept with the answer to help improve the model (fer/training/contributions.py).
    """
    answers = st.session_state.setdefault("answers", {})
    if key in answers:
        return answered(reading, answers[key])
    a, b = reading.candidates
    question = st.empty()
    with question.container():
        st.warning(f"Not sure: **{a}** or **{b}**?")
        c1, c2 = st.columns(2)
        choice = a if c1.button(a.capitalize(), key=f"ans_{key}_a") else b if c2.button(b.capitalize(),
                                                                                      key=f"ans_{key}_b") else None
        other = st.selectbox("Something else", ["—", *[e for e in EMOTIONS if e not in (a, b)]], key=f"ans_{key}_o")
    choice = choice or (other if other != "—" else None)
    if choice is None:
        return None
    question.empty()  # answered: the list takes its place in this same run
    answers[key] = choice
    teach(reading, choice)
    try:
        session_profile().count_answer(f"{a} or {b}", choice)
    except ProfileError as e:
        st.session_state["profile_error"] = str(e)
    crop = st.session_state.get("last_crop")
    if crop is not None and st.session_state.get("contribute"):
        given = st.session_state.setdefault("contributed", [])
        try:
            given.append(str(contribute(contributed_dir(runs_dir()), choice, crop, len(given),
                                        client=st.context.ip_address)))
        except ContributionRefused as e:
            st.session_state["profile_error"] = str(e)
        except OSError as e:  # a full or read-only disk: the answer still counts, the crop is not kept
            st.session_state["profile_error"] = f"Your face crop could not be kept ({e.strerror or e}); " \
                "your answer still counts."
    return answered(reading, choice)


def teach(reading: Reading, choice: str) -> None:
    """An answered reading joins what adapts this person's readings (fer/vision/personal.py): its 7 numbers as the model
    read them, before this person's correction, so a later resting face or answer refits from the model's own."""
    rec = st.session_state["session_recognizer"][2]  # the recogniser that made this reading
    probs = rec.uncorrect(as_vector(reading.probs)[None])[0]
    st.session_state["taught"] = remember(st.session_state.get("taught"), probs, choice)
    save("taught", st.session_state["taught"])
