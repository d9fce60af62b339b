"""Seconds per training step (forward, backward, SGD update) at batch 128 of the CIFAR nets, each in its own process,
with ResNet-20 measured in the same run as the reference; also the peak resident memory of each process.

    python benchmarks/step_time.py --archs resnet20 resnet110 resnet1202 --out benchmarks/results/step_time.json

What ResNet-1202 would cost: `seconds_per_step` times 64,000 iterations. Random inputs: the step's cost does not
depend on the pixels. The model is channels-last, as the project's learner trains it.
"""
from __future__ import annotations
import argparse, json, os, platform, resource, subprocess, sys, time


def child(arch: str, bs: int, steps: int, warmup: int):
    import torch
    from resnet_study.models import get_model
    torch.manual_seed(0)
    model = get_model(arch).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(bs, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (bs,))
    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for _ in range(warmup): step()
    t = time.perf_counter()
    for _ in range(steps): step()
    secs = (time.perf_counter() - t) / steps
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(json.dumps(dict(arch=arch, batch=bs, steps=steps, seconds_per_step=secs, images_per_second=bs / secs,
                          peak_GiB=peak, threads=torch.get_num_threads())))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", nargs="+", default=["resnet20", "resnet110", "resnet1202"])
    p.add_argument("--bs", type=int, default=128)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--out")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child: return child(a.child[0], *map(int, a.child[1:]))
    rows = []
    for arch in dict.fromkeys(["resnet20", *a.archs]):  # the reference first, in the same run
        r = subprocess.run([sys.executable, __file__, "--child", arch, str(a.bs), str(a.steps), str(a.warmup)],
                           capture_output=True, text=True)
        if r.returncode: sys.exit(f"{arch}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
        row = json.loads(r.stdout.strip().splitlines()[-1])
        row["vs_resnet20"] = row["seconds_per_step"] / rows[0]["seconds_per_step"] if rows else 1.0
        rows.append(row)
        print(f"{arch:>11}: {row['seconds_per_step']:7.3f} s per step at batch {a.bs} ({row['vs_resnet20']:.1f}x ResNet-20), "
              f"peak {row['peak_GiB']:.2f} GiB; 64,000 steps: {64_000 * row['seconds_per_step'] / 3600:.1f} h", flush=True)
    res = dict(device=f"{platform.processor() or platform.machine()} CPU", cpus=os.cpu_count(),
               threads=rows[0]["threads"], rows=rows)
    if a.out:
        with open(a.out, "w") as f: json.dump(res, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
