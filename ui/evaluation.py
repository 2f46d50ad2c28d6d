"""The training page's evaluate, compare and promote views: stored results for everyone, computing and promoting
for the owner."""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from fer.emotions import EMOTIONS
from fer.files import SHARED_FER, model_path, runs_dir, write_text_atomic
from fer.server import access
from fer.server.jobs import Busy, flight
from fer.training import history, runs
from ui.training import curves, has_torch


def evaluations_dir() -> Path:
    """Stored evaluation results, readable by visitors."""
    return runs_dir() / "evaluations"


def model_choices(listed: list[runs.Run]) -> dict[str, Path]:
    """The models to evaluate or promote: the default and each listed run's best."""
    choices = {"shipped default": model_path()} if model_path().exists() else {}
    choices.update({f"run {r.name}" + (" (smoke test)" if r.smoke else ""): r.best_model
                    for r in listed if r.best_model.exists()})
    return choices


def confusion_chart(cm: list[list[int]], normalise: bool) -> alt.Chart:
    rows = []
    for i, true in enumerate(EMOTIONS):
        total = max(sum(cm[i]), 1)
        rows += [{"true": true, "predicted": p, "value": cm[i][j] / total if normalise else cm[i][j]}
                 for j, p in enumerate(EMOTIONS)]
    df = pd.DataFrame(rows)
    base = alt.Chart(df).encode(x=alt.X("predicted:N", sort=list(EMOTIONS)), y=alt.Y("true:N", sort=list(EMOTIONS)))
    fmt = ".0%" if normalise else "d"
    return (base.mark_rect().encode(color=alt.Color("value:Q", scale=alt.Scale(scheme="blues"), legend=None))
            + base.mark_text().encode(text=alt.Text("value:Q", format=fmt))).properties(height=320)


def reliability_chart(bins: list[dict]) -> alt.Chart:
    """Accuracy per confidence bin against the diagonal a perfectly calibrated model would follow."""
    df = pd.DataFrame(bins)
    bars = alt.Chart(df).mark_bar(opacity=0.7).encode(
        x=alt.X("low:Q", bin="binned", title="stated confidence", scale=alt.Scale(domain=[0, 1])), x2="high:Q",
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])), tooltip=["count:Q"])
    diagonal = alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]})).mark_line(strokeDash=[4, 4]).encode(x="x", y="y")
    return (bars + diagonal).properties(height=260)


def robustness_view(owner: access.Owner | None, choices: dict[str, Path]) -> None:
    """Accuracy under webcam conditions (`fer.evaluate --robustness`): stored for everyone, computed by the owner."""
    st.subheader("Robustness")
    stored = evaluations_dir() / "robustness.json"
    if owner is not None and choices and st.button("Compute for the shipped default on PrivateTest (a few minutes)",
                                                   key="robustness", disabled=not SHARED_FER.exists()):
        from fer.training.evaluate import robustness

        try:
            with st.spinner("Scoring PrivateTest under 11 conditions…"):
                rows = flight("evaluate", "evaluation", cooldown_s=0).run_now(
                    lambda: robustness(model_path(), SHARED_FER, "PrivateTest"))
            write_text_atomic(stored, json.dumps(rows))  # NOTE: visitors may be reading it right now
        except (ValueError, Busy) as e:
            st.error(str(e))
        except OSError as e:
            st.error(f"The result could not be stored ({e.strerror or type(e).__name__}).")
    if stored.is_file():
        df = pd.DataFrame(json.loads(stored.read_text()))
        st.dataframe(df.style.format({"accuracy": "{:.1%}", "drop": "{:+.1%}"}), hide_index=True)
    else:
        st.caption("Not computed on this server yet; the model card has the shipped model's table.")


def evaluate_view(owner: access.Owner | None, listed: list[runs.Run]) -> None:
    """Stored results for everyone; evaluating and promoting `listed` runs' models for the owner."""
    choices = model_choices(listed)
    torch_ok = owner is not None and has_torch()
    if owner is not None and not torch_ok:
        st.warning("Evaluating and promoting need PyTorch on this server: `pip install -r requirements-train.txt`.")
    if torch_ok and choices:
        compute_evaluation(owner, choices)
    stored = sorted(evaluations_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True) \
        if evaluations_dir().is_dir() else []
    if not stored and "evaluation" not in st.session_state:
        st.info("No evaluation results yet." if owner is None else "Evaluate a model to see its figures.")
    m = st.session_state.get("evaluation")
    if m:
        show_metrics(m)
    elif stored:
        label = st.selectbox("Stored result", [p.stem for p in stored], key="stored_eval")
        show_metrics(json.loads((evaluations_dir() / f"{label}.json").read_text()))
    if torch_ok and choices:
        promote_view(owner, choices)
    robustness_view(owner if torch_ok else None, choices)


def compute_evaluation(owner: access.Owner, choices: dict[str, Path]) -> None:
    """The owner runs an evaluation (one at a time per server); the figures are stored for visitors too."""
    label = st.selectbox("Model", list(choices), key="eval_model")
    data = st.text_input("Dataset", value=str(SHARED_FER) if SHARED_FER.exists() else "", key="eval_data")
    split = st.selectbox("Split", ["PrivateTest", "PublicTest", "Test", "Training"], key="eval_split")
    if not st.button("Evaluate", key="evaluate"):
        return
    from fer.training.evaluate import evaluate  # imports torch: the owner's action only

    try:
        path = access.server_path(owner, data, access.load_config(st.secrets)) if data != str(SHARED_FER) else data
        with st.spinner("Evaluating…"):
            m = flight("evaluate", "evaluation", cooldown_s=0).run_now(
                lambda: evaluate(choices[label], path, split, with_predictions=True))
    except (ValueError, Busy) as e:
        st.error(str(e))
        st.session_state.pop("evaluation", None)
        return
    except OSError as e:
        st.error(f"{data}: could not be read ({e.strerror or type(e).__name__}).")
        return
    st.session_state["evaluation"] = m
    keep = ("accuracy", "macro_f1", "per_class", "confusion_matrix", "classes", "split", "n", "arch")
    try:  # NOTE: atomic, as visitors may be reading the stored result right now
        write_text_atomic(evaluations_dir() / f"{label.replace(' ', '-')}-{split}.json",
                          json.dumps({k: m[k] for k in keep}))
    except OSError as e:
        st.warning(f"Shown, but not stored for visitors ({e.strerror or type(e).__name__}).")


def promote_view(owner: access.Owner, choices: dict[str, Path]) -> None:
    """"Use as default" with the candidate's PublicTest figure against the default's; the model history."""
    label = st.session_state.get("eval_model")
    if label and label != "shipped default":
        try:
            candidate, current = runs.promotion_check(choices[label], model_path())
        except ValueError as e:
            st.error(str(e))
            return
        fmt = lambda a: "unknown" if a is None else f"{a:.1%}"  # noqa: E731
        st.caption(f"PublicTest accuracy: {label} {fmt(candidate)} · current default {fmt(current)}")
        worse = candidate is None or (current is not None and candidate < current)
        confirmed = not worse or st.checkbox("It is not better on PublicTest: promote it anyway", key="confirm_worse")
        if st.button("Use as default", key="promote", disabled=not confirmed,
                     help="Copies this model and its ONNX export (what the main page runs) to models/; "
                          "the old one goes to the model history."):
            try:
                runs.promote(owner, choices[label], model_path(), allow_worse=worse)
                st.success(f"{label} is now the default model (the previous one is in the model history).")
            except (ValueError, OSError) as e:
                st.error(f"Could not promote: {e}")
    history_view(owner)


def history_view(owner: access.Owner) -> None:
    entries = history.entries(model_path())
    if not entries:
        return
    with st.expander(f"Model history ({len(entries)} former defaults)"):
        for i, e in enumerate(reversed(entries)):
            c1, c2 = st.columns([4, 1])
            c1.caption(e.label)
            if c2.button("Restore", key=f"restore_{i}"):
                try:
                    runs.restore(owner, e, model_path())
                    st.success("Restored; the model it replaced is in the history.")
                except (ValueError, OSError) as err:
                    st.error(f"Could not restore: {err}")


def show_metrics(m: dict) -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric("Accuracy", f"{m['accuracy']:.1%}")
    c2.metric("Macro F1", f"{m['macro_f1']:.3f}")
    c3.metric("Images", f"{m['n']:,}")
    st.dataframe(pd.DataFrame(m["per_class"]).T.style.format({"precision": "{:.3f}", "recall": "{:.3f}",
                                                               "f1": "{:.3f}", "support": "{:.0f}"}))
    if "reliability" in m:
        st.caption(f"Reliability: stated confidence against accuracy · ECE {m['ece']:.3f} (15 bins) · "
                   f"NLL {m['nll']:.3f}")
        st.altair_chart(reliability_chart(m["reliability"]), width="stretch")
    c1, c2 = st.columns(2)
    c1.caption("Confusion matrix (counts)")
    c1.altair_chart(confusion_chart(m["confusion_matrix"], False), width="stretch")
    c2.caption("Confusion matrix (row-normalised)")
    c2.altair_chart(confusion_chart(m["confusion_matrix"], True), width="stretch")
    if "probs" not in m:
        return
    pred = m["probs"].argmax(1)
    wrong = [i for i in range(len(pred)) if pred[i] != m["labels"][i]][:24]
    if wrong:
        st.caption("Misclassified faces (true → predicted, confidence)")
        st.image([m["images"][i] for i in wrong], width=96,
                 caption=[f"{EMOTIONS[m['labels'][i]]} → {EMOTIONS[pred[i]]} {m['probs'][i].max():.0%}" for i in wrong])


def compare_view(listed: list[runs.Run]) -> None:
    """The listed runs' best validation accuracy and curves side by side (smoke tests left out)."""
    listed = [r for r in listed if r.history]
    all_runs = [r for r in listed if not r.smoke]
    if len(listed) > len(all_runs):
        st.caption(f"{len(listed) - len(all_runs)} smoke test(s) not compared: 2 batches per epoch say nothing "
                   "about accuracy.")
    if not all_runs:
        st.info("No runs to compare yet.")
        return
    table = pd.DataFrame([{"method": f"Cascade classifier + {r.config.get('arch', '?').upper()}", "run": r.name,
                           "epochs": f"{len(r.history)}/{r.epochs}", "best validation accuracy": max(
                               h["val_acc"] for h in r.history), "images/s": r.history[-1]["images_per_s"],
                           "status": r.status} for r in all_runs])
    st.dataframe(table.style.format({"best validation accuracy": "{:.1%}", "images/s": "{:.0f}"}), hide_index=True)
    st.caption("Validation accuracy by epoch")
    st.line_chart(curves(all_runs, "val_acc"), height=280)
