"""Train the paper's CNNs from the browser, evaluate them, compare runs, promote the best to the default.

Training runs as a background `python -m fer.train` (see fer/runs.py): page reruns, page switches and
closed tabs neither stop nor duplicate it. Environment overrides (tests): see fer/files.py.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st
import torch

from fer import runs
from fer.emotions import EMOTIONS
from fer.evaluate import evaluate
from fer.files import SHARED_FER, model_path, runs_dir
from fer.model import ARCHS
from fer.train_config import TrainConfig

RUNS_DIR = runs_dir()
MODEL = model_path()


# ---------------------------------------------------------------- train

def choose_dataset() -> str | None:
    options = (["FER2013 from ../shared"] if SHARED_FER.exists() else []) + ["Upload", "Path on the server"]
    source = st.radio("Dataset", options, horizontal=True, key="dataset_source")
    if source == "Upload":
        up = st.file_uploader("FER2013 .csv / .csv.gz, or a Kaggle train/test .zip", type=["csv", "gz", "zip"])
        if up is None:
            return None
        try:
            return str(runs.save_upload(RUNS_DIR, up.name, up.getvalue()))
        except ValueError as e:
            st.error(str(e))
            return None
    if source == "Path on the server":
        path = st.text_input("Path", placeholder="/data/fer2013.csv")
        if path and not Path(path).exists():
            st.error(f"{path}: no such file or folder.")
            return None
        return path or None
    return str(SHARED_FER)


def train_form() -> None:
    data = choose_dataset()
    c1, c2, c3, c4, c5 = st.columns(5)
    arch = c1.selectbox("Architecture", list(ARCHS), format_func=lambda a: a.upper(), key="arch")
    epochs = c2.number_input("Epochs", 1, 500, 25, key="epochs")
    batch = c3.number_input("Batch size", 8, 1024, 128, step=8, key="batch_size")
    lr = c4.number_input("Peak learning rate", 0.0001, 1.0, 0.05, format="%.4f", key="lr")
    gpu = torch.cuda.is_available()
    device = c5.selectbox("Device", ["auto", "cpu", "cuda"] if gpu else ["auto", "cpu"], key="device",
                          help=None if gpu else "No CUDA GPU on this server.")
    name = st.text_input("Run name", value=f"{arch}-e{epochs}", key="run_name")
    dry = st.checkbox("Smoke test (--dry-run: 2 batches per epoch)", key="dry_run")
    if st.button("Start training", type="primary", disabled=data is None):
        try:
            runs.start(RUNS_DIR, name, TrainConfig(data, arch, int(epochs), int(batch), float(lr), device=device,
                                                   dry_run=dry))
        except (ValueError, RuntimeError) as e:
            st.error(str(e))


def curves(runs_: list[runs.Run], metric: str) -> pd.DataFrame:
    return pd.DataFrame({r.name: pd.Series([h[metric] for h in r.history], index=range(1, len(r.history) + 1))
                         for r in runs_ if r.history})


def run_panel(run: runs.Run) -> None:
    done = len(run.history)
    last = run.history[-1] if run.history else {}
    eta = run.eta_seconds()
    st.markdown(f"**{run.name}** · {run.config.get('arch', '?').upper()} · {run.status}")
    st.progress(done / run.epochs if run.epochs else 0.0,
                text=f"epoch {done} of {run.epochs}" + (f" · {last['images_per_s']:.0f} images/s" if last else "")
                + (f" · about {eta / 60:.0f} min left" if eta else ""))
    if run.error:
        st.error(f"Training failed: {run.error}")
    if run.history:
        c1, c2 = st.columns(2)
        c1.caption("Loss (train / validation)")
        c1.line_chart(pd.DataFrame({"train": [h["train_loss"] for h in run.history],
                                    "validation": [h["val_loss"] for h in run.history]},
                                   index=range(1, done + 1)), height=220)
        c2.caption("Accuracy (train / validation)")
        c2.line_chart(pd.DataFrame({"train": [h["train_acc"] for h in run.history],
                                    "validation": [h["val_acc"] for h in run.history]},
                                   index=range(1, done + 1)), height=220)
    with st.expander("Log", expanded=run.status == "failed"):
        st.code(run.log_tail() or "(empty)", language=None)
    if run.status == "running" and st.button("Stop", key=f"stop_{run.name}"):
        runs.stop(run)
        st.rerun()
    if run.status in ("stopped", "failed") and (run.path / "last.pt").exists() and \
            st.button("Resume", key=f"resume_{run.name}"):
        try:
            runs.resume(run)
        except (ValueError, RuntimeError) as e:
            st.error(str(e))
        st.rerun()


@st.fragment(run_every=2.0)
def live_runs() -> None:
    """Refreshes on its own, so curves grow while a training runs."""
    all_runs = runs.list_runs(RUNS_DIR)
    if not all_runs:
        st.info("No training runs yet.")
        return
    for run in [r for r in all_runs if r.status == "running"] or all_runs[:1]:
        run_panel(run)


# ---------------------------------------------------------------- evaluate / compare / promote

def model_choices() -> dict[str, Path]:
    choices = {"shipped default": MODEL} if MODEL.exists() else {}
    choices.update({f"run {r.name}": r.best_model for r in runs.list_runs(RUNS_DIR) if r.best_model.exists()})
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


def evaluate_view() -> None:
    choices = model_choices()
    if not choices:
        st.info("No model to evaluate yet.")
        return
    label = st.selectbox("Model", list(choices), key="eval_model")
    data = st.text_input("Dataset", value=str(SHARED_FER) if SHARED_FER.exists() else "", key="eval_data")
    split = st.selectbox("Split", ["PrivateTest", "PublicTest", "Test", "Training"], key="eval_split")
    if st.button("Evaluate", key="evaluate"):
        try:
            with st.spinner("Evaluating…"):
                st.session_state["evaluation"] = evaluate(choices[label], data, split, with_predictions=True)
        except ValueError as e:
            st.error(str(e))
            st.session_state.pop("evaluation", None)
    m = st.session_state.get("evaluation")
    if m:
        show_metrics(m)
    if label != "shipped default" and st.button("Use as default", key="promote",
                                                help="Copies this model and its ONNX export (what the main page runs) "
                                                     "to models/; the old one is kept as a backup."):
        try:
            backup = runs.promote(choices[label], MODEL)
            st.success(f"{label} is now the default model" + (f" (previous kept as {backup.name})." if backup else "."))
        except (ValueError, OSError) as e:
            st.error(f"Could not promote: {e}")


def show_metrics(m: dict) -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric("Accuracy", f"{m['accuracy']:.1%}")
    c2.metric("Macro F1", f"{m['macro_f1']:.3f}")
    c3.metric("Images", f"{m['n']:,}")
    st.dataframe(pd.DataFrame(m["per_class"]).T.style.format({"precision": "{:.3f}", "recall": "{:.3f}",
                                                               "f1": "{:.3f}", "support": "{:.0f}"}))
    c1, c2 = st.columns(2)
    c1.caption("Confusion matrix (counts)")
    c1.altair_chart(confusion_chart(m["confusion_matrix"], False), use_container_width=True)
    c2.caption("Confusion matrix (row-normalised)")
    c2.altair_chart(confusion_chart(m["confusion_matrix"], True), use_container_width=True)
    pred = m["probs"].argmax(1)
    wrong = [i for i in range(len(pred)) if pred[i] != m["labels"][i]][:24]
    if wrong:
        st.caption("Misclassified faces (true → predicted, confidence)")
        st.image([m["images"][i] for i in wrong], width=96,
                 caption=[f"{EMOTIONS[m['labels'][i]]} → {EMOTIONS[pred[i]]} {m['probs'][i].max():.0%}" for i in wrong])


def compare_view() -> None:
    all_runs = [r for r in runs.list_runs(RUNS_DIR) if r.history]
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


def main() -> None:
    st.set_page_config(page_title="Train & evaluate", page_icon="🧪", layout="wide")
    st.title("🧪 Train & evaluate")
    train_tab, eval_tab, compare_tab = st.tabs(["Train", "Evaluate", "Compare runs"])
    with train_tab:
        train_form()
        st.divider()
        live_runs()
    with eval_tab:
        evaluate_view()
    with compare_tab:
        compare_view()


main()
