"""Training throughput (images/s) of each architecture on random data: forward + backward + SGD step.

    python -m benchmarks.train_throughput [--archs vgg cnn1] [--batch-size 128] [--steps 10]
"""

import argparse
import time

import torch
import torch.nn.functional as F

from fer.model import DEFAULT_INPUT_SIZE, build_model


def measure(arch: str, batch_size: int, steps: int, channels_last: bool) -> float:
    size = DEFAULT_INPUT_SIZE[arch]
    model = build_model(arch).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch_size, 1, size, size).contiguous(memory_format=fmt)
    y = torch.randint(0, 7, (batch_size,))
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch_size / (time.perf_counter() - t0)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--archs", nargs="+", default=["vgg", "cnn3", "cnn2", "cnn1"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch_size}")
    for arch in a.archs:
        for cl in (True, False):
            print(f"{arch:5s} {'channels_last' if cl else 'contiguous   '} "
                  f"{measure(arch, a.batch_size, a.steps, cl):7.0f} img/s", flush=True)
