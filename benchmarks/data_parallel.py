"""Data-parallel training against one process, in one run: the same `resnet-study train` command, started
once as a single process and once per worker under `torchrun`, on the same data and budget.

    python benchmarks/data_parallel.py --data ../shared/data/cifar10-jpeg.tgz --procs 2
    python benchmarks/data_parallel.py --data PATH --procs 8 --device cuda       # a machine with 8 GPUs

Each run trains `--arch` for `--iters` iterations at the global batch `--bs` and reports the training
images/second from its own summary.json (evaluation and start-up excluded). On a CPU the single process gets
every core as threads and each of the N processes gets cores/N threads, so the ratio says whether splitting
the batch over processes beats one process's own threading; on GPUs it is the scaling over GPUs. It prints
the ratio and writes both runs' numbers as JSON. Nothing here is a test: the numbers depend on the machine
and on whatever else runs on it.
"""
from __future__ import annotations
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import torch


def train(out: Path, procs: int, args, threads: int) -> dict:
    cmd = ["train", "--arch", args.arch, "--data", str(args.data), "--out", str(out), "--bs", str(args.bs),
           "--iters", str(args.iters), "--eval-every", str(args.iters), "--log-every", str(max(1, args.iters // 10)),
           "--quiet"] + (["--device", args.device] if args.device else [])
    launch = [sys.executable, "-m", "resnet_study.cli"] if procs == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), "-m", "resnet_study.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    r = subprocess.run(launch + cmd, capture_output=True, text=True, env=env)
    if r.returncode: sys.exit(f"{procs} process(es) failed:\n{r.stderr[-3000:]}")
    s = json.loads((out / "summary.json").read_text())
    return dict(processes=procs, threads_per_process=threads, images_per_second=s["images_per_second"],
                train_seconds=s["train_seconds"], command_seconds=round(time.perf_counter() - t0, 1),
                train_error=s["train_error"], test_error=s["test_error"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="CIFAR-10 (any form `resnet-study train` takes)")
    p.add_argument("--arch", default="resnet20")
    p.add_argument("--bs", type=int, default=128, help="global batch, split over the processes")
    p.add_argument("--iters", type=int, default=60)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--device", help="cpu or cuda (default: the first available)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "data_parallel.json")
    args = p.parse_args()
    cores = os.cpu_count() or 1
    on_cpu = args.device == "cpu" or not torch.cuda.is_available()
    tmp = Path(tempfile.mkdtemp())
    try:
        one = train(tmp / "one", 1, args, cores if on_cpu else 1)
        many = train(tmp / "many", args.procs, args, max(1, cores // args.procs) if on_cpu else 1)
    finally: shutil.rmtree(tmp, ignore_errors=True)
    ratio = many["images_per_second"] / one["images_per_second"]
    res = dict(arch=args.arch, bs=args.bs, iters=args.iters, device="cpu" if on_cpu else "cuda", cores=cores,
               machine=platform.processor() or platform.machine(), runs=[one, many], ratio=round(ratio, 3),
               date=time.strftime("%Y-%m-%d"))
    for r in (one, many):
        print(f"{r['processes']} process(es) x {r['threads_per_process']} thread(s): {r['images_per_second']:.1f} images/s "
              f"(train {r['train_seconds']:.1f} s of {r['command_seconds']:.1f} s)")
    print(f"{args.procs} processes / 1 process: {ratio:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
