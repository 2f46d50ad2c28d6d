"""What a training batch looks like: random crops and flips, webcam conditions, and mixup."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from fer.emotions import EMOTIONS


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
