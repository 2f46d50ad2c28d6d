"""The paper's three CNNs, the project's default net, and the one checkpoint format they all use.

Inputs are (N, 1, S, S) float tensors: grayscale faces resized to 48x48, centre-cropped to S
(the checkpoint's `input_size`) and normalised with the checkpoint's mean/std (see `preprocess`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fer.emotions import EMOTIONS
from fer.files import DEFAULT_MODEL, atomic_write, export_matches, read_sidecar, sidecar_path, write_sidecar

FORMAT_VERSION = 1


def _block(cin: int, cout: int, k: int, dropout: float) -> nn.Sequential:
    """The paper's conv block: conv -> BN -> ReLU -> max-pool -> dropout."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Dropout(dropout))


class PaperCNN(nn.Module):
    """CNN1/2/3 from the paper: conv blocks, then dense 256 and 512 (BN, ReLU, dropout), 7-way output.

    The softmax is applied by the loss / at inference, not in the module.
    """

    def __init__(self, blocks: list[tuple[int, int]], input_size: int = 48, classes: int = len(EMOTIONS)):
        super().__init__()
        layers, cin = [], 1
        for cout, k in blocks:
            layers.append(_block(cin, cout, k, 0.25))
            cin = cout
        self.features = nn.Sequential(*layers)
        side = input_size // 2 ** len(blocks)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin * side * side, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True), nn.Dropout(0.25),
            nn.Linear(256, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Dropout(0.25),
            nn.Linear(512, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class VGGNet(nn.Module):
    """The shipped default: 4 stages of two 3x3 convs (32-64-128-256), global average pool, ~1.2 M params.

    Far fewer multiply-adds than CNN1 (no 5x5 conv, no 512-wide layers), so it trains on a 2-core CPU.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256), classes: int = len(EMOTIONS)):
        super().__init__()
        layers, cin = [], 1
        for i, w in enumerate(widths):
            for _ in range(2):
                layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                cin = w
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(cin, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# Paper: CNN1 has four conv blocks; CNN2 and CNN3 "fewer". Our reading: CNN2 drops the last block,
# CNN3 keeps only the first two. Input 48x48 as in the paper's table for CNN1.
ARCHS = {
    "cnn1": lambda size: PaperCNN([(64, 3), (128, 5), (512, 3), (512, 3)], size),
    "cnn2": lambda size: PaperCNN([(64, 3), (128, 5), (512, 3)], size),
    "cnn3": lambda size: PaperCNN([(64, 3), (128, 5)], size),
    "vgg": lambda size: VGGNet(),
    # The last two stages 1.5x wider (2.5 M params): more capacity where the maps are small, so training costs
    # ~1.5x and a face ~1 ms more, not the 4x of widening every stage.
    "vgg-wide": lambda size: VGGNet((32, 64, 192, 384)),
}
DEFAULT_INPUT_SIZE = {"cnn1": 48, "cnn2": 48, "cnn3": 48, "vgg": 40, "vgg-wide": 40}


def build_model(arch: str, input_size: int | None = None) -> nn.Module:
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHS)}).")
    return ARCHS[arch](input_size or DEFAULT_INPUT_SIZE[arch])


def preprocess(faces: np.ndarray | torch.Tensor, input_size: int, mean: float, std: float) -> torch.Tensor:
    """uint8 (N, 48, 48) or (N, 1, 48, 48) faces -> normalised float (N, 1, S, S), centre-cropped to S = input_size."""
    x = faces if isinstance(faces, torch.Tensor) else torch.from_numpy(faces)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    off = (x.shape[-1] - input_size) // 2
    x = x[..., off:off + input_size, off:off + input_size].float()
    return ((x / 255.0 - mean) / std).contiguous(memory_format=torch.channels_last)


class InferenceNet(nn.Module):
    """The whole inference path as one module: raw faces -> `preprocess` -> net -> softmax, mirror-averaged -> /T.

    Input: (N, 1, 48, 48) or (N, 48, 48) pixel values 0..255; output: (N, 7) probabilities. `predict_proba` runs it
    with torch and `fer.training.export` exports it to ONNX for the app, so both paths share one definition.
    """

    def __init__(self, model: nn.Module, meta: dict, temperature: float | None = None):
        super().__init__()
        self.model, self.input_size, self.mean, self.std = model, meta["input_size"], meta["mean"], meta["std"]
        # Temperature scaling (fer/training/calibrate.py), so that the stated confidence matches the accuracy.
        self.temperature = float(meta.get("temperature", 1.0) if temperature is None else temperature)
        # Mirror by gathering columns in reverse: `flip` exports as a negative-step Slice, which OpenCV rejects.
        self.register_buffer("reversed_columns", torch.arange(self.input_size - 1, -1, -1), persistent=False)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        x = preprocess(faces, self.input_size, self.mean, self.std)
        mirrored = x.index_select(3, self.reversed_columns)
        p = (F.softmax(self.model(x), dim=1) + F.softmax(self.model(mirrored), dim=1)) / 2
        if self.temperature == 1.0:
            return p
        # Temperature scaling of the mirror-averaged prediction: a monotonic map of one vector, so the winner
        # (and the accuracy) never changes, only how sure the reading claims to be.
        return F.softmax(torch.log(p.clamp_min(1e-12)) / self.temperature, dim=1)


def reading_info(meta: dict) -> dict:
    """What the app needs besides the net: temperature, "not sure" threshold, neutral reference
    (fer/training/calibrate.py), and whether it reads eye-aligned faces (fer/vision/align.py)."""
    return {"temperature": float(meta.get("temperature", 1.0)), "uncertain_below": meta.get("uncertain_below"),
            "neutral_reference": meta.get("neutral_reference"),
            "aligned": bool((meta.get("config") or {}).get("align"))}  # trained on eye-aligned faces


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict, **extra) -> None:
    """Write {format, arch, state_dict, classes, input_size, mean, std, config, metrics, ...} atomically."""
    ckpt = {"format": FORMAT_VERSION, "classes": list(EMOTIONS), "state_dict": model.state_dict(), **meta, **extra}
    _save_atomic(ckpt, Path(path))


def record_metrics(path: str | Path, name: str, figures: dict) -> None:
    """Store evaluation figures in a checkpoint under metrics[name] (weights untouched), atomically.

    The weights do not change, so an ONNX export that matched the checkpoint is marked as matching it still.
    """
    path = Path(path)
    load_checkpoint(path)  # refuse a broken or foreign file with the usual clear error
    exported = export_matches(path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    ckpt["metrics"] = {**(ckpt.get("metrics") or {}), name: figures}
    _save_atomic(ckpt, path)
    if exported:
        write_sidecar(path, sidecar_path(path), **read_sidecar(path))


def update_checkpoint(path: str | Path, **fields) -> None:
    """Set top-level fields of a checkpoint (e.g. its temperature), atomically. Its ONNX export must be redone."""
    path = Path(path)
    load_checkpoint(path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    _save_atomic({**ckpt, **fields}, path)


def _save_atomic(ckpt: dict, path: Path) -> None:
    with atomic_write(path) as f:
        torch.save(ckpt, f)


def load_checkpoint(path: str | Path | None = None) -> tuple[nn.Module, dict]:
    """Load any checkpoint of this project -> (model in eval mode, checkpoint dict without weights).

    Raises ValueError with one clear sentence for a missing, corrupt or mismatched file.
    """
    path = Path(path) if path else DEFAULT_MODEL
    if not path.is_file():
        raise ValueError(f"{path}: model file not found.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types (pickle, zip, EOF, runtime) for a bad file
        raise ValueError(f"{path}: not a readable model checkpoint ({type(e).__name__}).") from None
    if not isinstance(ckpt, dict) or not {"arch", "state_dict", "input_size", "mean", "std"} <= ckpt.keys():
        raise ValueError(f"{path}: not a checkpoint of this project (missing arch/state_dict/normalisation).")
    if ckpt.get("classes") != list(EMOTIONS):
        raise ValueError(f"{path}: model classes {ckpt.get('classes')} do not match {list(EMOTIONS)}.")
    model = build_model(ckpt["arch"], ckpt["input_size"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError:
        raise ValueError(f"{path}: weights do not match architecture {ckpt['arch']!r}.") from None
    model.eval().to(memory_format=torch.channels_last)
    meta = {k: v for k, v in ckpt.items() if k not in ("state_dict", "optimizer", "rng", "swa")}
    return model, meta


@torch.inference_mode()
def predict_proba(model: nn.Module, meta: dict, faces: np.ndarray, batch_size: int = 512,
                  temperature: float | None = None) -> np.ndarray:
    """Class probabilities (N, 7) for uint8 (N, 48, 48) faces, averaged with the mirrored faces.

    `temperature` overrides the checkpoint's own (meta["temperature"], 1 when it has none).
    """
    net = InferenceNet(model, meta, temperature)
    out = [net(torch.from_numpy(np.ascontiguousarray(faces[i:i + batch_size]))).numpy()
           for i in range(0, len(faces), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, len(EMOTIONS)), np.float32)
