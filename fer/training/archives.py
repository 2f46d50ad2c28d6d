"""Faces from folders and zips of images: the Kaggle layout (train/<class>/*.jpg, test/...) and extra faces.

Walks only the expected folders, never follows links, and refuses zip bombs and oversized images with one
sentence (`ValueError`), as `fer.training.data` does for the CSV.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from fer.emotions import EMOTIONS
from fer.training.dataset import SIZE, FaceDataset

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# Kaggle's folder dataset names its two top folders train/ and test/.
FOLDER_SPLITS = {"train": "Training", "test": "Test"}
MAX_ZIP_BYTES = 1 << 30  # all entries, uncompressed
MAX_ENTRIES = 200_000
MAX_ENTRY_BYTES = 20 << 20  # one image file
MAX_ENTRY_RATIO = 200  # images are already compressed; a bomb is not
ZIP_CHUNK = 1 << 20  # an entry is inflated this much at a time (bzip2/lzma entries, unboundable, are refused)
MAX_IMAGE_PIXELS = 4_000_000  # per image, read from its header before decoding
MAX_TOTAL_PIXELS = 400_000_000  # all images (FER2013: 83 M)


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


def _is_image(parts: tuple[str, ...]) -> bool:
    """An image file's path, not OS litter (hidden files, __MACOSX)."""
    return bool(parts) and PurePosixPath(parts[-1]).suffix.lower() in IMAGE_SUFFIXES \
        and not any(p.startswith((".", "__MACOSX")) for p in parts)


def _from_entries(entries, source: str, required: tuple[str, ...] = tuple(FOLDER_SPLITS.values())) -> FaceDataset:
    """Shared by folder and zip: entries are (relative posix path, size in bytes, () -> bytes)."""
    images, labels, splits, stray, pixels = [], [], [], 0, 0
    for name, size, read in entries:
        parts = PurePosixPath(name).parts
        # Tolerate one wrapping folder (fer2013/train/...) and skip OS litter such as __MACOSX.
        if parts and parts[0].lower() not in FOLDER_SPLITS and len(parts) == 4:
            parts = parts[1:]
        if not _is_image(parts):
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


def load_real_faces(root: str | Path) -> tuple[FaceDataset, np.ndarray, np.ndarray]:
    """(faces, person of each, file name of each without its suffix) from a folder of <emotion>/<person>_*.png,
    e.g. ../shared/datasets/ckplus-dev.

    The person is the file name up to its first "_" (CK+'s S###): real faces are split by person, never by
    file, because one person's photos of one expression are near copies. All faces are split "Training".
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder of real faces (<emotion>/<person>_*.png).")
    entries = [(f"train/{p.relative_to(root).as_posix()}", p.stat().st_size, _file_reader(p, root, root))
               for d in sorted(root.iterdir()) if d.is_dir() and not d.is_symlink() and d.name in EMOTIONS
               for p in sorted(d.iterdir()) if p.is_file() and not p.is_symlink()]
    if not entries:
        raise ValueError(f"{root}: no folder named after an emotion ({', '.join(EMOTIONS)}).")
    ds = _from_entries(entries, str(root), required=("Training",))
    names = np.array([PurePosixPath(name).stem for name, _, _ in entries if _is_image(PurePosixPath(name).parts)])
    if len(names) != len(ds):
        raise ValueError(f"{root}: {len(ds)} faces but {len(names)} names; name each file <person>_*.png.")
    return ds, np.array([n.split("_")[0] for n in names]), names


def person_folds(people: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The fold (0..k-1) of each face: every person's faces in one fold, people shuffled by `seed` and dealt out
    in turn, so folds differ by at most one person."""
    names = sorted(set(people.tolist()))
    if not 2 <= k <= len(names):
        raise ValueError(f"{k} folds for {len(names)} people: need 2 to {len(names)}.")
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[j]: i % k for i, j in enumerate(order)}
    return np.array([fold_of[p] for p in people.tolist()], np.int64)


def real_training_faces(root: str | Path, k: int, fold: int | None) -> FaceDataset:
    """The real faces a run trains on: every person's, or (fold given) those of the people outside that fold,
    who alone are then scored (benchmarks/ckplus.py --folds)."""
    ds, people, _ = load_real_faces(root)
    if fold is None:
        return ds
    if not 0 <= fold < k:
        raise ValueError(f"--real-fold {fold}: must be 0 to {k - 1}.")
    keep = person_folds(people, k) != fold  # seed 0, as the benchmark deals them
    return FaceDataset(ds.images[keep], ds.labels[keep], ds.splits[keep], ds.source)
