"""What a training image is taught: the validation split, and soft targets from FER+ votes or a teacher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fer.emotions import EMOTIONS
from fer.files import atomic_write
from fer.model import load_checkpoint
from fer.training import distributed
from fer.training.archives import load_extra, real_training_faces
from fer.training.config import TrainConfig
from fer.training.data import check_trainable, vote_distributions
from fer.training.teacher import sharpen

VAL_FRACTION = 0.1  # of Training, when the dataset has no PublicTest split


def split_data(ds, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(indices of the training images in ds, val images, val labels, val name): a leak- and blank-free training set.

    Validation is PublicTest, or a seeded VAL_FRACTION of Training when there is none.
    """
    check_trainable(ds)
    train_idx = np.flatnonzero(ds.splits == "Training")
    if "PublicTest" in ds.split_names:
        val_x, val_y = ds.split("PublicTest")
        val_name = "PublicTest"
    else:
        order = np.random.default_rng(seed).permutation(len(train_idx))
        n_val = max(1, int(len(order) * VAL_FRACTION))
        val_idx, train_idx = train_idx[order[:n_val]], train_idx[order[n_val:]]
        val_x, val_y, val_name = ds.images[val_idx], ds.labels[val_idx], f"{VAL_FRACTION:.0%} of Training"
    # FER2013 has 12 blank images and ~570 test images with pixel-identical copies in Training.
    # Train on neither: blanks teach nothing, and copies would inflate every test figure.
    held_out = {x.tobytes() for x in ds.images[ds.splits != "Training"]}
    keep = np.array([x.max() > x.min() and x.tobytes() not in held_out for x in ds.images[train_idx]], dtype=bool)
    if not keep.any():
        raise ValueError(f"{ds.source}: no usable training images (all blank or duplicated in a test split).")
    return train_idx[keep], val_x, val_y, val_name


def soft_targets(cfg: TrainConfig, ds, train_idx: np.ndarray) -> np.ndarray | None:
    """Per-image target distributions (N, 7) for the training images, or None for plain labels.

    (1 - a - b) * the FER2013 label + a * the FER+ annotators' vote distribution (cfg.ferplus_soft)
    + b * a teacher's probabilities at temperature cfg.distill_t (cfg.distill, from cfg.teacher). Several
    comma-separated checkpoints teach as one ensemble: the mean of their (calibrated) probabilities. An online
    teacher (cfg.distill_online) adds its b share per batch in `train_epoch`: these targets then sum to 1 - b.
    """
    a = cfg.ferplus_soft if cfg.ferplus_votes else 0.0
    b = cfg.distill if cfg.teacher else 0.0
    if not (a or b):
        return None
    labels = ds.labels[train_idx]
    target = np.eye(len(EMOTIONS), dtype=np.float32)[labels] * (1 - a - b)
    if a:
        target += a * vote_distributions(ds, cfg.ferplus_votes)[train_idx]
    if b and not cfg.distill_online:
        from fer.model import predict_proba

        faces = ds.images[train_idx]
        p = np.mean([predict_proba(*load_checkpoint(path), faces) for path in cfg.teacher.split(",")], 0)
        target += b * sharpen(p.astype(np.float64), cfg.distill_t).astype(np.float32)
    return target


def label_weight(cfg: TrainConfig) -> float:
    """The share of a target the labels keep before an online teacher adds its own (1 without one)."""
    return 1 - cfg.distill if cfg.teacher and cfg.distill_online else 1.0


def run_targets(cfg: TrainConfig, ds, train_idx: np.ndarray, out: Path, resuming: bool,
                d: distributed.Dist) -> np.ndarray | None:
    """`soft_targets`, made once per run and kept in OUT/targets.npy: a resumed run reads them back, so it needs
    neither its teacher checkpoints nor the votes file again (and cannot be taught by a changed teacher). An online
    teacher is needed again on resume; `Teacher` checks it is the same."""
    path = out / "targets.npy"
    if resuming and path.is_file():
        targets = np.load(path)
        if targets.shape != (len(train_idx), len(EMOTIONS)):
            raise ValueError(f"{path}: made for {len(targets)} training images, the data now has {len(train_idx)}.")
        return targets
    targets = soft_targets(cfg, ds, train_idx)
    if targets is not None and d.main:
        with atomic_write(path) as f:
            np.save(f, targets)
    return targets


def with_added_faces(cfg: TrainConfig, x: np.ndarray, y: np.ndarray, targets: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Training with the faces people gave with their answer (--extra-data, fer/training/contributions.py) and the
    real faces (--real-faces, `real_repeats` times each; without the --real-fold people): training only, taught
    their label (its `label_weight` share beside an online teacher)."""
    xs, ys = [x], [y]
    if cfg.extra_data:
        extra = load_extra(cfg.extra_data)
        xs.append(extra.images), ys.append(extra.labels)
    if cfg.real_faces:
        real = real_training_faces(cfg.real_faces, cfg.real_folds, cfg.real_fold)
        repeats = real_repeats(real.labels, cfg.real_weight, cfg.real_balance)
        # Copy after copy of the set (not each face n times in a row), as earlier runs were trained.
        order = np.concatenate([np.flatnonzero(repeats > r) for r in range(int(repeats.max(initial=0)))])
        xs.append(real.images[order]), ys.append(real.labels[order])
    # One concatenation: adding copies one at a time would copy the whole training set once per copy.
    added = np.concatenate(ys[1:]) if len(ys) > 1 else y[:0]
    if targets is not None:
        targets = np.concatenate([targets, label_weight(cfg) * np.eye(len(EMOTIONS), dtype=np.float32)[added]])
    return np.concatenate(xs), np.concatenate(ys), targets


def real_repeats(labels: np.ndarray, weight: int, balance: bool) -> np.ndarray:
    """How many times each real face is added: `weight` each, or (balance) weight x the mean class count / its
    class's count, rounded and at least once, so each class adds about as many faces as the mean class."""
    if not balance:
        return np.full(len(labels), weight, np.int64)
    counts = np.bincount(labels, minlength=len(EMOTIONS))
    mean = counts[counts > 0].mean()
    return np.maximum(1, np.rint(weight * mean / counts[labels])).astype(np.int64)


def class_log_prior(taught: torch.Tensor) -> torch.Tensor:
    """log of each class's share of what Training teaches (labels, or target distributions summed): the logit
    adjustment's offsets. A class never taught gets the smallest share instead of log 0."""
    counts = (torch.bincount(taught, minlength=len(EMOTIONS)).double() if taught.ndim == 1
              else taught.double().sum(0))
    share = counts / counts.sum()
    return share.clamp_min(share[share > 0].min()).log().float()
