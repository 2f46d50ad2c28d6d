"""Train an emotion CNN on FER2013.

    python -m fer.train --data ../shared/datasets/fer2013.csv.gz --arch vgg --epochs 30 --out runs/vgg
    torchrun --standalone --nproc_per_node=2 -m fer.train ... (several processes: see fer/distributed.py)

Writes runs/NAME/: config.json, history.jsonl (one line per epoch), last.pt (resumable), best.pt
(best validation accuracy), targets.npy (the soft targets, when the run has a teacher or FER+ votes),
train.log is whatever the caller redirects stdout to. Validation is PublicTest, or a seeded 10 % of
Training for folder datasets; PrivateTest is never looked at here.

Stochastic weight averaging (--swa-start K): after K epochs of the one-cycle schedule the learning rate stays
at --swa-lr and the weights are averaged after each epoch (Izmailov et al. 2018); the average, with its
BatchNorm statistics measured again on training batches, is what is validated and kept as best.pt. With
--init CKPT and --swa-start 0 this fine-tunes a trained model into an average of its neighbours.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fer import distributed
from fer.align import align_dataset
from fer.data import check_trainable, load_dataset, load_extra, vote_distributions
from fer.emotions import EMOTIONS
from fer.files import atomic_write, write_text_atomic
from fer.locks import hold_for_trainer
from fer.model import ARCHS, DEFAULT_INPUT_SIZE, InferenceNet, build_model, load_checkpoint, save_checkpoint
from fer.teacher import Teacher, sharpen
from fer.train_config import TrainConfig

VAL_FRACTION = 0.1  # of Training, when the dataset has no PublicTest split


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig | None, argparse.Namespace]:
    """(config, run options). With --resume the config is None: it is read back from the run's last.pt (and
    --epochs, if given, extends a weight-averaging run: see `extended`)."""
    d = TrainConfig(data="")
    p = argparse.ArgumentParser(description="Train an emotion CNN on FER2013.")
    p.add_argument("--data", help="fer2013.csv[.gz], a Kaggle train/test folder, or its .zip (not with --resume)")
    p.add_argument("--arch", default=d.arch, choices=list(ARCHS))
    p.add_argument("--epochs", type=int, default=None, help=f"(default {d.epochs}; with --resume: extend an SWA run)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--input-size", type=int, default=None, help="crop side fed to the net (default per arch)")
    p.add_argument("--ferplus", default=None, help="fer2013new.csv: train on FER+ majority labels")
    p.add_argument("--ferplus-votes", default=None, help="fer2013new.csv: blend its votes into the targets")
    p.add_argument("--ferplus-soft", type=float, default=d.ferplus_soft, help="weight of the FER+ votes in the target")
    p.add_argument("--extra-data", default=None, help="a folder of train/<emotion>/*.png added to Training")
    p.add_argument("--teacher", default=None,
                   help="checkpoint(s), comma-separated, whose mean probabilities are blended into the targets "
                        "(with --resume: where an online run's teachers are now; their bytes are checked)")
    p.add_argument("--distill", type=float, default=d.distill, help="weight of the teacher in the target")
    p.add_argument("--distill-t", type=float, default=d.distill_t, help="temperature of the teacher's probabilities")
    p.add_argument("--distill-online", action="store_true",
                   help="the teacher reads each augmented batch as the student sees it (fer/teacher.py), not the "
                        "clean faces once; slower, and a resume needs the teacher files again")
    p.add_argument("--mixup", type=float, default=d.mixup,
                   help="mix each training view with another, weight ~ Beta(A, A) (0: off); with --distill-online "
                        "the teacher reads the mixed view (function matching)")
    p.add_argument("--sam", type=float, default=d.sam,
                   help="sharpness-aware minimisation: each step's gradient is taken at the worst weights within "
                        "this distance (0: off; 0.05 is usual); every step then costs two passes")
    p.add_argument("--webcam-aug", type=float, default=d.webcam_aug,
                   help="chance per image of each webcam condition (blur, low light, noise, an occluding patch)")
    p.add_argument("--align", action="store_true",
                   help="train on faces aligned by their eyes (fer/align.py); the app then aligns the faces it reads")
    p.add_argument("--init", default=None, help="a checkpoint of the same net to start from (fine-tuning)")
    p.add_argument("--swa-start", type=int, default=None,
                   help="average the weights after each epoch from this one on, at the constant --swa-lr")
    p.add_argument("--swa-lr", type=float, default=d.swa_lr, help="the learning rate of the averaged epochs")
    p.add_argument("--bf16", action="store_true",
                   help="train in bfloat16 autocast: 1.74x the images/s of VGG on a CPU with AVX512-BF16; measure "
                        "other machines with python -m benchmarks.train_throughput --bf16")
    p.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--dry-run", action="store_true", help="2 batches per epoch, small validation: a smoke test")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt with its own settings")
    p.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // int(os.environ.get(
        "LOCAL_WORLD_SIZE", "1"))), help="CPU threads for torch (default: the cores, shared by torchrun's processes)")
    p.add_argument("--epochs-now", type=int, help="stop after this many epochs in this call (resume later)")
    a = p.parse_args(argv)
    if a.resume:
        return None, a  # --teacher, if given, names a resumed online run's teachers where they are now (`train`)
    a.epochs = d.epochs if a.epochs is None else a.epochs
    if not a.data:
        p.error("--data is required (unless --resume).")
    if a.swa_start is not None and not 0 <= a.swa_start < a.epochs:
        p.error("--swa-start must be at least 0 and below --epochs.")
    return TrainConfig.from_dict({k: v for k, v in vars(a).items()}), a


def lr_at(step: int, total: int, peak: float) -> float:
    """One-cycle: linear warm-up over the first 15 % from peak/25, then cosine down to ~0.

    A pure function of the step, so a resumed run follows exactly the same schedule.
    """
    warm = max(1, int(0.15 * total))
    if step < warm:
        return peak / 25 + (peak - peak / 25) * step / warm
    t = (step - warm) / max(1, total - warm)
    return peak * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))) + peak * 1e-4


def lr_for(cfg: TrainConfig, epoch: int, step: int, steps: int) -> float:
    """The rate of a step: one-cycle over the epochs before averaging starts (all of them without SWA), then
    SWA's constant rate."""
    if cfg.swa_start is not None and epoch >= cfg.swa_start:
        return cfg.swa_lr
    cycle = cfg.epochs if cfg.swa_start is None else cfg.swa_start
    return lr_at(epoch * steps + step, steps * cycle, cfg.lr)


def augment(batch: torch.Tensor, size: int, gen: torch.Generator, webcam: float = 0.0) -> torch.Tensor:
    """Random affine (rotate ±10°, scale ±15 %, shift ±4 px, mirror) + brightness/contrast, whole batch at once;
    with `webcam` > 0, also each of the conditions the robustness report found costly, each on that share of
    the images (see `webcam_conditions`).

    batch: uint8 (B, 48, 48) -> float (B, 1, size, size) in [0, 1], cropped like `preprocess` at scale 1.
    """
    b, side = batch.shape[0], batch.shape[-1]
    r = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    angle = (r(b) * 2 - 1) * math.radians(10)
    scale = (size / side) * (1 + (r(b) * 2 - 1) * 0.15)
    flip = torch.where(r(b) < 0.5, -1.0, 1.0)
    shift = (r(b, 2) * 2 - 1) * (4 / side) * 2  # grid units: 2 per image side
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    x = batch.float().unsqueeze(1) / 255.0
    grid = F.affine_grid(theta, (b, 1, size, size), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = 1 + (r(b, 1, 1, 1) * 2 - 1) * 0.3
    bright = (r(b, 1, 1, 1) * 2 - 1) * 0.1
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean + bright).clamp(0, 1)
    return webcam_conditions(x, webcam, gen) if webcam > 0 else x


def webcam_conditions(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Each on a random share p of the images: Gaussian blur (σ 0.5-1.5 px), low light (×0.3-0.8), sensor
    noise (σ 1-5 % of full scale) and one grey patch hiding 10-25 % of the face at a random place (random
    erasing, not the report's eye or mouth bars). JPEG artefacts are left out: no batch op makes them."""
    b, _, h, w = x.shape
    r = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    pick = lambda: (r(b, 1, 1, 1) < p).float()  # noqa: E731
    sigma = 0.5 + r(1).item()
    k = torch.exp(-(torch.arange(5) - 2.0) ** 2 / (2 * sigma ** 2))
    k = (k / k.sum()).to(x.dtype)
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), (k[:, None] * k[None, :])[None, None])
    on = pick()
    x = on * blurred + (1 - on) * x
    x = x * (1 - pick() * (1 - (0.3 + 0.5 * r(b, 1, 1, 1))))
    x = x + pick() * (0.01 + 0.04 * r(b, 1, 1, 1)) * torch.randn(x.shape, generator=gen)
    area = 0.10 + 0.15 * r(b)
    aspect = torch.exp((r(b) * 2 - 1) * math.log(2))
    ph = (torch.sqrt(area * aspect) * h).clamp(2, h).long()
    pw = (torch.sqrt(area / aspect) * w).clamp(2, w).long()
    top = (r(b) * (h - ph + 1)).long()
    left = (r(b) * (w - pw + 1)).long()
    rows, cols = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    patch = ((rows >= top[:, None, None]) & (rows < (top + ph)[:, None, None]) & (cols >= left[:, None, None])
             & (cols < (left + pw)[:, None, None]))[:, None].float() * pick()
    x = patch * r(b, 1, 1, 1) + (1 - patch) * x
    return x.clamp(0, 1)


def mixup(view: torch.Tensor, y: torch.Tensor, alpha: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each view blended with another of the batch, λ x + (1 − λ) x_j, λ ~ Beta(alpha, alpha) per image, and its
    target alike (Zhang et al. 2018, "mixup"); labels come back as distributions. With an online teacher, which then
    reads the mixed views, this is Beyer et al.'s "function matching": the student learns the teacher's function
    on a wider support than the training faces. λ is drawn from `gen`, so a resumed run mixes as the original did."""
    n = len(view)
    partner = torch.randperm(n, generator=gen)
    rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen)))
    lam = torch.from_numpy(rng.beta(alpha, alpha, n).astype(np.float32))
    if y.ndim == 1:
        y = F.one_hot(y, len(EMOTIONS)).float()
    mixed = lam[:, None, None, None] * view + (1 - lam[:, None, None, None]) * view[partner]
    return mixed, lam[:, None] * y + (1 - lam[:, None]) * y[partner]


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


def init_weights(model: torch.nn.Module, cfg: TrainConfig) -> None:
    """Start from cfg.init's weights: the same net at the same input size, or a clear error."""
    source, meta = load_checkpoint(cfg.init)
    if (meta["arch"], meta["input_size"]) != (cfg.arch, cfg.input_size):
        raise ValueError(f"{cfg.init}: a {meta['arch']} net at input {meta['input_size']}, but this run trains "
                         f"{cfg.arch} at {cfg.input_size}.")
    model.load_state_dict(source.state_dict())


def swa_batches(tx: torch.Tensor, cfg: TrainConfig, meta: dict, device, n: int = 64):
    """n augmented training batches, the same every time: what the average's BatchNorm statistics are measured on
    (its running statistics are not an average of the members'). 64 × 128 faces settle them well."""
    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(tx), generator=gen)[:n * cfg.batch_size]
    for i in range(0, len(order) - 1, cfg.batch_size):  # no batch of one: BatchNorm1d cannot measure it
        xb = (augment(tx[order[i:i + cfg.batch_size]], meta["input_size"], gen, cfg.webcam_aug) - meta["mean"])
        yield (xb / meta["std"]).to(device, memory_format=torch.channels_last)


@torch.inference_mode()
def validate(model, x: torch.Tensor, y: torch.Tensor, meta: dict, device) -> tuple[float, float]:
    """(mean negative log-likelihood, accuracy) on uint8 faces, of what the app runs (`InferenceNet`: mirrored too)."""
    model.eval()
    net = InferenceNet(model, meta).to(device)
    nll, correct = 0.0, 0
    for i in range(0, len(y), 512):
        probs = net(x[i:i + 512].to(device))
        yb = y[i:i + 512].to(device)
        nll -= probs.gather(1, yb[:, None]).clamp_min(1e-12).log().sum().item()
        correct += (probs.argmax(1) == yb).sum().item()
    return nll / len(y), correct / len(y)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA GPU is available.")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def resume_state(out: Path) -> tuple[TrainConfig, dict]:
    """(the run's own config, its last.pt): a resume continues exactly the same run."""
    last = out / "last.pt"
    if not last.is_file():
        raise ValueError(f"{last}: nothing to resume.")
    state = torch.load(last, map_location="cpu", weights_only=True)
    return TrainConfig.from_dict(state["config"]), state


def extended(cfg: TrainConfig, state: dict, epochs: int) -> TrainConfig:
    """The run's config with more epochs. Only for a run in its averaging phase: its rate is constant from there
    on, so more epochs are the same run, longer; a one-cycle schedule would become another schedule."""
    if cfg.swa_start is None or state["epoch"] < cfg.swa_start:
        raise ValueError("only a run that has reached its weight-averaging epochs (--swa-start) can be extended: "
                         "a one-cycle schedule would change under it.")
    if epochs <= cfg.epochs:
        raise ValueError(f"--epochs {epochs}: the run already has {cfg.epochs} epochs.")
    return replace(cfg, epochs=epochs)


def training_logits(model, x: torch.Tensor, bf16: bool) -> torch.Tensor:
    """The net's float32 logits; with bf16 its convolutions and linear layers run in bfloat16 autocast (the weights
    stay float32). The loss is taken in float32: log-softmax of bfloat16 logits loses the small ones."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        return model(x).float()


def batch_loss(model, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The net's logits on a batch and their loss against labels or target distributions."""
    logits = training_logits(model, xb, cfg.bf16)
    return logits, F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)


def sharpness_aware_gradient(model, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig) -> None:
    """Sharpness-aware minimisation (Foret et al. 2021): `.grad` (of the loss at the weights) is replaced by the
    gradient at the weights moved `cfg.sam` along it, the worst point of that neighbourhood to first order, so that
    steps head for flat minima (which generalise better, and resist noisy labels). The weights are put back
    exactly; BatchNorm's running statistics are not updated by the second pass (the batch was counted once)."""
    params = [p for p in model.parameters() if p.grad is not None]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        weights = [p.clone() for p in params]
        counted = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        for p in params:
            p.add_(p.grad, alpha=cfg.sam / (norm.item() + 1e-12))
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        model.zero_grad(set_to_none=True)
        batch_loss(model, xb, yb, cfg)[1].backward()
    finally:
        with torch.no_grad():
            for p, before in zip(params, weights):
                p.copy_(before)  # a copy, not a subtraction: exactly the weights of before
            for m, (momentum, tracked) in zip(norms, counted):
                m.momentum = momentum
                m.num_batches_tracked.copy_(tracked)


def train_epoch(model, opt, cfg: TrainConfig, tx, ty, epoch: int, steps: int, meta: dict, device,
                d: distributed.Dist = distributed.ALONE, teacher: Teacher | None = None) -> dict:
    """One pass of shuffled, augmented batches; returns the epoch's training figures (summed over processes).

    With an online teacher each batch's targets get its share (cfg.distill) of the teacher's reading of that batch
    (after `mixup`, when the run mixes).
    """
    model.train()
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)  # per-epoch stream: resumable
    if d.world == 1:
        order, batch = torch.randperm(len(ty), generator=gen), cfg.batch_size
    else:  # this process's share; its own augmentation stream
        order, batch = distributed.shard(len(ty), d, cfg.seed, epoch), max(2, cfg.batch_size // d.world)
        gen.manual_seed(cfg.seed * 1000 + epoch + 100_003 * d.rank)
    t0, seen, loss_sum, correct, lr = time.time(), 0, 0.0, 0, cfg.lr
    for step in range(steps):
        idx = order[step * batch:(step + 1) * batch]
        if len(idx) < 2:  # BatchNorm needs two samples
            if d.world == 1:
                continue
            idx = order[:2]  # NOTE: every process must step together (DDP's all-reduce), even on a short tail
        view, yb = augment(tx[idx], meta["input_size"], gen, cfg.webcam_aug), ty[idx]
        if cfg.mixup:
            view, yb = mixup(view, yb, cfg.mixup, gen)
        xb = ((view - meta["mean"]) / meta["std"]).to(device, memory_format=torch.channels_last)
        yb = yb.to(device)
        if teacher is not None:
            yb = yb + cfg.distill * teacher.probs(view, cfg.distill_t).to(device)
        lr = lr_for(cfg, epoch, step, steps)
        for g in opt.param_groups:
            g["lr"] = lr
        logits, loss = batch_loss(model, xb, yb, cfg)  # yb: labels or distributions
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.sam:
            sharpness_aware_gradient(model, xb, yb, cfg)
        opt.step()
        seen += len(idx)
        loss_sum += loss.item() * len(idx)
        correct += (logits.argmax(1) == (yb if yb.ndim == 1 else yb.argmax(1))).sum().item()
    seconds = time.time() - t0
    loss_sum, correct, seen = distributed.total([loss_sum, correct, seen], d, device)
    return {"train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1), "lr": lr,
            "images_per_s": round(seen / max(seconds, 1e-9), 1)}


def train(cfg: TrainConfig | None, out: Path, threads: int = 1, epochs_now: int | None = None,
          extend_to: int | None = None, teacher_now: str | None = None) -> dict:
    """Train (or, with cfg None, resume) the run in `out`; returns {"best_val_acc": ...}.

    Under torchrun each process runs this; rank 0 alone validates and writes (fer/distributed.py).
    epochs_now: stop after this many epochs in this call (the run stays resumable).
    extend_to: on resume, the run's new number of epochs (`extended`).
    teacher_now: on resume, where an online run's teachers are now (the same files, checked: `Teacher`).
    """
    state = None
    if cfg is None:
        cfg, state = resume_state(out)
        if extend_to is not None:
            cfg = extended(cfg, state, extend_to)
        if teacher_now is not None:
            if not (cfg.teacher and cfg.distill_online):
                raise ValueError("--teacher on resume is only for a run taught online (--distill-online).")
            cfg = replace(cfg, teacher=teacher_now)
    d, device = distributed.setup(pick_device(cfg.device))
    try:
        return _train(cfg, state, out, threads, epochs_now, d, device)
    finally:
        distributed.finish(d)


def _train(cfg: TrainConfig, state: dict | None, out: Path, threads: int, epochs_now: int | None,
           d: distributed.Dist, device: torch.device) -> dict:
    torch.set_num_threads(max(1, threads))
    torch.manual_seed(cfg.seed)
    say = print if d.main else (lambda *a, **k: None)

    ds = load_dataset(cfg.data, ferplus=cfg.ferplus)
    if cfg.align:
        ds = align_dataset(ds)
    train_idx, val_x, val_y, val_name = split_data(ds, cfg.seed)
    train_x, train_y = ds.images[train_idx], ds.labels[train_idx]
    targets = run_targets(cfg, ds, train_idx, out, state is not None, d)
    if cfg.extra_data:  # faces people gave with their answer (fer/contributions.py): training only
        extra = load_extra(cfg.extra_data)
        train_x, train_y = np.concatenate([train_x, extra.images]), np.concatenate([train_y, extra.labels])
        if targets is not None:
            targets = np.concatenate([targets, label_weight(cfg) * np.eye(len(EMOTIONS), dtype=np.float32)[
                extra.labels]])
    if cfg.dry_run:
        val_x, val_y = val_x[:256], val_y[:256]
    cfg.input_size = cfg.input_size or DEFAULT_INPUT_SIZE[cfg.arch]
    meta = {"arch": cfg.arch, "input_size": cfg.input_size, "image_size": int(train_x.shape[-1]),
            "mean": float(train_x.mean() / 255.0), "std": float(train_x.std() / 255.0), "config": cfg.to_dict()}

    model = build_model(cfg.arch, cfg.input_size).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    steps = 2 if cfg.dry_run else math.ceil(len(train_y) / cfg.batch_size)
    start_epoch, best_acc, history = 0, -1.0, []
    if state is not None:
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start_epoch, best_acc = state["epoch"], state["best_val_acc"]
        history = saved_history(state, out)
    elif cfg.init:
        init_weights(model, cfg)
    # The running average of the weights (SWA), kept by the process that validates.
    swa = torch.optim.swa_utils.AveragedModel(model) if cfg.swa_start is not None and d.main else None
    if swa is not None and state is not None and "swa" in state:
        swa.load_state_dict(state["swa"])
    # config.json tells the training page what the run is and how long: written at the start, and again when a
    # resume extends it (`extended`).
    if d.main and (state is None or cfg.epochs != state["config"]["epochs"]):
        write_text_atomic(out / "config.json", json.dumps({**cfg.to_dict(), "device": str(device),
                                                           "validation": val_name, "n_train": len(train_y),
                                                           "n_val": len(val_y), "processes": d.world}, indent=2))
    if d.main:
        write_history(out, history)
    step_model = distributed.wrap(model, d, device)  # after loading: DDP broadcasts rank 0's weights
    teacher = Teacher(cfg.teacher, cfg.input_size, device, cfg.bf16, (state or {}).get("teacher_sha256")) \
        if cfg.teacher and cfg.distill_online else None

    tx, ty = torch.from_numpy(train_x), torch.from_numpy(train_y if targets is None else targets)
    vx, vy = torch.from_numpy(val_x), torch.from_numpy(val_y)
    say(f"train {len(ty)} images, validate on {val_name} ({len(vy)}), {cfg.arch} input {cfg.input_size}, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, device {device}"
        f"{f', {d.world} processes' if d.world > 1 else ''}, epochs {start_epoch + 1}..{cfg.epochs}"
        f"{f', weights averaged from epoch {cfg.swa_start + 1}' if swa is not None else ''}", flush=True)
    last = cfg.epochs if epochs_now is None else min(cfg.epochs, start_epoch + epochs_now)
    for epoch in range(start_epoch, last):
        t0 = time.time()
        row = {"epoch": epoch + 1, "epochs": cfg.epochs,
               **train_epoch(step_model, opt, cfg, tx, ty, epoch, steps, meta, device, d, teacher)}
        if d.main:
            scored = model
            if swa is not None and epoch >= cfg.swa_start:
                swa.update_parameters(model)
                torch.optim.swa_utils.update_bn(swa_batches(tx, cfg, meta, device), swa)
                scored, row["averaged"] = swa.module, int(swa.n_averaged)
            best_acc = _finish_epoch(row, history, model, scored, opt, meta, out, vx, vy, val_name, best_acc,
                                     device, t0, resume_extra(swa, teacher))
        distributed.barrier(d)
    say(f"done: best {val_name} accuracy {best_acc:.4f} -> {out / 'best.pt'}" if last == cfg.epochs else
        f"stopped after epoch {last} of {cfg.epochs}: continue with --resume --out {out}", flush=True)
    return {"best_val_acc": best_acc}


def resume_extra(swa, teacher: Teacher | None) -> dict:
    """What last.pt keeps besides the weights for an exact resume: the weight average, the teachers' fingerprint."""
    return {**({} if swa is None else {"swa": swa.state_dict()}),
            **({} if teacher is None else {"teacher_sha256": teacher.fingerprint})}


def saved_history(state: dict, out: Path) -> list[dict]:
    """The epochs a last.pt holds. Runs older than that field: history.jsonl up to the checkpoint's epoch."""
    if "history" in state:
        return state["history"]
    path = out / "history.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return [r for r in rows if r["epoch"] <= state["epoch"]]


def write_history(out: Path, history: list[dict]) -> None:
    write_text_atomic(out / "history.jsonl", "".join(json.dumps(r) + "\n" for r in history))


def _finish_epoch(row: dict, history: list[dict], model, scored, opt, meta: dict, out: Path, vx, vy, val_name: str,
                  best_acc: float, device, t0: float, resume_extra: dict) -> float:
    """Validate `scored` (the model, or its weight average), save best.pt / last.pt, then history.jsonl, print the
    epoch; returns the best accuracy.

    last.pt carries the history itself and history.jsonl is rewritten from it (here and on resume), so a stop
    at any instant can neither lose an epoch's line nor leave one whose checkpoint is missing.
    """
    epoch = row["epoch"]
    row["val_loss"], row["val_acc"] = validate(scored, vx, vy, meta, device)
    row["seconds"] = round(time.time() - t0, 2)
    history.append(row)
    if row["val_acc"] > best_acc:
        best_acc = row["val_acc"]
        save_checkpoint(out / "best.pt", scored, meta, metrics={"val_accuracy": best_acc, "val_split": val_name,
                                                                "epoch": epoch})
    save_checkpoint(out / "last.pt", model, meta, optimizer=opt.state_dict(), rng=torch.get_rng_state(),
                    epoch=epoch, best_val_acc=best_acc, history=history, **resume_extra)
    write_history(out, history)
    print(f"epoch {epoch}/{row['epochs']}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
          f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}  lr {row['lr']:.4g}  "
          f"{row['images_per_s']:.0f} img/s  {row['seconds']:.0f}s", flush=True)
    return best_acc


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    out = Path(args.out)
    writer = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 holds the lock and the pid file
    try:
        lock = hold_for_trainer(out, distributed.launched()) if writer else None
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    # OUT/pid tells the training page that this run is live, however it was started (page or CLI),
    # so the page shows it and can stop it. Under torchrun it names torchrun, which stops every process.
    pid = out / "pid"
    if writer and not args.resume:
        out.mkdir(parents=True, exist_ok=True)
    if writer and out.is_dir():
        pid.write_text(str(os.getppid() if distributed.launched() else os.getpid()))
    try:
        train(cfg, out, args.threads, args.epochs_now, args.epochs if args.resume else None,
              args.teacher if args.resume else None)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    finally:
        if lock is not None:
            os.close(lock)  # first: once the pid file is gone the page may start the next run at once
        if writer:
            pid.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
