"""Why ResNet-56 sits at chance for its first iterations at the paper's learning rate (issue: fidelity, part 5).

Trains ResNet-56 on the full CIFAR-10 training set for `--iters` iterations (default 300) with the paper's
recipe and with one change per arm, for each seed, and writes per-iteration training loss and error
(`iterations.csv`) and one row per run (`runs.csv`) into `--out`. Arms:

  paper       the paper's recipe: lr 0.1 from the first iteration
  warmup      0.01 until the training error is below 80% (the paper's rule for ResNet-110; the committed runs
              used the old rule, non-overlapping 50-iteration windows, and ended it at iteration 100)
  fc_he       the classifier He-initialised (PyTorch's default nn.Linear init is 2.4x smaller)
  bn_halves   BN statistics over 64-image halves of each batch of 128, as on the paper's two GPUs
  zero_gamma  the last BN scale of every block initialised to 0 (a later practice, not the paper's)

    python experiments/stall.py --data ../shared/data/cifar10-jpeg.tgz --out runs/stall-resnet56-300
    python experiments/stall.py --recompute --out runs/stall-resnet56-300   # the measures again, from iterations.csv

Measures per run (`summarise`): iterations until the trailing 10-iteration training error STAYS below 85%
(`iters_until_below_85`; `never_below_85` when the run ended above it), and, separately, a collapse
(`collapsed_at`): the trailing 10-iteration loss back within 0.1 of ln 10 after it had been more than 0.3 under it.
`iters_at_chance` (iterations at or above 85%, wherever they fall) is kept for comparison.
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


def until_below(err: pd.Series, window: int = 10, level: float = 85.0) -> tuple[int, bool]:
    """(iterations until the trailing `window`-iteration training error STAYS below `level`%, whether the run ended
    before that happened): the last iteration at or above `level` (0 if none); `True` if that is the run's last."""
    m = err.rolling(window, min_periods=1).mean()
    hit = m[m >= level]
    last = int(hit.index.max()) if len(hit) else 0
    return last, last == int(err.index.max())


def collapse(loss: pd.Series, window: int = 10, near: float = 0.1, below: float = 0.3) -> int | None:
    """The first iteration at which the trailing `window`-iteration training loss is back within `near` of ln 10 (a
    uniform guess) after it had been more than `below` under it; None if the run never collapsed so"""
    m = loss.rolling(window, min_periods=1).mean()
    lower = m < math.log(10) - below
    if not lower.any(): return None
    after = m[lower.idxmax():]
    back = after[after >= math.log(10) - near]
    return int(back.index[0]) if len(back) else None


def summarise(it: pd.DataFrame) -> dict:
    "The stall measures of one run from its per-iteration rows (`iter`, `loss`, `error`)"
    it = it.set_index("iter")
    n_chance, last_chance = at_chance(it.error)
    until, censored = until_below(it.error)
    return dict(loss_first=it.loss.iloc[0], loss_first10=it.loss.iloc[:10].mean(), iters_at_chance=n_chance,
                last_at_chance=last_chance, iters_until_below_85=until, never_below_85=censored,
                collapsed_at=collapse(it.loss), train_error_last50=it.error.iloc[-50:].mean())


def recompute(out: Path):
    "Rewrite `out/runs.csv`'s measures from `out/iterations.csv` (the test error, warm-up end and time are kept)"
    runs, its = pd.read_csv(out / "runs.csv"), pd.read_csv(out / "iterations.csv")
    keep = ["arm", "seed", "test_error", "warmup_ended_at", "seconds"]
    rows = [dict(arm=arm, seed=seed, **summarise(g)) for (arm, seed), g in its.groupby(["arm", "seed"], sort=False)]
    new = pd.DataFrame(rows).merge(runs[keep], on=["arm", "seed"])
    for k in ("collapsed_at", "warmup_ended_at"): new[k] = new[k].astype("Int64")
    new.to_csv(out / "runs.csv", index=False, float_format="%.4g")
    return new


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="the CIFAR-10 data (not needed with --recompute)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--work", type=Path, default=Path("/tmp/stall-runs"), help="run folders (checkpoints: not committed)")
    p.add_argument("--arch", default="resnet56")
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    p.add_argument("--recompute", action="store_true", help="only rewrite runs.csv's measures from iterations.csv")
    a = p.parse_args(argv)
    if a.recompute:
        print(recompute(a.out).to_string()); return 0
    a.out.mkdir(parents=True, exist_ok=True)
    if a.data is None: p.error("--data is needed to train (or pass --recompute)")
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
            row = dict(arm=arm, seed=seed, **summarise(it.reset_index()), test_error=s["test_error"],
                       warmup_ended_at=s["warmup_ended_at"], seconds=round(time.perf_counter() - t0, 1))
            print(json.dumps(row, default=str), flush=True)
            it.reset_index()[["arm", "seed", "iter", "lr", "loss", "error"]].to_csv(
                it_file, mode="a", header=not it_file.exists(), index=False, float_format="%.5g")
            done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
            done.to_csv(run_file, index=False, float_format="%.4g")
    return 0


if __name__ == "__main__":
    sys.exit(main())
