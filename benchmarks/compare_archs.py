"""The paper's comparison: CNN1, CNN2, CNN3 and the shipped VGG net, same recipe and epoch budget.

    python -m benchmarks.compare_archs --epochs 3 [--archs cnn3 cnn2 cnn1 vgg] [--out runs/compare]

Trains each with `fer.training.loop` (validation on PublicTest; resumes a run that was stopped), then evaluates
its best checkpoint on PrivateTest with `fer.training.evaluate`, and prints a table like the paper's
("Cascade classifier + CNN1 ... accuracy") plus macro F1, parameters and training images/s.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from fer.model import build_model
from fer.training.evaluate import evaluate

DATA = "../shared/datasets/fer2013.csv.gz"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--archs", nargs="+", default=["cnn3", "cnn2", "cnn1", "vgg"])
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--data", default=DATA)
    a = p.parse_args()
    rows = []
    for arch in a.archs:
        run = Path(a.out) / f"{arch}-e{a.epochs}"
        done = (run / "history.jsonl").exists() and len((run / "history.jsonl").read_text().splitlines()) >= a.epochs
        if not done:
            cmd = [sys.executable, "-m", "fer.train", "--data", a.data, "--arch", arch, "--epochs", str(a.epochs),
                   "--out", str(run)] + (["--resume"] if (run / "last.pt").exists() else [])
            subprocess.run(cmd, check=True)
        history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
        m = evaluate(run / "best.pt", a.data, "PrivateTest")
        rows.append({"arch": arch, "params_m": sum(t.numel() for t in build_model(arch).parameters()) / 1e6,
                     "images_per_s": sum(h["images_per_s"] for h in history) / len(history),
                     "val_acc": max(h["val_acc"] for h in history), "test_acc": m["accuracy"],
                     "macro_f1": m["macro_f1"]})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n| method ({a.epochs} epochs, same recipe) | params | train img/s | PublicTest acc | "
          "PrivateTest acc | PrivateTest macro F1 |\n| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| Cascade classifier + {r['arch'].upper()} | {r['params_m']:.2f} M | {r['images_per_s']:.0f} | "
              f"{r['val_acc']:.1%} | {r['test_acc']:.1%} | {r['macro_f1']:.3f} |")


if __name__ == "__main__":
    main()
