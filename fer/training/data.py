"""FER2013 loading: the Kaggle CSV (plain or .gz), the Kaggle folder layout, or that folder as a .zip.

Every loader returns a `FaceDataset`: uint8 images (N, 48, 48), int64 labels in FER2013 order
(see `fer.emotions.EMOTIONS`) and a split name per image. Bad input raises `ValueError` naming
the file and the row or entry, so callers (CLI, training page) can show one clear sentence.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import stat
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from fer.emotions import EMOTIONS
from fer.files import atomic_write, runs_dir
from fer.training.archives import load_folder, load_zip
from fer.training.dataset import SIZE, FaceDataset
from fer.vision.align import align_48, eyes_48

# Limits: far above any face dataset (FER2013: 35,887 rows, 301 MB of CSV text, ~60 MB as JPEGs), far below
# what would exhaust a small server. Crossing one stops the load at once with one sentence.
MAX_ROWS = 100_000
MAX_CSV_BYTES = 1 << 30  # decompressed CSV text
MAX_LINE = 64 << 10  # a FER2013 row is ~8.4 KB
MAX_GZIP_RATIO = 50  # FER2013's .csv.gz expands 3.2-fold
BLOCK = 4096  # rows per preallocated block while streaming a CSV
# FER+ vote columns, in fer2013new.csv order, mapped to FER2013 label ids (None: not a FER2013 class).
FERPLUS_COLUMNS = {"neutral": 6, "happiness": 3, "surprise": 5, "sadness": 4, "anger": 0,
                   "disgust": 1, "fear": 2, "contempt": None, "unknown": None, "NF": None}


def load_dataset(path: str | Path, ferplus: str | Path | None = None, name: str | None = None) -> FaceDataset:
    """Load FER2013 from a .csv/.csv.gz file, a Kaggle-layout folder, or a .zip of that folder.

    With `ferplus` (the path of fer2013new.csv), Training labels become the FER+ annotators'
    majority vote; rows whose majority is contempt / unknown / not-a-face, or a tie, are dropped.
    Test splits keep their FER2013 labels so accuracy stays comparable.
    Anything that is not a regular file or a folder (a FIFO, a device) is refused before it is opened.
    The format is read from `name` (default: the path's own name), e.g. the final name of a staged upload.
    """
    path = Path(path)
    name = (name or path.name).lower()
    try:
        mode = path.stat().st_mode
    except OSError:
        raise ValueError(f"{path}: no such file or folder.") from None
    if stat.S_ISDIR(mode):
        ds = load_folder(path)
    elif not stat.S_ISREG(mode):
        raise ValueError(f"{path}: not a regular file or folder.")
    elif name.endswith(".zip"):
        ds = load_zip(path)
    elif name.endswith((".csv", ".csv.gz")):
        ds = load_csv(path)
    else:
        raise ValueError(f"{path}: expected a .csv, .csv.gz, .zip or a folder with train/ and test/.")
    if ferplus is not None:
        ds = apply_ferplus(ds, ferplus)
    return ds


def check_trainable(ds: FaceDataset) -> None:
    """ValueError unless the dataset has a Training split with at least two emotions in it."""
    _, labels = ds.split("Training")
    if len(np.unique(labels)) < 2:
        raise ValueError(f"{ds.source}: every Training face has the same emotion; a classifier needs at least two.")


# ---------------------------------------------------------------- CSV, streamed

class _Lines:
    """Lines of a plain or gzip file, each at most MAX_LINE bytes, with caps on the total and on gzip's ratio.

    Reading stops at the first cap crossed, so a decompression bomb costs a few MB, not gigabytes.
    """

    def __init__(self, path: Path):
        self.path, self.raw = path, open(path, "rb")
        gz = self.raw.read(2) == b"\x1f\x8b"
        self.raw.seek(0)
        self.f = gzip.GzipFile(fileobj=self.raw) if gz else self.raw
        self.gz, self.total = gz, 0

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()
        self.raw.close()

    def __iter__(self):
        n = 0
        while line := self.f.readline(MAX_LINE + 1):
            n += 1
            self.total += len(line)
            if len(line) > MAX_LINE:
                raise ValueError(f"{self.path}: row {n} is over {MAX_LINE // 1024} KB; not a FER2013 CSV.")
            if self.total > MAX_CSV_BYTES:
                raise ValueError(f"{self.path}: over {MAX_CSV_BYTES >> 20} MB of text; the limit for a dataset.")
            if self.gz and self.total > 16 << 20 and self.total > MAX_GZIP_RATIO * max(self.raw.tell(), 1):
                raise ValueError(f"{self.path}: expands more than {MAX_GZIP_RATIO}-fold; refusing a compression bomb.")
            yield n, line


def load_csv(path: str | Path) -> FaceDataset:
    """Kaggle's fer2013.csv (plain or gzip): columns emotion, pixels (2304 space-separated ints), Usage.

    Streamed row by row into preallocated uint8 blocks: no per-row Python strings are kept, so FER2013
    (301 MB of text) costs about its 82 MB of pixels. Caps: MAX_ROWS rows, MAX_CSV_BYTES of text.
    """
    path = Path(path)
    blocks, labels, usages, codes = [], [], [], {}
    try:
        with _Lines(path) as lines:
            columns = None
            for n, raw in lines:
                line = raw.decode("utf-8").rstrip("\r\n")
                if columns is None:
                    columns = _header(line, path)
                    continue
                if not line.strip():
                    continue
                if len(labels) >= MAX_ROWS:
                    raise ValueError(f"{path}: more than {MAX_ROWS:,} rows; the limit for a dataset.")
                fields = next(csv.reader([line]))
                if len(fields) < len(columns):
                    raise ValueError(f"{path}: row {n}: {len(fields)} fields, expected {len(columns)}.")
                if len(labels) % BLOCK == 0:
                    blocks.append(np.empty((BLOCK, SIZE, SIZE), np.uint8))
                blocks[-1][len(labels) % BLOCK] = _pixels(fields[columns["pixels"]], path, n)
                labels.append(_label(fields[columns["emotion"]], path, n))
                usage = fields[columns["Usage"]].strip() if "Usage" in columns else "Training"
                usages.append(codes.setdefault(usage[:32], len(codes)))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file.") from None
    except (OSError, EOFError, zlib.error, csv.Error) as e:
        raise ValueError(f"{path}: not a readable FER2013 CSV ({type(e).__name__}).") from None
    if columns is None:
        raise ValueError(f"{path}: the file is empty.")
    if not labels:
        raise ValueError(f"{path}: no data rows.")
    images = np.concatenate(blocks)[:len(labels)] if len(blocks) > 1 else blocks[0][:len(labels)]
    names = np.array(list(codes))[np.array(usages)]
    return FaceDataset(images, np.array(labels, np.int64), names, str(path))


def _header(line: str, path: Path) -> dict[str, int]:
    columns = {name.strip(): i for i, name in enumerate(next(csv.reader([line]), []))}
    missing = {"emotion", "pixels"} - set(columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                         "expected the header emotion,pixels,Usage.")
    return columns


def _label(text: str, path: Path, row: int) -> int:
    # NOTE: never echo the cell: a file can hold anything, and the message is shown in the browser.
    text = text.strip()
    if not (text.isdigit() and int(text) < len(EMOTIONS)):
        raise ValueError(f"{path}: row {row}: the emotion is not a label 0-6.")
    return int(text)


def _pixels(text: str, path: Path, row: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy's "could not be read to its end"
        try:
            values = np.fromstring(text, dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning):
            values = None
    if values is None or values.size != SIZE * SIZE:  # only bad rows pay for a split
        count = len(text.split())
        if count != SIZE * SIZE:
            raise ValueError(f"{path}: row {row}: {count} pixel values, expected {SIZE * SIZE}.")
        raise ValueError(f"{path}: row {row}: pixels contain a non-numeric value.")
    if values.min() < 0 or values.max() > 255:
        raise ValueError(f"{path}: row {row}: pixel values must be integers 0-255.")
    return values.astype(np.uint8).reshape(SIZE, SIZE)


def vote_distributions(ds: FaceDataset, ferplus: str | Path) -> np.ndarray:
    """(N, 7) FER+ vote distributions over our classes, rows aligned with fer2013.csv (and so with `ds`).

    Votes for contempt / unknown / not-a-face are left out; a row with no vote for our classes gets its
    FER2013 label as a one-hot. Every row sums to 1.
    """
    v = _ferplus_votes(ds, ferplus)
    out = np.zeros((len(ds), len(EMOTIONS)), np.float64)
    for j, name in enumerate(FERPLUS_COLUMNS):
        if FERPLUS_COLUMNS[name] is not None:
            out[:, FERPLUS_COLUMNS[name]] += v[:, j]
    total = out.sum(1, keepdims=True)
    onehot = np.eye(len(EMOTIONS))[ds.labels]
    return np.where(total > 0, out / np.maximum(total, 1e-12), onehot).astype(np.float32)


def _ferplus_votes(ds: FaceDataset, ferplus: str | Path) -> np.ndarray:
    ferplus = Path(ferplus)
    try:
        votes = pd.read_csv(ferplus)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ValueError(f"{ferplus}: not a readable FER+ CSV ({type(e).__name__}).") from None
    if list(votes.columns[2:]) != list(FERPLUS_COLUMNS) or len(votes) != len(ds):
        raise ValueError(f"{ferplus}: expected {len(ds)} rows with vote columns "
                         f"{','.join(FERPLUS_COLUMNS)} (fer2013new.csv).")
    return votes[list(FERPLUS_COLUMNS)].to_numpy()


def apply_ferplus(ds: FaceDataset, ferplus: str | Path, splits: tuple[str, ...] = ("Training",)) -> FaceDataset:
    """Replace the labels of `splits` by the FER+ majority vote (rows aligned with fer2013.csv).

    Rows of those splits whose majority is contempt / unknown / not-a-face, or a tie, are dropped.
    """
    v = _ferplus_votes(ds, ferplus)
    top = v.argmax(1)
    unique = (v == v.max(1, keepdims=True)).sum(1) == 1
    mapped = np.array([-1 if FERPLUS_COLUMNS[c] is None else FERPLUS_COLUMNS[c] for c in FERPLUS_COLUMNS])[top]
    relabel = np.isin(ds.splits, splits)
    keep = ~relabel | (unique & (mapped >= 0))
    labels = np.where(relabel, mapped, ds.labels)
    return FaceDataset(ds.images[keep], labels[keep].astype(np.int64), ds.splits[keep], ds.source + " +FER+")


def align_dataset(ds: FaceDataset) -> FaceDataset:
    """The dataset with every face aligned by its eyes (what a model trained with `--align` reads).

    Finding the eyes costs ~5 ms a face (3 min for FER2013), so they are kept in runs/cache/, named by the
    SHA-256 of the pixels: the same images never cost it twice, other images never reuse them.
    """
    key = hashlib.sha256(np.ascontiguousarray(ds.images).tobytes()).hexdigest()[:24]
    cache = runs_dir() / "cache" / f"eyes-{key}.npy"
    try:
        eyes = np.load(cache)
        if eyes.shape != (len(ds), 4):
            raise ValueError("stale")
    except (OSError, ValueError):
        eyes = eyes_48(ds.images)
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache) as f:
            np.save(f, eyes)
    return dataclasses.replace(ds, images=align_48(ds.images, eyes))
