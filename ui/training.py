"""The training page's pieces: who is viewing, the training form, given face crops to review, and the runs.

Paths are read from the environment on every call (fer/files.py), not at import: this module outlives a page run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fer.files import SHARED_FER, runs_dir
from fer.server import access
from fer.training import runs
from fer.training.config import TrainConfig
from fer.training.contributions import contributed_dir, pending, review
from fer.vision.images import MAX_UPLOAD_MB
from ui import client

REVIEW_PAGE = 24  # crops shown for review at once
ARCHS = ("cnn1", "cnn2", "cnn3", "vgg", "vgg-wide")  # fer.model.ARCHS, without importing torch for visitors


def has_torch() -> bool:
    """Whether this server can train and evaluate (a lean deploy, requirements.txt, has no PyTorch)."""
    try:
        import torch  # noqa: F401 (the owner's actions need it; a lean deploy has none)
    except ImportError:
        return False
    return True


def current_owner() -> access.Owner | None:
    """The Owner of this browser session, or None for a visitor (fer/server/access.py decides)."""
    return access.session_owner(st.session_state, access.load_config(st.secrets), access.account_id(st.user),
                                client.connection())


def access_panel(owner: access.Owner | None) -> None:
    """Says who the viewer is; offers the password form or the login to a visitor when configured."""
    config = access.load_config(st.secrets)
    if owner is not None:
        st.caption({"local": "You opened this app on the machine that runs it: you are its owner.",
                    "password": "Signed in as the owner (password).",
                    "login": "Signed in as an owner."}[owner.how])
        return
    st.info("You are a visitor: you can watch runs, curves, stored evaluations and the model card. "
            "Training, uploads, evaluations and changing the default model are the owner's.")
    if config is None:
        st.caption("Owner sign-in is not set up on this server: its owner can enable it by adding "
                   "`[access] owner_password = \"…\"` to the app's secrets (then this machine's browser signs in "
                   "too; see .streamlit/DEPLOY.md).")
        return
    if config.owner_password:
        gate, address = access.GATE, st.context.ip_address  # NOTE: one gate for every session on this server
        with st.form("owner_login", clear_on_submit=True):
            attempt = st.text_input("Owner password", type="password")
            if st.form_submit_button("Sign in as owner"):
                if wait := gate.locked_for(address):
                    st.error(f"Too many wrong passwords; try again in {max(wait / 60, 1):.0f} min.")
                elif gate.check(config, attempt, address):
                    st.session_state[access.OWNER_KEY] = "password"
                    st.rerun()
                else:
                    wait = gate.locked_for(address)
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
            return str(runs.save_upload(owner, runs_dir(), up.name, up.getvalue()))
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
    if not has_torch():  # a lean deploy (requirements.txt) has none
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
            runs.start(owner, runs_dir(), name, TrainConfig(data, arch, int(epochs), int(batch), float(lr),
                                                          device=device, dry_run=dry), processes=int(processes))
        except (ValueError, RuntimeError, OSError) as e:
            st.error(str(e))


def contributions_review(owner: access.Owner) -> None:
    """Face crops visitors gave with their answers: training reads one only after the owner approves it."""
    root = contributed_dir(runs_dir())
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
def live_runs(owner: access.Owner | None) -> list[runs.Run]:
    """Refreshes on its own, so curves grow while a training runs. Every running run is listed. Returns the runs
    it read: in the page's own run it runs inline, and the rest of the page draws from the same listing."""
    all_runs = runs.list_runs(runs_dir())
    if not all_runs:
        st.info("No training runs yet.")
    for run in [r for r in all_runs if r.status == "running"] or all_runs[:1]:
        run_panel(run, owner)
    return all_runs
