"""The settings of one training run: written with the run, stored in its checkpoints, read back on resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class TrainConfig:
    data: str  # fer2013.csv[.gz], a Kaggle train/test folder, or its .zip
    arch: str = "vgg"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05  # peak of the one-cycle schedule
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    input_size: int | None = None  # crop side fed to the net (None: the architecture's default)
    ferplus: str | None = None  # fer2013new.csv: train on FER+ majority labels
    ferplus_votes: str | None = None  # fer2013new.csv: blend its vote distributions into the targets ...
    ferplus_soft: float = 0.3  # ... with this weight
    extra_data: str | None = None  # a folder of train/<emotion>/*.png (e.g. runs/contributed) added to Training
    teacher: str | None = None  # checkpoint(s), comma-separated: their mean probabilities join the targets ...
    distill: float = 0.3  # ... with this weight
    distill_t: float = 2.0  # ... at this temperature
    distill_online: bool = False  # the teacher reads every augmented batch (fer/teacher.py), not the clean faces once
    mixup: float = 0.0  # Beta(mixup, mixup) blends of two training views and their targets (0: off)
    sam: float = 0.0  # sharpness-aware minimisation's radius (0: off): each step's gradient at the worst nearby weights
    webcam_aug: float = 0.0  # per image, the chance of each webcam condition: blur, low light, noise, occlusion
    align: bool = False  # every face aligned by its eyes (fer/align.py), as the app then crops them
    init: str | None = None  # a checkpoint whose weights the run starts from (fine-tuning), not random ones
    swa_start: int | None = None  # from this epoch on: constant swa_lr, and the weights averaged after each epoch
    swa_lr: float = 0.01  # the learning rate of those epochs (SWA)
    bf16: bool = False  # forward and backward in bfloat16 (torch.autocast); weights, optimizer and checkpoints float32
    seed: int = 0
    dry_run: bool = False  # 2 batches per epoch, small validation: a smoke test
    device: str = "auto"  # auto | cpu | cuda

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """From a saved config (extra keys, such as the run's own notes, are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def argv(self) -> list[str]:
        """The `python -m fer.train` arguments that reproduce this config."""
        out = []
        for f in fields(self):
            value = getattr(self, f.name)
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                out += [flag] if value else []
            elif value is not None:
                out += [flag, str(value)]
        return out
