"""End-to-end CIFAR-10 training throughput of this project against the usual references, in one run.

    python benchmarks/throughput.py --data ../shared/data/cifar10-jpeg.tgz

For each architecture (ResNet-20 and ResNet-56 by default) at batch 128 it measures images/second of
  1. ours:      this project's training path (`resnet_study.train`, the Learner the CLI uses), float32 on a CPU;
     ours-bf16: the same with `bf16=True` (`--bf16`): bf16 autocast on a CPU too (a GPU's default already);
  2. reference: the widely used PyTorch CIFAR trainer style: a dataset of PIL images with per-image
                RandomCrop(32, 4), RandomHorizontalFlip, ToTensor, Normalize, a DataLoader with
                worker processes, an NCHW float32 model and torch.optim.SGD;
  3. fastai:    fastai's default vision pipeline, `ImageDataLoaders.from_folder` with its standard
                `aug_transforms`, training the same model;
  4. ceiling:   the model step alone (ours, same settings as 1) on one fixed batch;
and the machine's float32 matrix-multiply rate (the physical limit) against the model's FLOPs per image.
It prints a table with the ratios ours/reference, ours-bf16/reference, ours/fastai, ours/ceiling and writes it as JSON. Nothing here is a test:
the numbers depend on the machine and on whatever else runs on it.
"""
from __future__ import annotations
import argparse, json, os, platform, sys, tarfile, tempfile, time
from pathlib import Path

import torch
import torch.nn.functional as F

from resnet_study.sources import load_cifar10
from resnet_study.data import cifar10_dls
from resnet_study.models import get_model, count_macs


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize()


def timed(step, n_warmup: int, n_steps: int, device) -> float:
    "Seconds per call of `step()` over `n_steps`, after `n_warmup` untimed calls."
    for _ in range(n_warmup): step()
    sync(device); t0 = time.perf_counter()
    for _ in range(n_steps): step()
    sync(device)
    return (time.perf_counter() - t0) / n_steps


def matmul_rate(device, n: int = 2048, reps: int = 10) -> float:
    "Measured float32 matrix-multiply rate in FLOP/s: the machine's physical limit for these nets."
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n ** 3 / timed(lambda: a @ b, 2, reps, device)


# --- 2. the reference: PIL images, per-image torchvision transforms, DataLoader workers ----------
class PILCifar(torch.utils.data.Dataset):
    "Holds the images as HWC uint8 arrays and hands out PIL images, as torchvision's CIFAR10 does."
    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x.permute(0, 2, 3, 1).numpy(), y.tolist(), transform
    def __len__(self): return len(self.y)
    def __getitem__(self, i):
        from PIL import Image
        return self.transform(Image.fromarray(self.x[i])), self.y[i]


def reference_loop(data, arch, bs, device, workers):
    import torchvision.transforms as T
    tfm = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                     T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])
    dl = torch.utils.data.DataLoader(PILCifar(data.x_train, data.y_train, tfm), batch_size=bs, shuffle=True,
                                     num_workers=workers, pin_memory=device.type == "cuda",
                                     persistent_workers=workers > 0, drop_last=True)
    model = get_model(arch).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    it = iter(dl)
    def step():
        nonlocal it
        try: x, y = next(it)
        except StopIteration: it = iter(dl); x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        loss.item()  # the reference trainers log the loss every step
    return step


# --- 1 and 3: fastai learners, timed by a callback between batches ------------------------------
def learner_throughput(learn, n_warmup, n_steps, device) -> float:
    "Seconds per training batch of `learn.fit`, measured between batch `n_warmup` and `n_warmup + n_steps`."
    from fastai.callback.core import Callback, CancelFitException
    class Timer(Callback):
        order = 99
        def before_fit(self): self.i = 0
        def after_batch(self):
            if not self.training: return
            self.i += 1
            if self.i == n_warmup: sync(device); self.t0 = time.perf_counter()
            if self.i == n_warmup + n_steps:
                sync(device); self.dt = (time.perf_counter() - self.t0) / n_steps
                raise CancelFitException
    timer = Timer()
    learn.fit(10 ** 6, cbs=[timer])
    return timer.dt


def ours_learner(data, arch, bs, device, run_dir, bf16=None):
    "The Learner `resnet-study train` builds, logging into `run_dir`, with a budget too long to end here."
    from resnet_study.train import TrainConfig, make_learner
    from resnet_study.recipes import budget
    cfg = TrainConfig(arch=arch, bs=bs, budget=budget("paper", eval_every=10 ** 6, ckpt_every=10 ** 6), bf16=bf16)
    dls = cifar10_dls(data, bs=bs, device=device, seed=cfg.seed, drop_last=True)
    return make_learner(cfg, dls, run_dir=run_dir, device=device)


def fastai_default_learner(folder, arch, bs, device):
    from fastai.vision.all import ImageDataLoaders, aug_transforms, Normalize, Learner, SGD, CrossEntropyLossFlat
    from fastai.vision.all import cifar_stats
    dls = ImageDataLoaders.from_folder(folder, train="train", valid="test", bs=bs, device=device,
                                       batch_tfms=[*aug_transforms(), Normalize.from_stats(*cifar_stats)])
    return Learner(dls, get_model(arch), loss_func=CrossEntropyLossFlat(), opt_func=SGD, lr=0.1)


def extract_folder(archive: Path, dest: Path) -> Path:
    "The image-folder copy fastai's default pipeline reads (extracted once into `dest`)."
    marker = dest / ".extracted"
    if not marker.exists():
        safe = dict(filter="data") if hasattr(tarfile, "data_filter") else {}  # where Python has it (3.11.4+)
        with tarfile.open(archive) as t: t.extractall(dest, **safe)
        marker.touch()
    return next(p.parent for p in dest.rglob("labels.txt"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("RESNET_STUDY_DATA", "../shared/data/cifar10-jpeg.tgz"),
                   help="CIFAR-10 in any format resnet_study.data reads")
    p.add_argument("--folder-archive", default=None,
                   help="a .tgz of the fastai image-folder layout for path 3 (default: --data when it is one)")
    p.add_argument("--archs", nargs="+", default=["resnet20", "resnet56"])
    p.add_argument("--bs", type=int, default=128)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers of the reference")
    p.add_argument("--paths", nargs="+", default=["ours", "ours-bf16", "reference", "fastai", "ceiling"])
    p.add_argument("--device", default=None)
    p.add_argument("--out", default="benchmarks/results/throughput.json")
    a = p.parse_args(argv)

    from fastai.torch_core import default_device
    device = torch.device(a.device) if a.device else default_device()
    data = load_cifar10(a.data)
    limit = matmul_rate(device)
    machine = dict(platform=platform.platform(), processor=platform.processor() or platform.machine(),
                   cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), device=str(device),
                   gpu=torch.cuda.get_device_name() if device.type == "cuda" else None,
                   torch=torch.__version__, matmul_fp32_gflops=round(limit / 1e9, 1))
    print(f"machine: {machine}", flush=True)
    folder = None
    if "fastai" in a.paths:
        tmp = Path(tempfile.gettempdir()) / "resnet_study_bench_folder"
        folder = extract_folder(Path(a.folder_archive or a.data), tmp)

    rows = []
    for arch in a.archs:
        macs = count_macs(lambda: get_model(arch), (1, 3, 32, 32))
        flops_per_image = 3 * 2 * macs  # forward + backward (about twice the forward)
        sec = {}
        for path in a.paths:
            torch.manual_seed(0)
            if path in ("ours", "ours-bf16"):
                with tempfile.TemporaryDirectory() as run_dir:
                    learn = ours_learner(data, arch, a.bs, device, run_dir, bf16=True if path == "ours-bf16" else None)
                    sec[path] = learner_throughput(learn, a.warmup, a.steps, device)
            elif path == "reference":
                sec[path] = timed(reference_loop(data, arch, a.bs, device, a.workers), a.warmup, a.steps, device)
            elif path == "fastai":
                sec[path] = learner_throughput(fastai_default_learner(folder, arch, a.bs, device), a.warmup, a.steps, device)
            elif path == "ceiling":
                # our model and optimizer exactly as path 1 sets them up, stepping on one fixed batch
                learn = ours_learner(data, arch, a.bs, device, None)
                xb, yb = learn.dls.train.one_batch()
                learn.create_opt()
                model, opt = learn.model.to(device).train(), learn.opt
                if hasattr(learn, "channels_last"): model.to(memory_format=torch.channels_last)  # as its before_fit does
                def step():
                    loss = learn.loss_func(model(xb), yb)
                    loss.backward(); opt.step(); opt.zero_grad()
                sec[path] = timed(step, a.warmup, a.steps, device)
            print(f"{arch:10s} {path:10s} {a.bs / sec[path]:9.1f} images/s", flush=True)
        ips = {k: a.bs / v for k, v in sec.items()}
        row = dict(arch=arch, batch=a.bs, gmacs_per_image=macs / 1e9, images_per_second=ips)
        for other in ("reference", "fastai", "ceiling"):
            if "ours" in ips and other in ips: row[f"ours/{other}"] = ips["ours"] / ips[other]
        if "ours-bf16" in ips and "reference" in ips: row["ours-bf16/reference"] = ips["ours-bf16"] / ips["reference"]
        if "ceiling" in ips: row["ceiling_fraction_of_matmul_limit"] = ips["ceiling"] * flops_per_image / limit
        # the paper's CIFAR schedule is 64k iterations at batch 128 (evaluations not included)
        if "ours" in ips: row["paper_schedule_hours_projected"] = 64_000 * a.bs / ips["ours"] / 3600
        rows.append(row)

    cols = [c for c in ("ours", "ours-bf16", "reference", "fastai", "ceiling") if c in a.paths]
    ratios = ("ours/reference", "ours-bf16/reference", "ours/fastai", "ours/ceiling")
    print("\nimages/second at batch", a.bs, "on", machine["gpu"] or machine["processor"], f"({machine['cpus']} cpus)")
    print(f"{'arch':10s}" + "".join(f"{c:>11s}" for c in cols) + "".join(f"{r:>20s}" for r in ratios) + f"{'ceiling/matmul':>16s}")
    for r in rows:
        print(f"{r['arch']:10s}" + "".join(f"{r['images_per_second'][c]:11.1f}" for c in cols)
              + "".join(f"{r.get(o, float('nan')):20.2f}" for o in ratios)
              + f"{r.get('ceiling_fraction_of_matmul_limit', float('nan')):16.2f}")
    for r in rows:
        if "paper_schedule_hours_projected" in r:
            print(f"{r['arch']}: the paper's 64k-iteration schedule would take {r['paper_schedule_hours_projected']:.1f} h of training here (path 1)")
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(dict(machine=machine, rows=rows), indent=2)); tmp.replace(out)
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    sys.exit(main())
