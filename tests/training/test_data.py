import gzip
import os
import stat
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

from fer.emotions import EMOTIONS
from fer.training import evaluate
from fer.training.archives import MAX_ZIP_BYTES
from fer.training.data import apply_ferplus, check_trainable, load_dataset
from tests.conftest import FER_CSV, ROOT, synthetic_faces, write_csv


def test_csv_loads_images_labels_and_splits(tiny_csv):
    ds = load_dataset(tiny_csv)
    images, labels = synthetic_faces(70)
    assert ds.images.dtype == np.uint8 and ds.images.shape == (70, 48, 48)
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.split_names == ["PrivateTest", "PublicTest", "Training"]
    assert len(ds.split("Training")[1]) == 42


def test_gzipped_csv_reads_the_same(tiny_csv, tmp_path):
    gz = tmp_path / "tiny.csv.gz"
    gz.write_bytes(gzip.compress(tiny_csv.read_bytes()))
    np.testing.assert_array_equal(load_dataset(gz).images, load_dataset(tiny_csv).images)


def test_folder_and_zip_give_the_same_dataset(tiny_folder, tiny_zip):
    a, b = load_dataset(tiny_folder), load_dataset(tiny_zip)
    assert a.split_names == ["Test", "Training"]
    assert len(a) == len(EMOTIONS) * 6
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.images, b.images)


def _bad_csv(tmp_path, pixels: str, label: str = "3"):
    images, labels = synthetic_faces(3)
    path = write_csv(tmp_path / "bad.csv", images, labels, ["Training"] * 3)
    lines = path.read_text().splitlines()
    lines[2] = f"{label},{pixels},Training"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("pixels,label,message", [
    ("1 2 3", "3", r"row 3: 3 pixel values, expected 2304"),
    (" ".join(["7"] * 2303 + ["x"]), "3", r"row 3: pixels contain a non-numeric value"),
    (" ".join(["300"] * 2304), "3", r"row 3: pixel values must be integers 0-255"),
    (" ".join(["7"] * 2304), "9", r"row 3: the emotion is not a label 0-6"),
    (" ".join(["7"] * 2304), "happy", r"row 3: the emotion is not a label 0-6"),
])
def test_bad_csv_rows_name_file_and_row(tmp_path, pixels, label, message):
    path = _bad_csv(tmp_path, pixels, label)
    with pytest.raises(ValueError, match=message) as e:
        load_dataset(path)
    assert "bad.csv" in str(e.value)


def test_csv_without_expected_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing column"):
        load_dataset(path)


def test_unknown_class_folder(tiny_folder):
    (tiny_folder / "train" / "bored").mkdir()
    first = next((tiny_folder / "train" / "happy").glob("*.png"))
    first.rename(tiny_folder / "train" / "bored" / first.name)
    with pytest.raises(ValueError, match="unknown class folder 'bored'"):
        load_dataset(tiny_folder)


def test_unreadable_image(tiny_folder):
    (tiny_folder / "train" / "sad" / "junk.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"train/sad/junk.jpg is not a readable image"):
        load_dataset(tiny_folder)


def test_empty_split(tiny_folder):
    for p in (tiny_folder / "test").rglob("*.png"):
        p.unlink()
    with pytest.raises(ValueError, match="split 'Test' has no images"):
        load_dataset(tiny_folder)


def test_missing_split_is_a_clear_error(tiny_folder):
    with pytest.raises(ValueError, match="split 'PrivateTest' is empty or missing"):
        load_dataset(tiny_folder).split("PrivateTest")


@pytest.mark.parametrize("name", ["../evil/train/happy/x.png", "/etc/train/happy/x.png"])
def test_zip_with_unsafe_paths_is_refused(tiny_zip, name):
    with zipfile.ZipFile(tiny_zip, "a") as zf:
        zf.writestr(name, b"x")
    with pytest.raises(ValueError, match="absolute or '..' path"):
        load_dataset(tiny_zip)


def test_zip_with_a_symlink_entry_is_refused(tiny_zip):
    info = zipfile.ZipInfo("train/happy/link.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tiny_zip, "a") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ValueError, match="symbolic link"):
        load_dataset(tiny_zip)


@pytest.mark.parametrize("size,message", [(MAX_ZIP_BYTES + 1, "over the .* limit"),  # all entries together
                                          (1008 << 20, "over the 21 MB limit for one image")])  # one entry
def test_zip_bombs_are_refused_from_the_directory(tmp_path, size, message):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("train/happy/a.png", "w", force_zip64=True) as f:
            for _ in range(size >> 24):
                f.write(bytes(1 << 24))
            f.write(bytes(size % (1 << 24)))
    assert path.stat().st_size < 5_000_000
    with pytest.raises(ValueError, match=message):
        load_dataset(path)


def test_huge_images_are_refused_from_their_header(tmp_path):
    """A 4000x4000 PNG compresses to a few KB; its size is read from the header, before any decoding."""
    big = cv2.imencode(".png", np.zeros((4000, 4000), np.uint8))[1].tobytes()
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(3):
            zf.writestr(f"train/happy/{i}.png", big)
    with pytest.raises(ValueError, match="4000x4000; images over 4 megapixels are refused"):
        load_dataset(path)


def test_gzip_bomb_is_refused_early(tmp_path):
    """200,000 identical valid rows: 1 MB gzipped, 1.7 GB of text. Refused by the expansion ratio."""
    row = ("3," + " ".join(["7"] * 2304) + ",Training\n").encode()
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(b"emotion,pixels,Usage\n")
        for _ in range(200):
            f.write(row * 1000)
    assert path.stat().st_size < 5_000_000
    with pytest.raises(ValueError, match="expands more than 50-fold"):
        load_dataset(path)


def test_a_line_without_end_is_refused(tmp_path):
    path = tmp_path / "one-line.csv.gz"
    path.write_bytes(gzip.compress(b"emotion,pixels,Usage\n3," + b"7 " * 200_000))
    with pytest.raises(ValueError, match="row 2 is over 64 KB"):
        load_dataset(path)


def test_a_bad_cell_is_never_echoed(tmp_path):
    path = _bad_csv(tmp_path, " ".join(["7"] * 2304), label="sk-live-SECRET-TOKEN")
    with pytest.raises(ValueError) as e:
        load_dataset(path)
    assert "SECRET" not in str(e.value) and "row 3" in str(e.value)


def test_a_fifo_is_refused_before_it_is_opened(tmp_path):
    fifo = tmp_path / "x.csv"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file or folder"):
        load_dataset(fifo)  # opening a FIFO with no writer would block forever


@pytest.mark.parametrize("content,message", [(b"", "the file is empty"), (b"emotion,pixels,Usage\n", "no data rows")])
def test_empty_csv_names_the_file(tmp_path, content, message):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"empty.csv: {message}"):
        load_dataset(path)


def test_a_folder_without_train_and_test_is_refused_without_walking_it(tmp_path):
    (tmp_path / "deep" / "x").mkdir(parents=True)
    (tmp_path / "deep" / "x" / "private-notes.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="expected the folders train/ and test/") as e:
        load_dataset(tmp_path)
    assert "private-notes" not in str(e.value)


def test_a_stray_file_is_counted_not_named(tiny_folder):
    (tiny_folder / "notes.png").write_bytes(b"x")  # beside train/ and test/: never even looked at
    (tiny_folder / "train" / "holiday.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="1 image\\(s\\) are not inside") as e:
        load_dataset(tiny_folder)
    assert "holiday" not in str(e.value)


def test_the_root_folder_is_refused_at_once():
    with pytest.raises(ValueError, match="expected the folders train/ and test/"):
        load_dataset("/")


def test_a_single_emotion_dataset_cannot_be_trained_on(tmp_path):
    images, _ = synthetic_faces(10)
    path = write_csv(tmp_path / "one.csv", images, np.full(10, 3), ["Training"] * 10)
    with pytest.raises(ValueError, match="same emotion"):
        check_trainable(load_dataset(path))


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"PK nope")
    with pytest.raises(ValueError, match="not a readable zip"):
        load_dataset(path)


@pytest.mark.skipif(not FER_CSV.exists(), reason="needs ../shared/datasets")
def test_ferplus_relabels_training_only():
    ds = load_dataset(FER_CSV)
    fp = load_dataset(FER_CSV, ferplus=FER_CSV.parent / "fer2013new.csv")
    for split in ("PublicTest", "PrivateTest"):
        np.testing.assert_array_equal(fp.split(split)[1], ds.split(split)[1])
    n_train = len(fp.split("Training")[1])
    assert 20_000 < n_train < len(ds.split("Training")[1])


def _votes(path, tiny_ds, private_votes):
    """A fer2013new.csv for tiny_csv: Training rows vote 'neutral'; PrivateTest rows get `private_votes`."""
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    rows, k = [header], 0
    for i, usage in enumerate(tiny_ds.splits):
        if usage == "PrivateTest":
            votes = private_votes[k % len(private_votes)]
            k += 1
        else:
            votes = [10, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        rows.append(f"{usage},fer{i:07d}.png," + ",".join(map(str, votes)))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_ferplus_relabels_the_chosen_splits_and_drops_rows_without_a_majority(tiny_csv, tmp_path):
    ds = load_dataset(tiny_csv)
    happy, tie = [1, 8, 1, 0, 0, 0, 0, 0, 0, 0], [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]
    contempt = [0, 0, 0, 0, 0, 0, 0, 9, 1, 0]
    votes = _votes(tmp_path / "new.csv", ds, [happy, tie, contempt])
    fp = apply_ferplus(ds, votes, splits=("PrivateTest",))
    np.testing.assert_array_equal(fp.split("Training")[1], ds.split("Training")[1])  # untouched
    _, y = fp.split("PrivateTest")
    assert len(y) == 5 and set(y) == {EMOTIONS.index("happy")}  # 14 rows: 5 happy, 5 ties, 4 contempt


def test_evaluate_ferplus_scores_against_the_majority_labels(tiny_csv, tmp_path):
    ds = load_dataset(tiny_csv)
    happy = [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]
    votes = _votes(tmp_path / "new.csv", ds, [happy])
    m = evaluate.evaluate(None, tiny_csv, "PrivateTest", ferplus=votes)
    assert m["label_source"] == "FER+ majority" and m["n"] == 14
    assert np.array(m["confusion_matrix"])[EMOTIONS.index("happy")].sum() == 14  # every true label is happy


def _lying_zip(path, holds: int, declares: int = 1024) -> None:
    """A zip whose one entry holds `holds` zero bytes (deflated) while its directory declares `declares`."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("train/happy/a.png", "w", force_zip64=True) as f:
            for _ in range(holds >> 24):
                f.write(bytes(1 << 24))
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24:central + 28] = declares.to_bytes(4, "little")  # uncompressed size in the directory
    path.write_bytes(bytes(data))


def test_an_entry_holding_more_than_it_declares_is_refused_within_its_declared_size(tmp_path):
    """1 GB of zeros behind a declared 1 KB: refused in one sentence, never inflated whole (peak memory)."""
    path = tmp_path / "liar.zip"
    _lying_zip(path, 1 << 30)
    code = ("import tracemalloc, sys; tracemalloc.start()\nfrom fer.training.data import load_dataset\n"
            f"try:\n    load_dataset({str(path)!r})\nexcept ValueError as e:\n    print(e)\n"
            "print(tracemalloc.get_traced_memory()[1])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    message, peak = out.stdout.strip().splitlines()
    assert "is corrupt" in message and "\n" not in message, out.stderr
    assert int(peak) < 64 << 20


def test_bzip2_and_lzma_entries_are_refused(tiny_zip):
    with zipfile.ZipFile(tiny_zip, "a") as zf:
        zf.writestr("train/happy/extra.png", b"x" * 100, compress_type=zipfile.ZIP_BZIP2)
    with pytest.raises(ValueError, match="only stored and deflated entries are read"):
        load_dataset(tiny_zip)
