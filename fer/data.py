"""FER2013 loading: the Kaggle CSV (plain or .gz), the Kaggle folder layout, or that folder as a .zip.

Every loader returns a `FaceDataset`: uint8 images (N, 48, 48), int64 labels in FER2013 order
(see `fer.emotions.EMOTIONS`) and a split name per image. Bad input raises `ValueError` naming
the file and the row or entry, so callers (CLI, training page) can show one clear sentence.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pandas as pd

from fer.emotions import EMOTIONS

SIZE = 48
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# Kaggle's folder dataset names its two top folders train/ and test/.
FOLDER_SPLITS = {"train": "Training", "test": "Test"}
MAX_ZIP_BYTES = 1 << 30  # 1 GiB uncompressed: FER2013 as JPEGs is ~60 MB, so this only stops bombs
MAX_ZIP_ENTRIES = 200_000
# FER+ vote columns, in fer2013new.csv order, mapped to FER2013 label ids (None: not a FER2013 class).
FERPLUS_COLUMNS = {"neutral": 6, "happiness": 3, "surprise": 5, "sadness": 4, "anger": 0,
                   "disgust": 1, "fear": 2, "contempt": None, "unknown": None, "NF": None}


@dataclass
class FaceDataset:
    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, 0..6
    splits: np.ndarray  # (N,) str: Training / PublicTest / PrivateTest, or Training / Test for folders
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def split_names(self) -> list[str]:
        return sorted(set(self.splits.tolist()))

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one split; a clear error when the split is absent or empty."""
        mask = self.splits == name
        if not mask.any():
            raise ValueError(f"{self.source}: split {name!r} is empty or missing "
                             f"(available: {', '.join(self.split_names) or 'none'}).")
        return self.images[mask], self.labels[mask]


def load_dataset(path: str | Path, ferplus: str | Path | None = None) -> FaceDataset:
    """Load FER2013 from a .csv/.csv.gz file, a Kaggle-layout folder, or a .zip of that folder.

    With `ferplus` (the path of fer2013new.csv), Training labels become the FER+ annotators'
    majority vote; rows whose majority is contempt / unknown / not-a-face, or a tie, are dropped.
    Test splits keep their FER2013 labels so accuracy stays comparable.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder.")
    if path.is_dir():
        ds = load_folder(path)
    elif path.suffix.lower() == ".zip":
        ds = load_zip(path)
    elif path.name.lower().endswith((".csv", ".csv.gz")):
        ds = load_csv(path)
    else:
        raise ValueError(f"{path}: expected a .csv, .csv.gz, .zip or a folder with train/ and test/.")
    if ferplus is not None:
        ds = apply_ferplus(ds, ferplus)
    return ds


def load_csv(path: str | Path) -> FaceDataset:
    """Kaggle's fer2013.csv: columns emotion, pixels (2304 space-separated ints), Usage."""
    path = Path(path)
    try:
        with _open_text(path) as f:
            df = pd.read_csv(f, dtype=str, keep_default_na=False)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError, csv.Error) as e:
        raise ValueError(f"{path}: not a readable FER2013 CSV ({e}).") from None
    missing = {"emotion", "pixels"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                         "expected the header emotion,pixels,Usage.")
    if len(df) == 0:
        raise ValueError(f"{path}: no data rows.")
    labels = _parse_labels(df["emotion"], path)
    images = _parse_pixels(df["pixels"], path)
    splits = df["Usage"].to_numpy(dtype=str) if "Usage" in df else np.full(len(df), "Training")
    return FaceDataset(images, labels, splits, str(path))


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8")


def _parse_labels(col: pd.Series, path: Path) -> np.ndarray:
    values = pd.to_numeric(col.str.strip(), errors="coerce")
    bad = values.isna() | ~values.isin(range(len(EMOTIONS)))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}: row {i + 2}: emotion {col.iloc[i]!r} is not a label 0-6.")
    return values.to_numpy(dtype=np.int64)


def _parse_pixels(col: pd.Series, path: Path) -> np.ndarray:
    # Fast path: let pandas' C parser read all rows as one space-separated table.
    try:
        table = pd.read_csv(io.StringIO("\n".join(col)), sep=" ", header=None, dtype=np.float32,
                            skip_blank_lines=False, engine="c")
        flat = table.to_numpy()
        if flat.shape == (len(col), SIZE * SIZE) and not np.isnan(flat).any() \
                and flat.min() >= 0 and flat.max() <= 255 and (flat == np.round(flat)).all():
            return flat.astype(np.uint8).reshape(-1, SIZE, SIZE)
    except (ValueError, pd.errors.ParserError):
        pass
    # Slow path, only on bad data: find the first offending row and say what is wrong with it.
    for i, text in enumerate(col):
        parts = text.split()
        if len(parts) != SIZE * SIZE:
            raise ValueError(f"{path}: row {i + 2}: {len(parts)} pixel values, expected {SIZE * SIZE}.")
        try:
            row = np.array(parts, dtype=np.float64)
        except ValueError:
            raise ValueError(f"{path}: row {i + 2}: pixels contain a non-numeric value.") from None
        if row.min() < 0 or row.max() > 255 or (row != np.round(row)).any():
            raise ValueError(f"{path}: row {i + 2}: pixel values must be integers 0-255.")
    raise ValueError(f"{path}: pixel column could not be parsed.")


def load_folder(root: str | Path) -> FaceDataset:
    """Kaggle folder layout: train/<class>/*.jpg and test/<class>/*.jpg."""
    root = Path(root)
    entries = [(p.relative_to(root).as_posix(), p.read_bytes) for p in sorted(root.rglob("*")) if p.is_file()]
    return _from_entries(entries, str(root))


def load_zip(path: str | Path) -> FaceDataset:
    """The Kaggle folder layout inside a zip. Read in memory, never extracted; bombs and unsafe names refused."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{path}: not a readable zip file ({e}).") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_ZIP_ENTRIES:
            raise ValueError(f"{path}: {len(infos)} entries, more than the {MAX_ZIP_ENTRIES} allowed.")
        # Declared sizes are binding: zipfile stops reading an entry at its declared size.
        total = sum(i.file_size for i in infos)
        if total > MAX_ZIP_BYTES:
            raise ValueError(f"{path}: unpacks to {total / 1e6:.0f} MB, over the "
                             f"{MAX_ZIP_BYTES / 1e6:.0f} MB limit.")
        for info in infos:
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in PurePosixPath(name.replace("\\", "/")).parts \
                    or (len(name) > 1 and name[1] == ":"):
                raise ValueError(f"{path}: entry {name!r} has an absolute or '..' path; refusing the zip.")

        def reader(info: zipfile.ZipInfo):
            def read() -> bytes:
                try:
                    return zf.read(info)
                except (zipfile.BadZipFile, OSError, EOFError) as e:
                    raise ValueError(f"{path}: entry {info.filename!r} is corrupt ({e}).") from None
            return read

        return _from_entries([(i.filename, reader(i)) for i in infos], str(path))


def _from_entries(entries, source: str) -> FaceDataset:
    """Shared by folder and zip: entries are (relative posix path, () -> bytes)."""
    images, labels, splits = [], [], []
    for name, read in entries:
        parts = PurePosixPath(name).parts
        # Tolerate one wrapping folder (fer2013/train/...) and skip OS litter such as __MACOSX.
        if parts and parts[0] not in FOLDER_SPLITS and len(parts) == 4:
            parts = parts[1:]
        litter = any(p.startswith((".", "__MACOSX")) for p in parts)
        if litter or PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if len(parts) != 3 or parts[0].lower() not in FOLDER_SPLITS:
            raise ValueError(f"{source}: entry {name!r} is not in train/<class>/ or test/<class>/.")
        split, cls = parts[0].lower(), parts[1].lower()
        if cls not in EMOTIONS:
            raise ValueError(f"{source}: entry {name!r}: unknown class folder {parts[1]!r} "
                             f"(expected one of {', '.join(EMOTIONS)}).")
        img = cv2.imdecode(np.frombuffer(read(), np.uint8), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"{source}: entry {name!r} is not a readable image.")
        if img.shape != (SIZE, SIZE):
            img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        images.append(img)
        labels.append(EMOTIONS.index(cls))
        splits.append(FOLDER_SPLITS[split])
    for split in FOLDER_SPLITS.values():
        if split not in splits:
            raise ValueError(f"{source}: split {split!r} has no images.")
    return FaceDataset(np.stack(images), np.array(labels, np.int64), np.array(splits), source)


def apply_ferplus(ds: FaceDataset, ferplus: str | Path, splits: tuple[str, ...] = ("Training",)) -> FaceDataset:
    """Replace the labels of `splits` by the FER+ majority vote (rows aligned with fer2013.csv).

    Rows of those splits whose majority is contempt / unknown / not-a-face, or a tie, are dropped.
    """
    ferplus = Path(ferplus)
    try:
        votes = pd.read_csv(ferplus)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ValueError(f"{ferplus}: not a readable FER+ CSV ({e}).") from None
    if list(votes.columns[2:]) != list(FERPLUS_COLUMNS) or len(votes) != len(ds):
        raise ValueError(f"{ferplus}: expected {len(ds)} rows with vote columns "
                         f"{','.join(FERPLUS_COLUMNS)} (fer2013new.csv).")
    v = votes[list(FERPLUS_COLUMNS)].to_numpy()
    top = v.argmax(1)
    unique = (v == v.max(1, keepdims=True)).sum(1) == 1
    mapped = np.array([-1 if FERPLUS_COLUMNS[c] is None else FERPLUS_COLUMNS[c] for c in FERPLUS_COLUMNS])[top]
    relabel = np.isin(ds.splits, splits)
    keep = ~relabel | (unique & (mapped >= 0))
    labels = np.where(relabel, mapped, ds.labels)
    return FaceDataset(ds.images[keep], labels[keep].astype(np.int64), ds.splits[keep], ds.source + " +FER+")
