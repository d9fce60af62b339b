"""Peak memory of one ResNet-110 and ResNet-1202 training step at batch 128, with and without
activation checkpointing.

    python benchmarks/memory.py

On a GPU the peak is `torch.cuda.max_memory_allocated`. On a CPU each configuration runs in its own
process and the peak is the growth of that process's maximum resident memory over the model's own
(`ru_maxrss`), so it includes the allocator's slack. A configuration whose activations (measured
exactly on a small batch, then scaled) would not fit in the free memory is skipped, not attempted.
Writes `benchmarks/results/memory.json`.
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys
from pathlib import Path

import torch
import torch.nn.functional as F

from resnet_study.models import get_model, activation_memory, n_params


def one_step(arch: str, bs: int, checkpoint: bool, device: str) -> dict:
    "Run one training step in this process and report its peak memory in bytes."
    torch.manual_seed(0)
    dev = torch.device(device)
    model = get_model(arch, recompute=checkpoint).to(dev).train()
    x, y = torch.randn(bs, 3, 32, 32, device=dev), torch.randint(0, 10, (bs,), device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev); base = torch.cuda.memory_allocated(dev)
    else: base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    F.cross_entropy(model(x), y).backward()
    if dev.type == "cuda": peak = torch.cuda.max_memory_allocated(dev) - base
    else: peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return dict(arch=arch, batch=bs, checkpoint=checkpoint, device=device, peak_bytes=peak)


def free_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"): return int(line.split()[1]) * 1024
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=["resnet110", "resnet1202"])
    p.add_argument("--bs", type=int, default=128)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default="benchmarks/results/memory.json")
    p.add_argument("--child", nargs=3, metavar=("ARCH", "BS", "CKPT"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(one_step(a.child[0], int(a.child[1]), a.child[2] == "1", a.device))); return 0

    rows = []
    for arch in a.archs:
        for ckpt in (False, True):
            small = 4
            saved = activation_memory(get_model(arch, recompute=ckpt), torch.randn(small, 3, 32, 32)) / small
            row = dict(arch=arch, params_M=n_params(get_model(arch)) / 1e6, checkpoint=ckpt, batch=a.bs,
                       saved_activations_MiB_per_image=saved / 2**20,
                       saved_activations_GiB_at_batch=saved * a.bs / 2**30)
            if a.device == "cpu" and 1.5 * saved * a.bs > free_bytes():
                row["peak_GiB"] = None
                row["note"] = f"skipped: needs about {1.5 * saved * a.bs / 2**30:.1f} GiB, {free_bytes() / 2**30:.1f} GiB free"
            else:
                r = subprocess.run([sys.executable, __file__, "--device", a.device, "--child", arch, str(a.bs), str(int(ckpt))],
                                   capture_output=True, text=True)
                if r.returncode: row["peak_GiB"], row["note"] = None, f"failed: {r.stderr.strip().splitlines()[-1:]}"
                else: row["peak_GiB"] = json.loads(r.stdout.strip().splitlines()[-1])["peak_bytes"] / 2**30
            rows.append(row)
            peak = "n/a" if row["peak_GiB"] is None else f"{row['peak_GiB']:.2f}"
            print(f"{arch:11s} checkpoint={str(ckpt):5s} saved activations {row['saved_activations_MiB_per_image']:7.1f} MiB/image"
                  f" = {row['saved_activations_GiB_at_batch']:6.2f} GiB at batch {a.bs}; measured peak {peak} GiB"
                  + (f"  ({row['note']})" if row.get("note") else ""), flush=True)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(dict(device=a.device, rows=rows), indent=2)); tmp.replace(out)
    print(f"written to {out}")


if __name__ == "__main__":
    sys.exit(main())
