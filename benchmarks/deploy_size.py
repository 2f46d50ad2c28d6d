"""What a Community Cloud deploy downloads: pip's own dry-run report against the public index, summed.

    python -m benchmarks.deploy_size [requirements.txt]

Runs `pip install --isolated --dry-run --ignore-installed --report` (the public index, none of this
machine's pip settings), then asks the index for each file's size (HTTP HEAD). Prints the resolved
packages, the CUDA/GPU ones among them, and the total download size.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from fer.files import ROOT

GPU_PREFIXES = ("nvidia-", "cuda-", "triton")


def main(argv: list[str] | None = None) -> int:
    req = Path((argv or sys.argv[1:] or [str(ROOT / "requirements.txt")])[0])
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed",
                        "--quiet", "--report", str(report), "-r", str(req)], check=True)
        items = json.loads(report.read_text())["install"]
    sizes = {}
    for item in items:
        head = urllib.request.Request(item["download_info"]["url"], method="HEAD")
        with urllib.request.urlopen(head, timeout=30) as resp:
            sizes[item["metadata"]["name"]] = int(resp.headers["Content-Length"])
    names = [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in items]
    gpu = [n for n in names if n.lower().startswith(GPU_PREFIXES)]
    print(f"{req.name}: {len(names)} packages, {sum(sizes.values()) / 1e6:.1f} MB to download, "
          f"{len(gpu)} CUDA/GPU packages")
    print("largest: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in sorted(sizes.items(), key=lambda kv: -kv[1])[:5]))
    print("packages: " + " ".join(sorted(names, key=str.lower)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
