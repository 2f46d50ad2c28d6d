"""Average the weights of several checkpoints of one net, its BatchNorm statistics measured again.

    python -m fer.soup A.pt B.pt --data ../shared/datasets/fer2013.csv.gz --out runs/soup/best.pt [--weights 0.7,0.3]

The ends of several learning-rate cycles of one lineage (a net and its warm restart), averaged as the
original SWA recipe averages cycle ends (Izmailov et al. 2018); or a fine-tuned net and the net it started from,
weighted (WiSE-FT, Wortsman et al. 2022): the fine-tune's gain on new data, less of its loss on the old. Nets
trained apart do not lie in one basin and average badly. The result is an uncalibrated candidate like a run's
best.pt: `fer.training.calibrate` it and judge it on PublicTest before it is used. PrivateTest is never looked at
here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from fer.model import load_checkpoint, save_checkpoint
from fer.training.config import TrainConfig
from fer.training.data import load_dataset
from fer.training.loop import swa_batches, validate
from fer.training.targets import split_data

CALIBRATION = ("temperature", "uncertain_below", "neutral_reference")  # fitted per net: not carried over


def derived_meta(meta: dict) -> dict:
    """What a net made from another one's weights (an average, a moved bias) keeps of its metadata: not the
    calibration nor the figures, which belonged to that net."""
    return {k: v for k, v in meta.items() if k not in CALIBRATION and k != "metrics"}


def average(paths: list[str], weights: list[float] | None = None) -> tuple[torch.nn.Module, dict]:
    """(the first net holding the (weighted) mean of every member's weights, its metadata); members must share arch
    and input; `weights` (one per member, summing to 1) default to equal."""
    w = torch.tensor(weights if weights is not None else [1 / len(paths)] * len(paths))
    if len(w) != len(paths) or (w < 0).any() or abs(float(w.sum()) - 1) > 1e-6:
        raise ValueError(f"{len(w)} weights for {len(paths)} nets: give one per net, none negative, summing to 1.")
    model, meta = load_checkpoint(paths[0])
    states = [model.state_dict()]
    for path in paths[1:]:
        other, m = load_checkpoint(path)
        if (m["arch"], m["input_size"]) != (meta["arch"], meta["input_size"]):
            raise ValueError(f"{path}: a {m['arch']} net at input {m['input_size']}, but {paths[0]} is "
                             f"{meta['arch']} at {meta['input_size']}: only one net's checkpoints can be averaged.")
        states.append(other.state_dict())
    # BatchNorm's counters are integers and its running statistics are measured again, so only floats are averaged.
    mean = {k: torch.einsum("n,n...->...", w.to(v.dtype), torch.stack([s[k] for s in states]))
            if v.is_floating_point() else v for k, v in states[0].items()}
    model.load_state_dict(mean)
    return model, meta


def soup(paths: list[str], data: str, out: Path, weights: list[float] | None = None) -> float:
    """Average `paths` (`weights`: see `average`), measure BatchNorm on training batches, save to `out`; returns
    the validation accuracy."""
    model, meta = average(paths, weights)
    cfg = TrainConfig.from_dict(meta["config"])
    ds = load_dataset(data)
    train_idx, vx, vy, val_name = split_data(ds, cfg.seed)
    tx = torch.from_numpy(ds.images[train_idx])
    model.train()
    torch.optim.swa_utils.update_bn(swa_batches(tx, cfg, meta, torch.device("cpu")), model)
    _, acc = validate(model, torch.from_numpy(vx), torch.from_numpy(vy).long(), meta, torch.device("cpu"))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, model.eval(), derived_meta(meta), soup=[str(p) for p in paths], soup_weights=weights,
                    metrics={"val_accuracy": acc, "val_split": val_name})
    return acc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="two or more checkpoints of one net")
    p.add_argument("--data", required=True, help="fer2013.csv[.gz]: its Training split measures BatchNorm")
    p.add_argument("--out", required=True, help="where the averaged checkpoint is written")
    p.add_argument("--weights", help="comma-separated weight of each checkpoint, summing to 1 (default: equal)")
    a = p.parse_args(argv)
    if len(a.models) < 2:
        p.error("give at least two checkpoints.")
    try:
        weights = [float(x) for x in a.weights.split(",")] if a.weights else None
    except ValueError:
        p.error(f"--weights {a.weights!r}: give numbers separated by commas.")
    try:
        acc = soup(a.models, a.data, Path(a.out), weights)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"average of {len(a.models)} nets -> {a.out}: validation accuracy {acc:.4f} (uncalibrated)")
    return 0
