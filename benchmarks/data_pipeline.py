"""What the CIFAR-10 data pipeline costs beside a training step, in one run on one machine.

    python benchmarks/data_pipeline.py --data ../shared/data/cifar10-jpeg.tgz

It measures the decode of the 60,000 images (no cache), a cached load, the pipeline time of one training batch of
128 (index, cast, mean subtraction, pad-crop-flip on the whole batch) and one ResNet-20 training step (forward,
backward, SGD update) on a batch of 128 on the same device, and prints the batch's time as a share of the step's.
The medians of repeated timings are written as JSON; the Data chapter shows the committed file. Nothing here is a
test: the numbers depend on the machine and on whatever else runs on it.
"""
from __future__ import annotations
import argparse, json, os, platform, time
from pathlib import Path

import torch
import torch.nn.functional as F

from resnet_study.sources import load_cifar10
from resnet_study.data import cifar10_dls
from resnet_study.models import cifar_model


def median_seconds(f, n: int = 20, warmup: int = 3) -> float:
    "The median of `n` timings of `f()`, after `warmup` untimed calls"
    for _ in range(warmup): f()
    ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("RESNET_STUDY_DATA"), help="CIFAR-10 (default $RESNET_STUDY_DATA)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="benchmarks/results/data_pipeline.json")
    a = p.parse_args(argv)
    if not a.data: p.error("give --data (a CIFAR-10 archive or folder) or set RESNET_STUDY_DATA")
    t = time.perf_counter(); data = load_cifar10(a.data, cache=False); decode = time.perf_counter() - t
    cached = median_seconds(lambda: load_cifar10(a.data), n=3, warmup=1)
    dls = cifar10_dls(data, bs=128, device=a.device)
    it = iter(dls.train)
    def next_batch():
        nonlocal it
        try: return next(it)
        except StopIteration: it = iter(dls.train); return next(it)
    batch = median_seconds(next_batch, n=50)
    model = cifar_model(20).to(a.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    xb, yb = dls.one_batch()
    def step():
        loss = F.cross_entropy(model(xb), yb); loss.backward(); opt.step(); opt.zero_grad()
        if a.device.startswith("cuda"): torch.cuda.synchronize()
    train_step = median_seconds(step, n=10)
    row = dict(device=a.device, threads=torch.get_num_threads(), decode_s=round(decode, 2),
               cached_load_s=round(cached, 3), batch_ms=round(batch * 1000, 3), resnet20_step_ms=round(train_step * 1000, 1),
               batch_share_of_step=round(batch / train_step, 4))
    print(f"device {a.device}, {row['threads']} threads: decode {decode:.1f} s, cached load {cached * 1000:.0f} ms, "
          f"batch of 128 {batch * 1000:.2f} ms, ResNet-20 train step {train_step * 1000:.0f} ms: "
          f"the batch is {batch / train_step:.1%} of a step")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    machine = dict(platform=platform.platform(), cpus=os.cpu_count(), torch=torch.__version__,
                   load_average_at_end=os.getloadavg())
    Path(a.out).write_text(json.dumps(dict(machine=machine, data=Path(a.data).name, rows=[row]), indent=2) + "\n")
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
