"""The README's picture: the real-browser test (fake webcam showing a FER2013 face) saves the page.

    python -m benchmarks.screenshot [--out benchmarks/screenshot.png]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from fer.files import ROOT


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "screenshot.png")
    a = p.parse_args(argv)
    env = {**os.environ, "E2E_SCREENSHOT": str(a.out.resolve()), "E2E_RUNS": "1"}
    test = "tests/app/test_e2e.py::test_webcam_stream_shows_boxed_face_and_recommendations"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", test], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
