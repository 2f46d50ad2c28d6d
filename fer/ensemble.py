"""Combine checkpoints of one architecture (e.g. the same recipe with other seeds) into one ensemble model.

    python -m fer.ensemble runs/vgg-e30/best.pt runs/vgg-e30-seed1/best.pt --out runs/vgg-e30-x2.pt

The result loads like any checkpoint (`EmotionRecognizer.load`, `fer.evaluate`, the training page's
"Use as default"). Each member costs one forward pass, so a k-net ensemble classifies k times slower.
"""

from __future__ import annotations

import argparse
import sys

from fer.model import ensemble_checkpoints


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Combine checkpoints into one ensemble checkpoint.")
    p.add_argument("checkpoints", nargs="+", help="two or more checkpoints of the same architecture")
    p.add_argument("--out", required=True, help="where to write the ensemble checkpoint")
    a = p.parse_args(argv)
    try:
        meta = ensemble_checkpoints(a.checkpoints, a.out)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{a.out}: ensemble of {meta['members']} {meta['arch']} nets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
