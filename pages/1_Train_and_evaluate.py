"""Train the paper's CNNs from the browser, evaluate them, compare runs, promote the best to the default.

Training runs as a background `python -m fer.train` (see fer/training/runs.py): page reruns, page switches and
closed tabs neither stop nor duplicate it. Owner actions (train, upload, server paths, evaluate, promote,
restore, delete) need the owner (fer/server/access.py); visitors get read-only views. Environment overrides
(tests): see fer/files.py.
"""

from __future__ import annotations

import streamlit as st

from fer.files import ROOT
from ui.evaluation import compare_view, evaluate_view
from ui.training import access_panel, contributions_review, current_owner, live_runs, train_form


def main() -> None:
    st.set_page_config(page_title="Train & evaluate", page_icon="🧪", layout="wide")
    st.title("🧪 Train & evaluate")
    owner = current_owner()
    access_panel(owner)
    train_tab, eval_tab, compare_tab, card_tab = st.tabs(["Train", "Evaluate", "Compare runs", "Model card"])
    with train_tab:
        if owner is not None:
            train_form(owner)
            contributions_review(owner)
            st.divider()
        listed = live_runs(owner)  # the runs, read once for the whole page run
    with eval_tab:
        evaluate_view(owner, listed)
    with compare_tab:
        compare_view(listed)
    with card_tab:
        st.markdown((ROOT / "models" / "README.md").read_text())


main()
