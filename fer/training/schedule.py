"""The learning rate at each step: one cycle, then the constant rate of weight averaging."""

from __future__ import annotations

import math

from fer.training.config import TrainConfig


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
