"""A distillation teacher: the mean of several trained nets' calibrated probabilities, at a temperature.

fer/training/loop.py teaches with it in one of two ways:
- offline (`--teacher`): its probabilities on each clean training face, made once per run (`soft_targets`);
- online (`--teacher --distill-online`): its probabilities on every augmented batch, the very view the student
  sees. Offline targets say what a clean face is while the student sees it rotated, darkened or half hidden;
  "consistent" teaching removes that mismatch (Beyer et al. 2022, "Knowledge distillation: A good teacher is
  patient and consistent"), at the cost of the teacher's forward passes in every step. With `--mixup` the views
  are blended pairs of faces (`fer.training.loop.mixup`), and the teacher reads those: that paper's "function matching".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fer.files import file_sha256
from fer.model import load_checkpoint


def sharpen(p: np.ndarray | torch.Tensor, t: float) -> np.ndarray | torch.Tensor:
    """Probabilities (N, 7) at temperature t: p^(1/t), renormalised (= softmax(log p / t))."""
    p = p ** (1 / t)
    return p / p.sum(1)[:, None]


class Teacher:
    """Several checkpoints (comma-separated paths) that read a batch as one ensemble.

    `fingerprint` (the files' SHA-256s) goes into the run's last.pt: a resumed run refuses teachers whose bytes
    changed (e.g. a path such as models/emotion_cnn.pt that now holds another net) instead of quietly learning
    from them; moved files may be named again on resume (`fer.training.loop --resume --teacher NEW,PATHS`).
    """

    def __init__(self, paths: str, input_size: int, device: torch.device, bf16: bool = False,
                 expect: list[str] | None = None):
        self.members, self.device, self.bf16 = [], device, bf16
        for path in paths.split(","):
            model, meta = load_checkpoint(path)
            if meta["input_size"] != input_size:
                raise ValueError(f"{path}: a teacher reading {meta['input_size']} px faces cannot read the student's "
                                 f"{input_size} px view online.")
            self.members.append((model.to(device), meta))
        self.fingerprint = [file_sha256(Path(path)) for path in paths.split(",")]
        if expect is not None and expect != self.fingerprint:
            raise ValueError(f"the teachers {paths} are not the files this run began with (their bytes differ): "
                             "resume with --teacher naming the original files.")

    @torch.inference_mode()
    def probs(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """The ensemble's probabilities at temperature t for a batch of augmented crops (B, 1, S, S) in [0, 1],
        each member normalising them its own way and applying its own calibrated temperature."""
        x = x.to(self.device)
        return sharpen(sum(self._member(model, meta, x) for model, meta in self.members).double()
                       / len(self.members), t).float()

    def _member(self, model: torch.nn.Module, meta: dict, x: torch.Tensor) -> torch.Tensor:
        xm = ((x - meta["mean"]) / meta["std"]).contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = model(xm).float()
        return F.softmax(logits / float(meta.get("temperature", 1.0)), dim=1)
