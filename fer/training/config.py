"""The settings of one training run: written with the run, stored in its checkpoints, read back on resume.

Each field is declared once, here, with its help text: `python -m fer.train`'s options are made from these
fields (`add_arguments`), and `TrainConfig.argv` writes them back as a command line.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields


def _opt(default, help: str, **argparse_kw):
    """A field with its command-line help (and any other argparse keywords, e.g. a different parser default)."""
    return field(default=default, metadata={"help": help, **argparse_kw})


@dataclass
class TrainConfig:
    data: str = field(metadata={"help": "fer2013.csv[.gz], a Kaggle train/test folder, or its .zip "
                                        "(not with --resume)"})
    arch: str = _opt("vgg", "the network (fer/model.py)")
    # None on the command line: with --resume, --epochs extends a weight-averaging run (fer.training.loop.extended)
    epochs: int = _opt(30, "epochs (with --resume: extend an SWA run)", parse_default=None)
    batch_size: int = _opt(128, "images per step")
    lr: float = _opt(0.05, "peak learning rate of the one-cycle schedule")
    weight_decay: float = _opt(5e-4, "SGD weight decay")
    label_smoothing: float = _opt(0.1, "label smoothing of the hard labels")
    input_size: int | None = _opt(None, "crop side fed to the net (default per arch)")
    ferplus: str | None = _opt(None, "fer2013new.csv: train on FER+ majority labels")
    ferplus_votes: str | None = _opt(None, "fer2013new.csv: blend its vote distributions into the targets")
    ferplus_soft: float = _opt(0.3, "weight of the FER+ votes in the target")
    extra_data: str | None = _opt(None, "a folder of train/<emotion>/*.png (e.g. runs/contributed) added to Training")
    real_faces: str | None = _opt(None, "a folder of <emotion>/<person>_*.png real faces (e.g. ckplus-dev) "
                                        "added to Training, repeated --real-weight times")
    real_weight: int = _opt(1, "how many times each real face is added to Training per epoch")
    real_balance: bool = _opt(False, "repeat each real-face class so that every class adds as many faces as the "
                                     "mean class (real_weight x faces in all, about): a class the real set holds "
                                     "few of is not drowned by the ones it holds many of")
    real_folds: int = _opt(5, "the real faces' people are dealt into this many folds (fer.training.archives."
                              "person_folds)")
    real_fold: int | None = _opt(None, "leave this fold's people out of training, to be scored on them alone "
                                       "(benchmarks/ckplus.py --folds); default: train on every person")
    logit_adjust: float = _opt(0.0, "logit-adjusted loss (Menon et al. 2021): the training logits get TAU * log(the "
                                    "class's share of Training) added, so rare classes (disgust) win more often "
                                    "at test time; 0: off")
    teacher: str | None = _opt(None, "checkpoint(s), comma-separated, whose mean probabilities are blended into the "
                                     "targets (with --resume: where an online run's teachers are now; their bytes "
                                     "are checked)")
    distill: float = _opt(0.3, "weight of the teacher in the target")
    distill_t: float = _opt(2.0, "temperature of the teacher's probabilities")
    distill_online: bool = _opt(False, "the teacher reads each augmented batch as the student sees it "
                                       "(fer/training/teacher.py), not the clean faces once; slower, and a resume "
                                       "needs the teacher files again")
    mixup: float = _opt(0.0, "mix each training view with another, weight ~ Beta(A, A) (0: off); with "
                             "--distill-online the teacher reads the mixed view (function matching)")
    sam: float = _opt(0.0, "sharpness-aware minimisation: each step's gradient is taken at the worst weights within "
                           "this distance (0: off; 0.05 is usual); every step then costs two passes")
    webcam_aug: float = _opt(0.0, "chance per image of each webcam condition (blur, low light, noise, an occluding "
                                  "patch)")
    align: bool = _opt(False, "train on faces aligned by their eyes (fer/vision/align.py); the app then aligns the "
                              "faces it reads")
    init: str | None = _opt(None, "a checkpoint of the same net to start from (fine-tuning)")
    tune_last: int | None = _opt(None, "train only the last K convolutions of the net's features and its head; the "
                                       "others keep their weights and BatchNorm statistics (with --init: a cheap "
                                       "fine-tune, no gradient through the early layers)")
    swa_start: int | None = _opt(None, "average the weights after each epoch from this one on, at the constant "
                                       "--swa-lr")
    swa_lr: float = _opt(0.01, "the learning rate of the averaged epochs")
    bf16: bool = _opt(False, "train in bfloat16 autocast: 1.74x the images/s of VGG on a CPU with AVX512-BF16; "
                             "measure other machines with python -m benchmarks.train_throughput --bf16")
    seed: int = _opt(0, "random seed")
    dry_run: bool = _opt(False, "2 batches per epoch, small validation: a smoke test")
    device: str = _opt("auto", "where to train", choices=["auto", "cpu", "cuda"])

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


def _type(f) -> type:
    """The one scalar type of a field's annotation (`int | None` -> int)."""
    hint = typing.get_type_hints(TrainConfig)[f.name]
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def add_arguments(p: argparse.ArgumentParser, choices: dict[str, list[str]] | None = None) -> None:
    """One option per `TrainConfig` field, with its default and help; `choices` adds allowed values by field."""
    for f in fields(TrainConfig):
        meta = dict(f.metadata)
        flag, kind = "--" + f.name.replace("_", "-"), _type(f)
        default = meta.pop("parse_default", None if f.default is MISSING else f.default)
        if kind is bool:
            p.add_argument(flag, action="store_true", **meta)
            continue
        if choices and f.name in choices:
            meta["choices"] = choices[f.name]
        p.add_argument(flag, type=kind, default=default, **meta)
