"""Train the paper's CNNs from the browser, evaluate them, compare runs, promote the best to the default.

Training runs as a background `python -m fer.train` (see fer/training/runs.py): page reruns, page switches and
closed tabs neither stop nor duplicate it. Owner actions (train, upload, server paths, evaluate, promote,
restore, delete) need the owner (fer/server/access.py); visitors get read-only views. Environment overrides
(tests): see fer/files.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from fer.emotions import EMOTIONS
from fer.files import ROOT, SHARED_FER, model_path, runs_dir, write_text_atomic
from fer.server import access
from fer.server.jobs import Busy, flight
from fer.training import history, runs
from fer.training.config import TrainConfig
from fer.training.contributions import contributed_dir, pending, review
from fer.vision.images import MAX_UPLOAD_MB

RUNS_DIR = runs_dir()
MODEL = model_path()
REVIEW_PAGE = 24  # crops shown for review at once
ARCHS = ("cnn1", "cnn2", "cnn3", "vgg", "vgg-wide")  # fer.model.ARCHS, without importing torch for visitors
EVALUATIONS = RUNS_DIR / "evaluations"  # stored results, readable by visitors


# ---------------------------------------------------------------- who is this

def current_owner() -> access.Owner | None:
    return access.session_owner(st.session_state, access.load_config(st.secrets), access.account_id(st.user))


def access_panel(owner: access.Owner | None) -> None:
    """Says who the viewer is; offers the password form or the login to a visitor when configured."""
    config = access.load_config(st.secrets)
    if owner is not None:
        st.caption({"local": "You run this app on your own machine: you are its owner.",
                    "password": "Signed in as the owner (password).",
                    "login": "Signed in as an owner."}[owner.how])
        return
    st.info("You are a visitor: you can watch runs, curves, stored evaluations and the model card. "
            "Training, uploads, evaluations and changing the default model are the owner's.")
    if config is None:
        st.caption("This deploy is read-only for everybody. Its owner can enable owner access by adding "
                   "`[access] owner_password = \"…\"` to the app's secrets (see the README).")
        return
    if config.owner_password:
        gate, client = access.GATE, st.context.ip_address  # NOTE: one gate for every session on this server
        with st.form("owner_login", clear_on_submit=True):
            attempt = st.text_input("Owner password", type="password")
            if st.form_submit_button("Sign in as owner"):
                if wait := gate.locked_for(client):
                    st.error(f"Too many wrong passwords; try again in {max(wait / 60, 1):.0f} min.")
                elif gate.check(config, attempt, client):
                    st.session_state[access.OWNER_KEY] = "password"
                    st.rerun()
                else:
                    wait = gate.locked_for(client)
                    st.error(f"Wrong password. Too many tries: locked for {max(wait / 60, 1):.0f} min." if wait
                             else "Wrong password.")
    if config.owners and st.button("Log in"):
        st.login()


# ---------------------------------------------------------------- train

def choose_dataset(owner: access.Owner) -> str | None:
    options = (["FER2013 from ../shared"] if SHARED_FER.exists() else []) + ["Upload", "Path on the server"]
    source = st.radio("Dataset", options, horizontal=True, key="dataset_source")
    if source == "Upload":
        up = st.file_uploader("FER2013 .csv.gz or .csv, or a Kaggle train/test .zip", type=["csv", "gz", "zip"],
                              max_upload_size=MAX_UPLOAD_MB,
                              help=f"Up to {MAX_UPLOAD_MB} MB, the server's limit for any upload; for a bigger "
                                   "file (FER2013 as .csv.gz is 94 MB) choose \"Path on the server\".")
        if up is None:
            return None
        try:
            return str(runs.save_upload(owner, RUNS_DIR, up.name, up.getvalue()))
        except ValueError as e:
            st.error(str(e))
        except OSError as e:
            st.error(f"{up.name}: could not be stored ({e.strerror or type(e).__name__}).")
        return None
    if source == "Path on the server":
        text = st.text_input("Path", placeholder="/data/fer2013.csv.gz")
        if not text:
            return None
        try:
            return str(access.server_path(owner, text, access.load_config(st.secrets)))
        except ValueError as e:
            st.error(str(e))
            return None
    return str(SHARED_FER)


def train_form(owner: access.Owner) -> None:
    if not _has_torch():  # a lean deploy (requirements.txt) has none
        st.warning("Training needs PyTorch on this server: `pip install -r requirements-train.txt`.")
        return
    import torch

    data = choose_dataset(owner)
    c1, c2, c3, c4, c5 = st.columns(5)
    arch = c1.selectbox("Architecture", ARCHS, format_func=str.upper, key="arch", index=ARCHS.index("vgg"))
    epochs = c2.number_input("Epochs", 1, 500, 25, key="epochs")
    batch = c3.number_input("Batch size", 8, 1024, 128, step=8, key="batch_size")
    lr = c4.number_input("Peak learning rate", 0.0001, 1.0, 0.05, format="%.4f", key="lr")
    gpu = torch.cuda.is_available()
    device = c5.selectbox("Device", ["auto", "cpu", "cuda"] if gpu else ["auto", "cpu"], key="device",
                          help=None if gpu else "No CUDA GPU on this server.")
    c1, c2 = st.columns([1, 3])
    processes = c1.number_input("Processes", 1, 64, 1, key="processes",
                                help="More than 1: torchrun with DistributedDataParallel (one GPU each on a GPU "
                                     "server; the CPU cores shared on a CPU one). The batch size is the total.")
    dry = c2.checkbox("Smoke test (--dry-run: 2 batches per epoch)", key="dry_run")
    # NOTE: the suggestion is a placeholder, not the field's value: a value would stay as first drawn.
    suggested = f"{arch}-e{epochs}" + ("-smoke" if dry else "")
    name = st.text_input("Run name", placeholder=suggested, key="run_name",
                         help="Left empty: the suggestion shown, which follows the settings.") or suggested
    if st.button("Start training", type="primary", disabled=data is None):
        try:
            runs.start(owner, RUNS_DIR, name, TrainConfig(data, arch, int(epochs), int(batch), float(lr),
                                                          device=device, dry_run=dry), processes=int(processes))
        except (ValueError, RuntimeError, OSError) as e:
            st.error(str(e))


def contributions_review(owner: access.Owner) -> None:
    """Face crops visitors gave with their answers: training reads one only after the owner approves it."""
    root = contributed_dir(RUNS_DIR)
    waiting = pending(root)
    with st.expander(f"Given face crops waiting for review ({len(waiting)})"):
        st.caption(f"Approved crops join `{root / 'train'}`: train on them with `--extra-data {root}`.")
        for path, emotion in waiting[:REVIEW_PAGE]:
            c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
            c1.image(str(path), width=96)
            c2.write(f"labelled **{emotion}** by its giver")
            for column, label, approve in ((c3, "Approve", True), (c4, "Delete", False)):
                if column.button(label, key=f"review_{approve}_{path.stem}"):
                    try:
                        review(owner, root, path, approve)
                    except (ValueError, OSError) as e:
                        st.error(f"{path.name}: {e}")
                    st.rerun()
        if len(waiting) > REVIEW_PAGE:
            st.caption(f"… and {len(waiting) - REVIEW_PAGE} more after these.")


def curves(runs_: list[runs.Run], metric: str) -> pd.DataFrame:
    return pd.DataFrame({r.name: pd.Series([h[metric] for h in r.history], index=range(1, len(r.history) + 1))
                         for r in runs_ if r.history})


def run_panel(run: runs.Run, owner: access.Owner | None) -> None:
    done = len(run.history)
    last = run.history[-1] if run.history else {}
    eta = run.eta_seconds()
    st.markdown(f"**{run.name}** · {run.config.get('arch', '?').upper()} · {run.status}"
                + (" · smoke test (2 batches per epoch: its figures mean nothing)" if run.smoke else ""))
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
    if owner is not None:
        run_actions(run, owner)


def run_actions(run: runs.Run, owner: access.Owner) -> None:
    """Stop, resume, delete: the owner's buttons under a run."""
    try:
        if run.status == "running" and st.button("Stop", key=f"stop_{run.name}"):
            runs.stop(owner, run)
            st.rerun()
        c1, c2 = st.columns(2)
        if run.status in ("stopped", "failed") and (run.path / "last.pt").exists() and \
                c1.button("Resume", key=f"resume_{run.name}"):
            runs.resume(owner, run, processes=int(run.config.get("processes", 1)))
            st.rerun()
        if run.status != "running" and c2.button("Delete run", key=f"delete_{run.name}"):
            runs.delete(owner, run)
            st.rerun()
    except (ValueError, RuntimeError, OSError) as e:
        st.error(str(e))


@st.fragment(run_every=2.0)
def live_runs(owner: access.Owner | None) -> None:
    """Refreshes on its own, so curves grow while a training runs. Every running run is listed."""
    all_runs = runs.list_runs(RUNS_DIR)
    if not all_runs:
        st.info("No training runs yet.")
        return
    for run in [r for r in all_runs if r.status == "running"] or all_runs[:1]:
        run_panel(run, owner)


# ---------------------------------------------------------------- evaluate / compare / promote

def model_choices() -> dict[str, Path]:
    choices = {"shipped default": MODEL} if MODEL.exists() else {}
    choices.update({f"run {r.name}" + (" (smoke test)" if r.smoke else ""): r.best_model
                    for r in runs.list_runs(RUNS_DIR) if r.best_model.exists()})
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
    stored = EVALUATIONS / "robustness.json"
    if owner is not None and choices and st.button("Compute for the shipped default on PrivateTest (a few minutes)",
                                                   key="robustness", disabled=not SHARED_FER.exists()):
        from fer.training.evaluate import robustness

        try:
            with st.spinner("Scoring PrivateTest under 11 conditions…"):
                rows = flight("evaluate", "evaluation", cooldown_s=0).run_now(
                    lambda: robustness(MODEL, SHARED_FER, "PrivateTest"))
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


def evaluate_view(owner: access.Owner | None) -> None:
    choices = model_choices()
    torch_ok = owner is not None and _has_torch()
    if owner is not None and not torch_ok:
        st.warning("Evaluating and promoting need PyTorch on this server: `pip install -r requirements-train.txt`.")
    if torch_ok and choices:
        compute_evaluation(owner, choices)
    stored = sorted(EVALUATIONS.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True) \
        if EVALUATIONS.is_dir() else []
    if not stored and "evaluation" not in st.session_state:
        st.info("No evaluation results yet." if owner is None else "Evaluate a model to see its figures.")
    m = st.session_state.get("evaluation")
    if m:
        show_metrics(m)
    elif stored:
        label = st.selectbox("Stored result", [p.stem for p in stored], key="stored_eval")
        show_metrics(json.loads((EVALUATIONS / f"{label}.json").read_text()))
    if torch_ok and choices:
        promote_view(owner, choices)
    robustness_view(owner if torch_ok else None, choices)


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401 (the owner's actions need it; a lean deploy has none)
    except ImportError:
        return False
    return True


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
        write_text_atomic(EVALUATIONS / f"{label.replace(' ', '-')}-{split}.json", json.dumps({k: m[k] for k in keep}))
    except OSError as e:
        st.warning(f"Shown, but not stored for visitors ({e.strerror or type(e).__name__}).")


def promote_view(owner: access.Owner, choices: dict[str, Path]) -> None:
    """"Use as default" with the candidate's PublicTest figure against the default's; the model history."""
    label = st.session_state.get("eval_model")
    if label and label != "shipped default":
        try:
            candidate, current = runs.promotion_check(choices[label], MODEL)
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
                runs.promote(owner, choices[label], MODEL, allow_worse=worse)
                st.success(f"{label} is now the default model (the previous one is in the model history).")
            except (ValueError, OSError) as e:
                st.error(f"Could not promote: {e}")
    history_view(owner)


def history_view(owner: access.Owner) -> None:
    entries = history.entries(MODEL)
    if not entries:
        return
    with st.expander(f"Model history ({len(entries)} former defaults)"):
        for i, e in enumerate(reversed(entries)):
            c1, c2 = st.columns([4, 1])
            c1.caption(e.label)
            if c2.button("Restore", key=f"restore_{i}"):
                try:
                    runs.restore(owner, e, MODEL)
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


def compare_view() -> None:
    listed = [r for r in runs.list_runs(RUNS_DIR) if r.history]
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
        live_runs(owner)
    with eval_tab:
        evaluate_view(owner)
    with compare_tab:
        compare_view()
    with card_tab:
        st.markdown((ROOT / "models" / "README.md").read_text())


main()
