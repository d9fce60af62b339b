"""Where ResNet-110's warm-up ends, and whether the start at 0.1 then holds.

The paper: "We use 0.01 to warm up the training until the training error is below 80% (about 400 iterations), and
then go back to 0.1." It does not say over which window that training error is measured. Two steps, per seed:

  measure   ResNet-110 at lr 0.01, recording every iteration's training loss and mistakes (`measure-iterations.csv`),
            and where each candidate rule (`CANDIDATES`: a window of the last w iterations, checked every `every`
            iterations) would end the warm-up (`measure-ends.csv`), until every rule has ended or cannot end within
            `--iters` (default 600). At each candidate's end it saves the run's state (weights, momentum, RNG,
            iteration) under `--work`.
  switch    continues the measured run from the end of the chosen rule (`--window`, `--every`) at the recipe's 0.1,
            to `--iters`: this is the run that the rule would have made from the start, since up to its end it is
            the same run at 0.01 (same initialisation, data order and augmentation, one thread). Writes
            `switch-iterations.csv` and `switch-runs.csv` (the test error at `--iters`).

    python experiments/warmup.py measure --seed 0 --data ../shared/data/cifar10-jpeg.tgz --out runs/warmup-resnet110-600
    python experiments/warmup.py switch --seed 0 --window 391 --every 50 --data ... --out runs/warmup-resnet110-600

Runs use bf16 autocast on the CPU (`TrainConfig(bf16=True)`; weights and SGD stay float32), full CIFAR-10, batch 128.
"""
from __future__ import annotations
import argparse, dataclasses, json, sys, time
from pathlib import Path

import pandas as pd
import torch
from fastai.callback.core import Callback, CancelFitException

from resnet_study.train import TrainConfig, make_learner, fit_budget, run_dls
from resnet_study.recipes import budget
from resnet_study.callbacks import rng_state
from resnet_study.distributed import unwrap_model
from resnet_study.sources import load_cifar10

# (window, every): the error over the last `window` iterations, looked at every `every` iterations once `window` have
# passed. window == every is the blocked rule (non-overlapping windows: the old WarmUp(every=50)); 391 iterations is
# one epoch of 50,000 images at batch 128.
CANDIDATES = [(50, 50), (100, 100), (200, 200), (391, 391), (100, 50), (200, 50), (391, 50), (100, 1), (200, 1), (391, 1)]
UNTIL = 0.8


def rule_end(wrong, seen, window: int, every: int, until: float = UNTIL) -> int | None:
    "The iteration (1-based count of updates) at which the rule (`window`, `every`) ends the warm-up on these per-iteration counts"
    for i in range(window, len(wrong) + 1):
        if i % every: continue
        if sum(wrong[i - window:i]) / sum(seen[i - window:i]) < until: return i
    return None


class Record(Callback):
    "Every training iteration's learning rate, loss and mistakes; with `snap_dir`, the run's state at each candidate rule's end"
    order = 80  # after the TrainEvalCallback has counted the iteration
    def __init__(self, snap_dir: Path | None = None, iters: int = 0):
        self.rows, self.snap_dir, self.ends, self.iters = [], snap_dir, {}, iters

    def after_batch(self):
        if not self.training: return
        y = self.yb[0]
        wrong = int((self.pred.argmax(-1) != y).sum())
        self.rows.append(dict(iter=self.train_iter, lr=self.opt.hypers[-1]["lr"], loss=float(self.loss.detach()),
                              wrong=wrong, seen=len(y)))
        if self.snap_dir is None: return
        w, s = [r["wrong"] for r in self.rows], [r["seen"] for r in self.rows]
        for window, every in CANDIDATES:
            if (window, every) in self.ends: continue
            i = self.train_iter
            if i >= window and i % every == 0 and sum(w[-window:]) / sum(s[-window:]) < UNTIL:
                self.ends[(window, every)] = i
                path = self.snap_dir / f"state-{i}.pth"
                if not path.exists():
                    sd = self.opt.state_dict()
                    torch.save(dict(iteration=i, model=unwrap_model(self.model).state_dict(),
                                    opt=dict(state=sd["state"], hypers=[dict(h) for h in sd["hypers"]]),
                                    rng=rng_state(), logger=None, warmup=None, plateau=None), path)
        # nothing left to learn at 0.01 once every rule has ended or cannot end within `iters` (its next look is later)
        i = self.train_iter
        if all(c in self.ends or -(-max(i + 1, c[0]) // c[1]) * c[1] > self.iters for c in CANDIDATES): raise CancelFitException()


def _config(seed: int, iters: int, lr: float, data: str, arch: str = "resnet110") -> TrainConfig:
    # 0.1 (or 0.01) throughout: the paper's schedule does not divide before 32k; one test evaluation, at the end
    b = budget("quick", iters, milestones=(), log_every=50, eval_every=iters, ckpt_every=iters)
    return TrainConfig(arch, budget=b, seed=seed, lr=lr, warmup=False, bf16=True, data=data)


def _append(df: pd.DataFrame, path: Path, keys: dict):
    "Append `df`'s rows to the csv `path`, replacing earlier rows with the same `keys`"
    df = df.assign(**keys)
    if path.exists():
        old = pd.read_csv(path)
        mask = pd.Series(True, index=old.index)
        for k, v in keys.items(): mask &= old[k] == v
        df = pd.concat([old[~mask], df], ignore_index=True)
    df.to_csv(path, index=False, float_format="%.5g")


def measure(a, data):
    snaps = a.work / f"s{a.seed}"; snaps.mkdir(parents=True, exist_ok=True)
    cfg = _config(a.seed, a.iters, 0.01, str(a.data), a.arch)
    rec = Record(snaps, a.iters)
    t0 = time.perf_counter()
    learn = make_learner(cfg, run_dls(cfg, data), device="cpu", cbs=[rec])
    with learn.no_bar(), learn.no_logging(): fit_budget(learn)
    it = pd.DataFrame(rec.rows)
    it["error"] = 100 * it.wrong / it.seen
    cols = ["seed", "iter", "lr", "loss", "wrong", "seen", "error"]
    _append(it, a.out / "measure-iterations.csv", dict(seed=a.seed))
    ends = pd.DataFrame([dict(window=w, every=e, blocked=w == e, ended_at=rule_end(it.wrong.tolist(), it.seen.tolist(), w, e))
                         for w, e in CANDIDATES])
    ends["ended_at"] = ends.ended_at.astype("Int64")
    _append(ends, a.out / "measure-ends.csv", dict(seed=a.seed))
    row = dict(seed=a.seed, iters=len(it), seconds=round(time.perf_counter() - t0, 1))
    _append(pd.DataFrame([row]), a.out / "measure-runs.csv", dict(seed=a.seed))
    print(json.dumps(row), flush=True)


def switch(a, data):
    ends = pd.read_csv(a.out / "measure-ends.csv")
    e = ends[(ends.seed == a.seed) & (ends.window == a.window) & (ends.every == a.every)]
    if e.empty or pd.isna(e.ended_at.iloc[0]): raise SystemExit(f"seed {a.seed}: the rule ({a.window}, {a.every}) did not end the warm-up in the measured run")
    at = int(e.ended_at.iloc[0])
    ckpt = torch.load(a.work / f"s{a.seed}" / f"state-{at}.pth", weights_only=False)
    ckpt["warmup"] = dict(done_at=at, history=[])  # the warm-up ended here: from now on the scheduled 0.1
    cfg = _config(a.seed, a.iters, 0.1, str(a.data), a.arch)
    cfg.warmup = True
    rec = Record()
    t0 = time.perf_counter()
    # the test error at the end on every k-th test image (`--n-test` of them; the copy's test split is sorted by class):
    # on one shared core the whole 10k costs minutes, and the question here is the training error
    k = max(1, len(data.y_test) // a.n_test)
    small = dataclasses.replace(data, x_test=data.x_test[::k], y_test=data.y_test[::k])
    learn = make_learner(cfg, run_dls(cfg, small), device="cpu", ckpt=ckpt, cbs=[rec])
    with learn.no_bar(), learn.no_logging(): fit_budget(learn)
    test_error = 100 * float(learn.recorder.values[-1][2])
    it = pd.DataFrame(rec.rows)
    it["error"] = 100 * it.wrong / it.seen
    keys = dict(seed=a.seed, window=a.window, every=a.every)
    _append(it, a.out / "switch-iterations.csv", keys)
    row = dict(**keys, warmup_ended_at=at, iters=a.iters, train_error_last50=it.error.iloc[-50:].mean(),
               train_loss_last50=it.loss.iloc[-50:].mean(), test_error=test_error, n_test=len(small.y_test), seconds=round(time.perf_counter() - t0, 1))
    _append(pd.DataFrame([row]).drop(columns=list(keys)), a.out / "switch-runs.csv", keys)
    print(json.dumps(row), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("step", choices=("measure", "switch"))
    p.add_argument("--data", required=True)
    p.add_argument("--out", type=Path, required=True, help="the small result files (csv)")
    p.add_argument("--work", type=Path, default=Path("/work/scratch/warmup"), help="saved states (not committed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iters", type=int, default=600)
    p.add_argument("--arch", default="resnet110", help=argparse.SUPPRESS)  # a small net for a smoke test
    p.add_argument("--window", type=int, default=391, help="switch: the chosen rule's window")
    p.add_argument("--every", type=int, default=50, help="switch: the chosen rule's check interval")
    p.add_argument("--n-test", type=int, default=2000, help="switch: test images for the test error at the end")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    data = load_cifar10(a.data)
    (measure if a.step == "measure" else switch)(a, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
