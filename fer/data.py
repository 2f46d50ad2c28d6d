"""FER2013 loading: the Kaggle CSV (plain or .gz), the Kaggle folder layout, or that folder as a .zip.

Every loader returns a `FaceDataset`: uint8 images (N, 48, 48), int64 labels in FER2013 order
(see `fer.emotions.EMOTIONS`) and a split name per image. Bad input raises `ValueError` naming
the file and the row or entry, so callers (CLI, training page) can show one clear sentence.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import stat
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from fer.emotions import EMOTIONS

SIZE = 48
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# Kaggle's folder dataset names its two top folders train/ and test/.
FOLDER_SPLITS = {"train": "Training", "test": "Test"}
# Limits: far above any face dataset (FER2013: 35,887 rows, 301 MB of CSV text, ~60 MB as JPEGs), far below
# what would exhaust a small server. Crossing one stops the load at once with one sentence.
MAX_ROWS = 100_000
MAX_CSV_BYTES = 1 << 30  # decompressed CSV text
MAX_LINE = 64 << 10  # a FER2013 row is ~8.4 KB
MAX_GZIP_RATIO = 50  # FER2013's .csv.gz expands 3.2-fold
MAX_ZIP_BYTES = 1 << 30  # all entries, uncompressed
MAX_ENTRIES = 200_000
MAX_ENTRY_BYTES = 20 << 20  # one image file
MAX_ENTRY_RATIO = 200  # images are already compressed; a bomb is not
ZIP_CHUNK = 1 << 20  # an entry is inflated this much at a time (bzip2/lzma entries, unboundable, are refused)
MAX_IMAGE_PIXELS = 4_000_000  # per image, read from its header before decoding
MAX_TOTAL_PIXELS = 400_000_000  # all images (FER2013: 83 M)
BLOCK = 4096  # rows per preallocated block while streaming a CSV
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


# ---------------------------------------------------------------- folders and zips of images

def load_folder(root: str | Path) -> FaceDataset:
    """Kaggle folder layout: train/<class>/*.jpg and test/<class>/*.jpg (optionally inside one wrapping folder).

    Only those folders are walked (never the whole tree below `root`), symlinks are not followed, and
    anything but regular files is skipped.
    """
    root = Path(root)
    base = _split_parent(root)
    entries = []
    for split_dir in sorted(p for p in base.iterdir() if p.name.lower() in FOLDER_SPLITS and p.is_dir()):
        for dirpath, dirs, names in os.walk(split_dir, onerror=_walk_error(root)):
            dirs.sort()
            for name in sorted(names):
                p = Path(dirpath) / name
                if not p.is_symlink() and p.is_file():
                    if len(entries) >= MAX_ENTRIES:
                        raise ValueError(f"{root}: more than {MAX_ENTRIES:,} files; the limit for a dataset.")
                    entries.append((p.relative_to(base).as_posix(), p.stat().st_size, _file_reader(p, root, base)))
    return _from_entries(entries, str(root))


def _split_parent(root: Path) -> Path:
    """`root`, or its only subfolder, whichever holds train/ and test/; else a clear error."""
    def has_splits(d: Path) -> bool:
        try:
            return {p.name.lower() for p in d.iterdir() if p.is_dir()} >= set(FOLDER_SPLITS)
        except OSError:
            return False

    if has_splits(root):
        return root
    try:
        subdirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    except OSError as e:
        raise ValueError(f"{root}: cannot be read ({e.strerror or type(e).__name__}).") from None
    if len(subdirs) == 1 and has_splits(subdirs[0]):
        return subdirs[0]
    raise ValueError(f"{root}: expected the folders train/ and test/, each with one folder per emotion.")


def _walk_error(root: Path):
    def fail(e: OSError) -> None:
        raise ValueError(f"{root}: a folder in it cannot be read ({e.strerror or type(e).__name__}).")
    return fail


def _file_reader(p: Path, root: Path, base: Path):
    def read() -> bytes:
        try:
            return p.read_bytes()
        except OSError as e:
            raise ValueError(f"{root}: {p.relative_to(base).as_posix()} cannot be read "
                             f"({e.strerror or type(e).__name__}).") from None
    return read


def load_zip(path: str | Path) -> FaceDataset:
    """The Kaggle folder layout inside a zip. Read in memory, never extracted.

    Checked from the zip's directory before any entry is read: entry count, each entry's and the total
    uncompressed size, each entry's compression ratio, absolute or '..' names and symlinks.
    """
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{path}: not a readable zip file ({type(e).__name__}).") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        check_zip_entries(infos, str(path))

        def reader(info: zipfile.ZipInfo):
            def read() -> bytes:
                try:
                    return read_entry(zf, info)
                except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
                    raise ValueError(f"{path}: entry {info.filename!r} is corrupt ({type(e).__name__}).") from None
            return read

        return _from_entries([(i.filename, i.file_size, reader(i)) for i in infos], str(path))


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """One entry's bytes, inflated ZIP_CHUNK at a time: an entry that holds more than its declared size is
    cut there (and fails its CRC) without ever being inflated whole. (ZipFile.read inflates everything a
    deflate stream holds in one call before cutting it to the declared size: ~1.2 GB for a lying 1 KB entry.)"""
    out = bytearray()
    with zf.open(info) as f:
        while len(out) <= info.file_size and (chunk := f.read(min(ZIP_CHUNK, info.file_size + 1 - len(out)))):
            out += chunk
    return bytes(out)


def check_zip_entries(infos: list[zipfile.ZipInfo], source: str) -> None:
    """Refuse a hostile archive from its directory alone (nothing read or extracted yet)."""
    if len(infos) > MAX_ENTRIES:
        raise ValueError(f"{source}: {len(infos):,} entries, more than the {MAX_ENTRIES:,} allowed.")
    # Declared sizes are binding: zipfile stops reading an entry at its declared size.
    total = sum(i.file_size for i in infos)
    if total > MAX_ZIP_BYTES:
        raise ValueError(f"{source}: unpacks to {total / 1e6:.0f} MB, over the {MAX_ZIP_BYTES / 1e6:.0f} MB limit.")
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{source}: an entry is compressed with method {info.compress_type}; only stored and "
                             "deflated entries are read.")
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in PurePosixPath(name.replace("\\", "/")).parts \
                or (len(name) > 1 and name[1] == ":"):
            raise ValueError(f"{source}: an entry has an absolute or '..' path; refusing the zip.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ValueError(f"{source}: an entry is a symbolic link; refusing the zip.")
        if info.file_size > MAX_ENTRY_BYTES:
            raise ValueError(f"{source}: an entry unpacks to {info.file_size / 1e6:.0f} MB, over the "
                             f"{MAX_ENTRY_BYTES / 1e6:.0f} MB limit for one image.")
        if info.file_size > 1 << 20 and info.file_size > MAX_ENTRY_RATIO * max(info.compress_size, 1):
            raise ValueError(f"{source}: an entry expands more than {MAX_ENTRY_RATIO}-fold; refusing a zip bomb.")


def load_extra(root: str | Path) -> FaceDataset:
    """Extra training faces in a folder of train/<emotion>/*.png (e.g. runs/contributed): all Training."""
    root = Path(root)
    split_dir = root / "train"
    if not split_dir.is_dir():
        raise ValueError(f"{root}: expected a train/ folder with one folder per emotion.")
    entries = [(p.relative_to(root).as_posix(), p.stat().st_size, _file_reader(p, root, root))
               for p in sorted(split_dir.rglob("*")) if p.is_file() and not p.is_symlink()]
    return _from_entries(entries, str(root), required=("Training",))


def _from_entries(entries, source: str, required: tuple[str, ...] = tuple(FOLDER_SPLITS.values())) -> FaceDataset:
    """Shared by folder and zip: entries are (relative posix path, size in bytes, () -> bytes)."""
    images, labels, splits, stray, pixels = [], [], [], 0, 0
    for name, size, read in entries:
        parts = PurePosixPath(name).parts
        # Tolerate one wrapping folder (fer2013/train/...) and skip OS litter such as __MACOSX.
        if parts and parts[0].lower() not in FOLDER_SPLITS and len(parts) == 4:
            parts = parts[1:]
        litter = any(p.startswith((".", "__MACOSX")) for p in parts)
        if litter or PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if len(parts) != 3 or parts[0].lower() not in FOLDER_SPLITS:
            stray += 1
            continue
        split, cls = parts[0].lower(), parts[1].lower()
        if cls not in EMOTIONS:
            raise ValueError(f"{source}: unknown class folder {parts[1][:40]!r} "
                             f"(expected one of {', '.join(EMOTIONS)}).")
        if size > MAX_ENTRY_BYTES:
            raise ValueError(f"{source}: {name} is over {MAX_ENTRY_BYTES >> 20} MB; not a face image.")
        data = read()
        pixels += _image_pixels(data, name, source)
        if pixels > MAX_TOTAL_PIXELS:
            raise ValueError(f"{source}: the images hold over {MAX_TOTAL_PIXELS / 1e6:.0f} megapixels in all; "
                             "the limit for a dataset (resize them to 48x48 first).")
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"{source}: {name} is not a readable image.")
        if img.shape != (SIZE, SIZE):
            img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        images.append(img)
        labels.append(EMOTIONS.index(cls))
        splits.append(FOLDER_SPLITS[split])
    if stray:
        raise ValueError(f"{source}: {stray} image(s) are not inside train/<emotion>/ or test/<emotion>/.")
    for split in required:
        if split not in splits:
            raise ValueError(f"{source}: split {split!r} has no images.")
    return FaceDataset(np.stack(images), np.array(labels, np.int64), np.array(splits), source)


def _image_pixels(data: bytes, name: str, source: str) -> int:
    """The image's pixel count from its header (nothing decoded); refuses one over MAX_IMAGE_PIXELS."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w, h = Image.open(io.BytesIO(data)).size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValueError(f"{source}: {name} is not a readable image.") from None
    if w * h > MAX_IMAGE_PIXELS:
        raise ValueError(f"{source}: {name} is {w}x{h}; images over {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels "
                         "are refused (a face dataset needs 48x48).")
    return w * h


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
