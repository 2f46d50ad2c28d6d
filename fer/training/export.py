"""Export a checkpoint for the app: <name>.onnx (the whole `InferenceNet`) and <name>.onnx.json.

    python -m fer.export [--model models/emotion_cnn.pt]

The app runs the export with OpenCV's DNN module and never imports torch, which saves about a second
of its start (see fer/vision/classifier.py). The export is checked against torch before it is kept.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from fer.files import DEFAULT_MODEL, atomic_write, onnx_path, sidecar_path, write_sidecar
from fer.model import InferenceNet, load_checkpoint, predict_proba, reading_info
from fer.vision.classifier import onnx_classifier

OPSET = 17
TOLERANCE = 1e-4  # max |probability difference| between OpenCV and torch on the probe faces


def export_onnx(checkpoint: str | Path, out: str | Path | None = None) -> Path:
    """Write `out` (default: the checkpoint's .onnx) and its .onnx.json sidecar; returns `out`.

    Raises ValueError when the checkpoint is unreadable or OpenCV's result differs from torch's.
    """
    checkpoint = Path(checkpoint)
    out = Path(out) if out else onnx_path(checkpoint)
    model, meta = load_checkpoint(checkpoint)
    diff = float("nan")  # OpenCV's largest difference from torch, measured by `check` for the sidecar

    def check(staged: Path) -> None:
        """Refuse an export that OpenCV cannot run or that disagrees with torch, before it replaces `out`."""
        nonlocal diff
        probe = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
        try:
            diff = float(np.abs(onnx_classifier(staged).predict(probe) - predict_proba(model, meta, probe)).max())
        except cv2.error as e:
            raise ValueError(f"{checkpoint}: OpenCV cannot run the ONNX export ({e.err}).") from None
        if not diff <= TOLERANCE:
            raise ValueError(f"{checkpoint}: the ONNX export differs from torch by {diff:.2g}.")

    with atomic_write(out, check=check) as f, warnings.catch_warnings():
        # The TorchScript exporter is deprecated, but it writes one self-contained file that OpenCV
        # reads, and needs only the `onnx` package (the dynamo exporter also needs onnxscript).
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            torch.onnx.export(InferenceNet(model, meta).eval(), (torch.zeros(1, 1, 48, 48),), f,
                              dynamo=False, opset_version=OPSET, input_names=["faces"], output_names=["probs"],
                              dynamic_axes={"faces": {0: "n"}, "probs": {0: "n"}})
        except torch.onnx.OnnxExporterError as e:  # e.g. "Module onnx is not installed!"
            raise ValueError(f"{checkpoint}: ONNX export failed: {e}") from None
    write_sidecar(checkpoint, sidecar_path(out), arch=meta["arch"], input_size=meta["input_size"], opset=OPSET,
                  torch=torch.__version__, max_diff_vs_torch=diff, **reading_info(meta))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Export a checkpoint to ONNX for the app (OpenCV DNN, no torch).")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="checkpoint (default: the shipped model)")
    a = p.parse_args(argv)
    try:
        out = export_onnx(a.model)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} and {sidecar_path(out).name}")
    return 0
