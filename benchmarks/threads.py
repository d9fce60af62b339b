"""How to spend a machine's cores: one training process with all of them, or one process per core? In one run.

    python benchmarks/threads.py --archs resnet20 resnet56

For each architecture it times the training step at batch 128 (channels-last, as the learner trains) in
  - one process with `--cores` threads, and
  - `--cores` processes with one thread each, started together,
and prints the images/second of the whole machine in each arrangement and their ratio. `resnet-study study
--devices cpu --per-device N` is the second arrangement; a single `resnet-study train` the first. Run it on an
otherwise idle machine: it measures how the cores are shared, so anything else running distorts it.
"""
from __future__ import annotations
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path

CHILD = r"""
import json, sys, time, torch
from resnet_study.models import get_model
arch, bs, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
m = get_model(arch).to(memory_format=torch.channels_last).train()
opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
x = torch.randn(bs, 3, 32, 32).to(memory_format=torch.channels_last); y = torch.randint(0, 10, (bs,))
def step():
    opt.zero_grad(set_to_none=True); torch.nn.functional.cross_entropy(m(x), y).backward(); opt.step()
for _ in range(warmup): step()
t = time.perf_counter()
for _ in range(steps): step()
print(json.dumps(dict(seconds=time.perf_counter() - t, threads=torch.get_num_threads())))
"""


def run(n_procs: int, threads: int, arch: str, bs: int, steps: int, warmup: int) -> float:
    "Images/second of `n_procs` processes of `threads` threads each, stepping together"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, arch, str(bs), str(steps), str(warmup)], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(n_procs)]
    outs = [json.loads(p.communicate()[0]) for p in procs]
    return sum(bs * steps / o["seconds"] for o in outs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", nargs="+", default=["resnet20", "resnet56"])
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.add_argument("--bs", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results/threads.json")
    a = p.parse_args(argv)
    rows = []
    for arch in a.archs:
        one = run(1, a.cores, arch, a.bs, a.steps, a.warmup)
        many = run(a.cores, 1, arch, a.bs, a.steps, a.warmup)
        rows.append(dict(arch=arch, batch=a.bs, cores=a.cores, one_process_all_threads=round(one, 1),
                         one_process_per_core=round(many, 1), ratio=round(many / one, 2)))
        print(f"{arch}: 1 process x {a.cores} threads {one:.0f} img/s; {a.cores} processes x 1 thread {many:.0f} img/s "
              f"in all; {many / one:.2f}x", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(dict(machine=dict(platform=platform.platform(), cpus=os.cpu_count(),
                                                        load_average_at_end=os.getloadavg()), rows=rows), indent=2) + "\n")
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
