"""Why ResNet-56 sits at chance for its first iterations at the paper's learning rate (issue: fidelity, part 5).

Trains ResNet-56 on the full CIFAR-10 training set for `--iters` iterations (default 300) with the paper's
recipe and with one change per arm, for each seed, and writes per-iteration training loss and error
(`iterations.csv`) and one row per run (`runs.csv`) into `--out`. Arms:

  paper       the paper's recipe: lr 0.1 from the first iteration
  warmup      0.01 until the training error is below 80% (the paper's rule for ResNet-110)
  fc_he       the classifier He-initialised (PyTorch's default nn.Linear init is 2.4x smaller)
  bn_halves   BN statistics over 64-image halves of each batch of 128, as on the paper's two GPUs
  zero_gamma  the last BN scale of every block initialised to 0 (a later practice, not the paper's)

    python experiments/stall.py --data ../shared/data/cifar10-jpeg.tgz --out runs/stall-resnet56-300
"""
from __future__ import annotations
import argparse, json, math, sys, time, types
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from fastai.callback.core import Callback

from resnet_study.train import TrainConfig
from resnet_study.recipes import budget
from resnet_study.runs import train_run
from resnet_study.models import BasicBlock
from resnet_study.sources import load_cifar10

ARMS = ("paper", "warmup", "fc_he", "bn_halves", "zero_gamma")


def _bn_over_groups(group: int):
    "A BatchNorm2d forward that normalises each `group` images with their own statistics (one GPU's share)"
    def forward(self, x):
        if not self.training or len(x) <= group: return nn.BatchNorm2d.forward(self, x)
        # the running statistics follow the first group, as DDP keeps the first GPU's buffers
        return torch.cat([F.batch_norm(xg, self.running_mean if i == 0 else None, self.running_var if i == 0 else None,
                                       self.weight, self.bias, True, self.momentum, self.eps)
                          for i, xg in enumerate(x.split(group))])
    return forward


class Arm(Callback):
    "Apply an arm's change to the freshly built net, and record every training iteration's loss and error"
    order = 1
    def __init__(self, arm: str): self.arm, self.rows = arm, []

    def before_fit(self):
        m = self.learn.model
        with torch.no_grad():
            if self.arm == "fc_he":
                nn.init.kaiming_normal_(m.fc.weight, mode="fan_in", nonlinearity="relu"); nn.init.zeros_(m.fc.bias)
            if self.arm == "zero_gamma":
                for b in m.modules():
                    if isinstance(b, BasicBlock): nn.init.zeros_(b.bn2.weight)
            if self.arm == "bn_halves":
                for b in m.modules():
                    if isinstance(b, nn.BatchNorm2d): b.forward = types.MethodType(_bn_over_groups(64), b)

    def after_batch(self):
        if not self.training: return
        y = self.yb[0]
        self.rows.append(dict(iter=self.train_iter, lr=self.opt.hypers[-1]["lr"], loss=float(self.loss.detach()),
                              error=100 * float((self.pred.argmax(-1) != y).float().mean())))


def at_chance(err: pd.Series, window: int = 10, level: float = 85.0) -> tuple[int, int]:
    "(iterations whose trailing `window`-iteration training error is >= `level`%, the last such iteration)"
    m = err.rolling(window, min_periods=1).mean()
    hit = m[m >= level]
    return int(len(hit)), int(hit.index.max()) if len(hit) else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--work", type=Path, default=Path("/tmp/stall-runs"), help="run folders (checkpoints: not committed)")
    p.add_argument("--arch", default="resnet56")
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    data = load_cifar10(a.data)
    it_file, run_file = a.out / "iterations.csv", a.out / "runs.csv"
    done = pd.read_csv(run_file) if run_file.exists() else pd.DataFrame(columns=["arm", "seed"])
    for seed in a.seeds:          # seed-major: every arm gets its first seed before any gets a third
        for arm in a.arms:
            if ((done.arm == arm) & (done.seed == seed)).any(): continue
            # the first `iters` iterations of the paper's schedule: 0.1 throughout (its first division is at 32k)
            b = budget("quick", a.iters, milestones=(), log_every=10, eval_every=a.iters, ckpt_every=a.iters)
            cfg = TrainConfig(a.arch, budget=b, seed=seed, warmup=arm == "warmup", data=str(a.data))
            rec = Arm(arm)
            t0 = time.perf_counter()
            s = train_run(cfg, a.work / f"{arm}-s{seed}", data=data, force=True, quiet=True, cbs=[rec])
            it = pd.DataFrame(rec.rows).assign(arm=arm, seed=seed).set_index("iter")
            n_chance, last_chance = at_chance(it.error)
            row = dict(arm=arm, seed=seed, loss_first=it.loss.iloc[0], loss_first10=it.loss.iloc[:10].mean(),
                       iters_at_chance=n_chance, last_at_chance=last_chance,
                       train_error_last50=it.error.iloc[-50:].mean(), test_error=s["test_error"],
                       warmup_ended_at=s["warmup_ended_at"], seconds=round(time.perf_counter() - t0, 1))
            print(json.dumps(row), flush=True)
            it.reset_index()[["arm", "seed", "iter", "lr", "loss", "error"]].to_csv(
                it_file, mode="a", header=not it_file.exists(), index=False, float_format="%.5g")
            done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
            done.to_csv(run_file, index=False, float_format="%.4g")
    return 0


if __name__ == "__main__":
    sys.exit(main())
