"""Peak memory and time of loading datasets and photos, each case in a fresh process.

    python -m benchmarks.load_memory [--fer ../shared/datasets/fer2013.csv.gz]

Cases: FER2013 (.csv.gz), a gzip bomb (200,000 identical valid rows, ~1 MB), a zip bomb (one 1,008 MiB
entry, ~1 MB), a zip of 3,000 PNGs of 4000x4000 pixels, and a 38 MP JPEG photo. Peak RSS is the
process's peak resident size (VmHWM, reset just before the load) minus its size then (after the imports).
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from fer.files import ROOT, SHARED_FER

PROBE = """
import json, sys, time
from fer.training.data import load_dataset
from fer.vision.images import load_image

def status_mb(field):
    return int(open("/proc/self/status").read().split(field + ":")[1].split()[0]) / 1024

kind, path = sys.argv[1], sys.argv[2]
open("/proc/self/clear_refs", "w").write("5")  # resets the peak (VmHWM) to the current size: imports don't count
base, t0 = status_mb("VmRSS"), time.perf_counter()
try:
    out = load_image(path).shape if kind == "photo" else len(load_dataset(path))
except ValueError as e:
    out = "refused: " + str(e).split(": ", 1)[-1]
seconds = time.perf_counter() - t0
peak = status_mb("VmHWM") - base
print(json.dumps({"result": str(out), "seconds": round(seconds, 2), "peak_mb": round(peak, 1)}))
"""


def make_cases(d: Path, fer: Path) -> list[tuple[str, str, Path]]:
    cases = [("FER2013 .csv.gz", "data", fer)] if fer.is_file() else []
    row = ("3," + " ".join(["7"] * 2304) + ",Training\n").encode()
    with gzip.open(d / "bomb.csv.gz", "wb", compresslevel=9) as f:
        f.write(b"emotion,pixels,Usage\n")
        for _ in range(200):
            f.write(row * 1000)
    with zipfile.ZipFile(d / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("train/happy/a.png", "w", force_zip64=True) as f:
        for _ in range(63):
            f.write(bytes(16 << 20))
    png = cv2.imencode(".png", np.zeros((4000, 4000), np.uint8))[1].tobytes()
    with zipfile.ZipFile(d / "huge-pngs.zip", "w") as zf:
        for i in range(3000):
            zf.writestr(f"train/{('happy', 'sad')[i % 2]}/{i}.png", png)
    rng = np.random.default_rng(0)  # smooth content, like a photo: a 38 MP JPEG of a few MB
    photo = cv2.resize(rng.integers(0, 255, (50, 76, 3), dtype=np.uint8), (7550, 5030), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(d / "38mp.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return cases + [("gzip bomb: 200,000 identical rows", "data", d / "bomb.csv.gz"),
                    ("zip bomb: one 1,008 MiB entry", "data", d / "bomb.zip"),
                    ("zip of 3,000 PNGs of 4000x4000", "data", d / "huge-pngs.zip"),
                    ("38 MP JPEG photo", "photo", d / "38mp.jpg")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fer", type=Path, default=SHARED_FER)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'case':36s} {'file MB':>8s} {'peak MB':>8s} {'seconds':>8s}  result")
        for name, kind, path in make_cases(Path(tmp), a.fer):
            out = subprocess.run([sys.executable, "-c", PROBE, kind, str(path)], cwd=ROOT, capture_output=True,
                                 text=True)
            if out.returncode:
                print(f"{name}: failed\n{out.stderr[-2000:]}")
                return 1
            r = json.loads(out.stdout)
            print(f"{name:36s} {path.stat().st_size / 1e6:8.1f} {r['peak_mb']:8.1f} {r['seconds']:8.2f}  {r['result']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
