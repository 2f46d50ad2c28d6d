"""Training throughput (images/s): forward + backward + SGD step on random data.

    python -m benchmarks.train_throughput [--archs vgg cnn1] [--batch-size 128] [--steps 10] [--bf16]
    python -m benchmarks.train_throughput --ddp [--processes 2] [--arch vgg]

--ddp compares, at the same global batch, one process using every core against N DistributedDataParallel
processes (gloo on the CPU, nccl on GPUs) sharing them: what `torchrun --nproc_per_node=N -m fer.train` gains.
--bf16 adds a row per net trained in bfloat16 autocast: what `fer.training.loop --bf16` gains.
"""

from __future__ import annotations

import argparse
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from fer.model import DEFAULT_INPUT_SIZE, build_model
from fer.training.loop import training_logits


def measure(arch: str, batch_size: int, steps: int, channels_last: bool = True, device: str = "cpu",
            ddp: bool = False, bf16: bool = False) -> float:
    """Images/s of this process (batch_size per step)."""
    size = DEFAULT_INPUT_SIZE[arch]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(arch).train().to(device).to(memory_format=fmt)
    step_model = torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[torch.device(device).index] if device.startswith("cuda") else None) if ddp else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch_size, 1, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 7, (batch_size,), device=device)
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss = F.cross_entropy(training_logits(step_model, x, bf16), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - t0)


def _ddp_worker(rank: int, world: int, port: int, arch: str, batch: int, steps: int, threads: int, gpu: bool,
                out) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    device = f"cuda:{rank}" if gpu else "cpu"
    if gpu:
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if gpu else "gloo", rank=rank, world_size=world)
    rate = measure(arch, batch // world, steps, device=device, ddp=True)
    out.put(rate)
    dist.destroy_process_group()


def ddp_rate(arch: str, batch: int, steps: int, world: int, threads: int, gpu: bool) -> float:
    """Total images/s of `world` DDP processes at a global batch of `batch`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_ddp_worker, (world, port, arch, batch, steps, threads, gpu, queue), nprocs=world,
                       start_method="spawn")
    return sum(queue.get() for _ in range(world))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=["vgg", "cnn3", "cnn2", "cnn1"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--ddp", action="store_true")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--bf16", action="store_true", help="also measure bfloat16 autocast")
    a = p.parse_args()
    cores = os.cpu_count() or 1
    if a.ddp:
        gpu = torch.cuda.is_available()
        for arch in a.archs:
            if gpu:
                one = measure(arch, a.batch_size, a.steps, device="cuda:0")
                print(f"{arch}: 1 GPU {one:7.0f} img/s; {a.processes} GPUs (DDP, nccl) "
                      f"{ddp_rate(arch, a.batch_size, a.steps, a.processes, 1, True):7.0f} img/s", flush=True)
                continue
            torch.set_num_threads(cores)
            one = measure(arch, a.batch_size, a.steps)
            many = ddp_rate(arch, a.batch_size, a.steps, a.processes, max(1, cores // a.processes), False)
            print(f"{arch}: 1 process x {cores} threads {one:7.0f} img/s; {a.processes} processes x "
                  f"{max(1, cores // a.processes)} thread(s) (DDP, gloo) {many:7.0f} img/s "
                  f"(global batch {a.batch_size})", flush=True)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch_size}")
    for arch in a.archs:
        for cl, bf16 in [(True, False), (False, False)] + [(True, True)] * a.bf16:
            print(f"{arch:8s} {'channels_last' if cl else 'contiguous   '} {'bf16' if bf16 else 'fp32'} "
                  f"{measure(arch, a.batch_size, a.steps, cl, bf16=bf16):7.0f} img/s", flush=True)


if __name__ == "__main__":
    main()
