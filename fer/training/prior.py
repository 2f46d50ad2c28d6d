"""Put a run's class prior back to its dataset's: the head's bias lowered by log(mix share / dataset share).

    python -m fer.prior runs/rf-d-all/run/best.pt --out runs/rf-h-all/best.pt [--data ../shared/datasets/fer2013.csv.gz]

Faces added to training (--real-faces with their repeats, --extra-data) teach what faces look like, but they also
change how often each class is taught: ckplus-dev has no neutral face, and balanced by class it makes disgust 2.2
times as frequent as in FER2013. A net trained on the mix guesses those classes that much more often. Lowering each
class's logit by log(its share in the mix / its share in the dataset's Training labels) reads as if the net had been
taught the dataset's frequencies (post-hoc logit adjustment for label shift: Saerens et al. 2002; Menon et al. 2021).
Both shares are counted from the run's own config, so nothing is fitted. The result is uncalibrated, like a run's
best.pt: `fer.training.calibrate` it and judge it on PublicTest before it is used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from fer.model import load_checkpoint, save_checkpoint
from fer.training.config import TrainConfig
from fer.training.data import load_dataset
from fer.training.soup import derived_meta
from fer.training.targets import class_log_prior, split_data, with_added_faces


def prior_shift(cfg: TrainConfig, data: str | None = None) -> torch.Tensor:
    """(7,) log(class share in what the run taught / class share in the dataset's Training labels alone): zero for
    a run that added no faces. Labels are counted (a soft target's votes or teacher are not: the added faces are
    taught one-hot, and the shift they cause is what this undoes)."""
    ds = load_dataset(data or cfg.data)
    train_idx = split_data(ds, cfg.seed)[0]
    x, y = ds.images[train_idx], ds.labels[train_idx]
    taught = with_added_faces(cfg, x, y, None)[1]
    return class_log_prior(torch.from_numpy(taught)) - class_log_prior(torch.from_numpy(y))


def restore_prior(path: str, out: Path, data: str | None = None) -> torch.Tensor:
    """Write `path`'s net with its output layer's bias lowered by `prior_shift` to `out`; returns the shift."""
    model, meta = load_checkpoint(path)
    shift = prior_shift(TrainConfig.from_dict(meta["config"]), data)
    with torch.no_grad():
        model.head[-1].bias -= shift  # both architectures end in one Linear layer
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, model.eval(), derived_meta(meta), prior_shift=[round(float(s), 6) for s in shift],
                    prior_of=str(path))
    return shift


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a run's checkpoint (its config names the faces it added)")
    p.add_argument("--out", required=True, help="where the corrected checkpoint is written")
    p.add_argument("--data", help="the run's dataset, if it has moved since (default: the path in its config)")
    a = p.parse_args(argv)
    try:
        shift = restore_prior(a.model, Path(a.out), a.data)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{a.model} -> {a.out}: logits lowered by " + ", ".join(f"{s:+.3f}" for s in shift.tolist())
          + " (angry .. neutral; uncalibrated)")
    return 0
