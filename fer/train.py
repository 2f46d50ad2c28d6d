"""Train an emotion CNN on FER2013.

    python -m fer.train --data ../shared/datasets/fer2013.csv.gz --arch vgg --epochs 30 --out runs/vgg

Writes runs/NAME/: config.json, history.jsonl (one line per epoch), last.pt (resumable), best.pt
(best validation accuracy), train.log is whatever the caller redirects stdout to. Validation is
PublicTest, or a seeded 10 % of Training for folder datasets; PrivateTest is never looked at here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fer.data import load_dataset
from fer.model import DEFAULT_INPUT_SIZE, build_model, preprocess, save_checkpoint

VAL_FRACTION = 0.1  # of Training, when the dataset has no PublicTest split


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train an emotion CNN on FER2013.")
    p.add_argument("--data", required=True, help="fer2013.csv[.gz], a Kaggle train/test folder, or its .zip")
    p.add_argument("--arch", default="vgg", choices=["cnn1", "cnn2", "cnn3", "vgg"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--input-size", type=int, default=None, help="crop side fed to the net (default per arch)")
    p.add_argument("--ferplus", default=None, help="fer2013new.csv: train on FER+ majority labels")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for torch")
    p.add_argument("--dry-run", action="store_true", help="2 batches per epoch, small validation: a smoke test")
    return p.parse_args(argv)


def lr_at(step: int, total: int, peak: float) -> float:
    """One-cycle: linear warm-up over the first 15 % from peak/25, then cosine down to ~0.

    A pure function of the step, so a resumed run follows exactly the same schedule.
    """
    warm = max(1, int(0.15 * total))
    if step < warm:
        return peak / 25 + (peak - peak / 25) * step / warm
    t = (step - warm) / max(1, total - warm)
    return peak * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))) + peak * 1e-4


def augment(batch: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Random affine (rotate ±10°, scale ±15 %, shift ±4 px, mirror) + brightness/contrast, whole batch at once.

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
    return ((x - mean) * contrast + mean + bright).clamp(0, 1)


def split_data(ds, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """(train images, train labels, val images, val labels, val name), leak- and blank-free training set."""
    train_x, train_y = ds.split("Training")
    if "PublicTest" in ds.split_names:
        val_x, val_y = ds.split("PublicTest")
        val_name = "PublicTest"
    else:
        idx = np.random.default_rng(seed).permutation(len(train_y))
        n_val = max(1, int(len(idx) * VAL_FRACTION))
        val_x, val_y = train_x[idx[:n_val]], train_y[idx[:n_val]]
        train_x, train_y = train_x[idx[n_val:]], train_y[idx[n_val:]]
        val_name = f"{VAL_FRACTION:.0%} of Training"
    # FER2013 has 12 blank images and ~570 test images with pixel-identical copies in Training.
    # Train on neither: blanks teach nothing, and copies would inflate every test figure.
    held_out = {x.tobytes() for x in ds.images[ds.splits != "Training"]}
    keep = np.array([x.max() > x.min() and x.tobytes() not in held_out for x in train_x], dtype=bool)
    if not keep.any():
        raise ValueError(f"{ds.source}: no usable training images (all blank or duplicated in a test split).")
    return train_x[keep], train_y[keep], val_x, val_y, val_name


@torch.inference_mode()
def validate(model, x: torch.Tensor, y: torch.Tensor, meta: dict, device) -> tuple[float, float]:
    """(mean loss, accuracy with mirror test-time augmentation) on uint8 faces."""
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), 512):
        xb = preprocess(x[i:i + 512], meta["input_size"], meta["mean"], meta["std"]).to(device)
        yb = y[i:i + 512].to(device)
        logits = model(xb)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        probs = F.softmax(logits, 1) + F.softmax(model(xb.flip(-1)), 1)
        correct += (probs.argmax(1) == yb).sum().item()
    return loss / len(y), correct / len(y)


def train(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA GPU is available.")
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)

    last = out / "last.pt"
    state = None
    if args.resume:
        if not last.is_file():
            raise ValueError(f"{last}: nothing to resume.")
        state = torch.load(last, map_location="cpu", weights_only=True)
        saved = state["config"]
        # The run's own settings win, so a resume continues exactly the same run.
        for k in ("data", "arch", "epochs", "batch_size", "lr", "weight_decay", "label_smoothing",
                  "input_size", "ferplus", "seed", "dry_run"):
            setattr(args, k, saved[k])

    ds = load_dataset(args.data, ferplus=args.ferplus)
    train_x, train_y, val_x, val_y, val_name = split_data(ds, args.seed)
    if args.dry_run:
        val_x, val_y = val_x[:256], val_y[:256]
    input_size = args.input_size or DEFAULT_INPUT_SIZE[args.arch]
    args.input_size = input_size
    mean = float(train_x.mean() / 255.0)
    std = float(train_x.std() / 255.0)
    meta = {"arch": args.arch, "input_size": input_size, "image_size": int(train_x.shape[-1]),
            "mean": mean, "std": std, "config": vars(args).copy()}

    model = build_model(args.arch, input_size).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay)
    steps_per_epoch = 2 if args.dry_run else math.ceil(len(train_y) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    start_epoch, best_acc = 0, -1.0
    if state is not None:
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start_epoch, best_acc = state["epoch"], state["best_val_acc"]
    else:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({**meta["config"], "device": str(device), "validation": val_name,
                                                      "n_train": len(train_y), "n_val": len(val_y)}, indent=2))
        (out / "history.jsonl").write_text("")

    tx, ty = torch.from_numpy(train_x), torch.from_numpy(train_y)
    vx, vy = torch.from_numpy(val_x), torch.from_numpy(val_y)
    print(f"train {len(ty)} images, validate on {val_name} ({len(vy)}), {args.arch} input {input_size}, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, device {device}, "
          f"epochs {start_epoch + 1}..{args.epochs}", flush=True)
    for epoch in range(start_epoch, args.epochs):
        model.train()
        gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)  # per-epoch stream: resumable
        order = torch.randperm(len(ty), generator=gen)
        t0, seen, loss_sum, correct = time.time(), 0, 0.0, 0
        for step in range(steps_per_epoch):
            idx = order[step * args.batch_size:(step + 1) * args.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            xb = ((augment(tx[idx], input_size, gen) - mean) / std).to(device, memory_format=torch.channels_last)
            yb = ty[idx].to(device)
            lr = lr_at(epoch * steps_per_epoch + step, total_steps, args.lr)
            for g in opt.param_groups:
                g["lr"] = lr
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
        train_seconds = time.time() - t0
        val_loss, val_acc = validate(model, vx, vy, meta, device)
        row = {"epoch": epoch + 1, "epochs": args.epochs, "train_loss": loss_sum / max(seen, 1),
               "train_acc": correct / max(seen, 1), "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
               "seconds": round(time.time() - t0, 2), "images_per_s": round(seen / train_seconds, 1)}
        with open(out / "history.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if val_acc > best_acc:
            best_acc = val_acc
            save_checkpoint(out / "best.pt", model, meta, metrics={"val_accuracy": val_acc, "val_split": val_name,
                                                                   "epoch": epoch + 1})
        save_checkpoint(last, model, meta, optimizer=opt.state_dict(), rng=torch.get_rng_state(),
                        epoch=epoch + 1, best_val_acc=best_acc)
        print(f"epoch {epoch + 1}/{args.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  "
              f"val loss {val_loss:.4f} acc {val_acc:.4f}  lr {lr:.4g}  {row['images_per_s']:.0f} img/s  "
              f"{row['seconds']:.0f}s", flush=True)
    print(f"done: best {val_name} accuracy {best_acc:.4f} -> {out / 'best.pt'}", flush=True)
    return {"best_val_acc": best_acc}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    # OUT/pid tells the training page that this run is live, however it was started (page or CLI),
    # so the page never offers to resume, or starts, a second trainer on a running run.
    pid = out / "pid"
    if not args.resume:
        out.mkdir(parents=True, exist_ok=True)
    if out.is_dir():
        pid.write_text(str(os.getpid()))
    try:
        train(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    finally:
        pid.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
