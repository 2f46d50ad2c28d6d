"""Train an emotion CNN on FER2013.

    python -m fer.train --data ../shared/datasets/fer2013.csv.gz --arch vgg --epochs 30 --out runs/vgg
    torchrun --standalone --nproc_per_node=2 -m fer.train ... (several processes: see fer/training/distributed.py)

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

import torch
import torch.nn.functional as F

from fer.files import write_text_atomic
from fer.model import ARCHS, DEFAULT_INPUT_SIZE, InferenceNet, build_model, load_checkpoint, save_checkpoint
from fer.server.locks import hold_for_trainer
from fer.training import distributed
from fer.training.augment import augment, mixup
from fer.training.config import TrainConfig, add_arguments
from fer.training.data import align_dataset, load_dataset
from fer.training.schedule import lr_for
from fer.training.targets import class_log_prior, run_targets, split_data, with_added_faces
from fer.training.teacher import Teacher


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig | None, argparse.Namespace]:
    """(config, run options). With --resume the config is None: it is read back from the run's last.pt (and
    --epochs, if given, extends a weight-averaging run: see `extended`)."""
    p = argparse.ArgumentParser(description="Train an emotion CNN on FER2013.")
    add_arguments(p, {"arch": list(ARCHS)})
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt with its own settings")
    p.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // int(os.environ.get(
        "LOCAL_WORLD_SIZE", "1"))), help="CPU threads for torch (default: the cores, shared by torchrun's processes)")
    p.add_argument("--epochs-now", type=int, help="stop after this many epochs in this call (resume later)")
    a = p.parse_args(argv)
    if a.resume:
        return None, a  # --teacher, if given, names a resumed online run's teachers where they are now (`train`)
    a.epochs = TrainConfig.epochs if a.epochs is None else a.epochs
    if not a.data:
        p.error("--data is required (unless --resume).")
    if a.swa_start is not None and not 0 <= a.swa_start < a.epochs:
        p.error("--swa-start must be at least 0 and below --epochs.")
    if a.real_weight < 1:
        p.error("--real-weight must be at least 1 (to add no real faces, leave out --real-faces).")
    return TrainConfig.from_dict({k: v for k, v in vars(a).items()}), a


def init_weights(model: torch.nn.Module, cfg: TrainConfig) -> None:
    """Start from cfg.init's weights: the same net at the same input size, or a clear error."""
    source, meta = load_checkpoint(cfg.init)
    if (meta["arch"], meta["input_size"]) != (cfg.arch, cfg.input_size):
        raise ValueError(f"{cfg.init}: a {meta['arch']} net at input {meta['input_size']}, but this run trains "
                         f"{cfg.arch} at {cfg.input_size}.")
    model.load_state_dict(source.state_dict())


def frozen(model: torch.nn.Module, cfg: TrainConfig) -> list[torch.nn.Module]:
    """The modules --tune-last leaves as they are: every layer of `features` before its last K convolutions."""
    if cfg.tune_last is None:
        return []
    convs = [i for i, m in enumerate(model.features) if isinstance(m, torch.nn.Conv2d)]
    if not 0 < cfg.tune_last <= len(convs):
        raise ValueError(f"--tune-last {cfg.tune_last}: the {cfg.arch} net has {len(convs)} convolutions.")
    return list(model.features[:convs[-cfg.tune_last]])


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


def batch_loss(model, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig,
               adjust: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The net's logits on a batch and their loss against labels or target distributions; `adjust` (the logit
    adjustment, `class_log_prior` * --logit-adjust) is added to the logits the loss sees, not to those returned."""
    logits = training_logits(model, xb, cfg.bf16)
    seen = logits if adjust is None else logits + adjust
    return logits, F.cross_entropy(seen, yb, label_smoothing=cfg.label_smoothing)


def sharpness_aware_gradient(model, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig,
                             adjust: torch.Tensor | None = None) -> None:
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
        batch_loss(model, xb, yb, cfg, adjust)[1].backward()
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
    for m in frozen(getattr(model, "module", model), cfg):
        m.eval()  # BatchNorm statistics too stay as they were
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)  # per-epoch stream: resumable
    if d.world == 1:
        order, batch = torch.randperm(len(ty), generator=gen), cfg.batch_size
    else:  # this process's share; its own augmentation stream
        order, batch = distributed.shard(len(ty), d, cfg.seed, epoch), max(2, cfg.batch_size // d.world)
        gen.manual_seed(cfg.seed * 1000 + epoch + 100_003 * d.rank)
    t0, seen, loss_sum, correct, lr = time.time(), 0, 0.0, 0, cfg.lr
    adjust = (cfg.logit_adjust * class_log_prior(ty)).to(device) if cfg.logit_adjust else None
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
        logits, loss = batch_loss(model, xb, yb, cfg, adjust)  # yb: labels or distributions
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.sam:
            sharpness_aware_gradient(model, xb, yb, cfg, adjust)
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

    Under torchrun each process runs this; rank 0 alone validates and writes (fer/training/distributed.py).
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
    train_x, train_y, targets = with_added_faces(cfg, train_x, train_y, targets)
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
    for m in frozen(model, cfg):
        m.requires_grad_(False)
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
