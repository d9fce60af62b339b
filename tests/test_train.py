"Tests of the training chapter on tiny synthetic data: schedule, SGD semantics, warm-up, resume, NaN stop."
import json
import pytest, torch
from torch import nn
from fastai.callback.core import Callback
from resnet_study.data import cifar10_dls
from resnet_study.train import (NonFiniteLoss, TrainConfig, WarmUp, budget, load_checkpoint, make_learner,
                                fit_budget, paper_sgd, step_lr, synthetic_cifar, train_run)

torch.set_num_threads(1)  # CI runners have few cores; small nets gain nothing from more

@pytest.fixture(scope="module")
def tiny(): return synthetic_cifar(n_train=128, n_test=64)

def small_cfg(iters=12, **kw):
    b = dict(eval_every=6, log_every=2, ckpt_every=4)
    b.update({k: kw.pop(k) for k in list(kw) if k in b})
    return TrainConfig("resnet8", bs=16, budget=budget("smoke", iters=iters, **b), **kw)

@pytest.mark.parametrize("it,lr", [(0, 0.1), (400, 0.1), (31_999, 0.1), (32_000, 0.01), (47_999, 0.01),
                                   (48_000, 0.001), (63_999, 0.001), (64_000, 0.001)])
def test_paper_schedule(it, lr):
    assert step_lr(it) == pytest.approx(lr, rel=1e-12)

def test_scaled_budget_keeps_the_fractions():
    b = budget("paper", iters=1000)
    assert b.milestone_iters == (500, 750) and b.iters == 1000 and "scaled" in b.name
    assert budget("paper").milestone_iters == (32_000, 48_000)
    assert step_lr(499, 1000) == pytest.approx(0.1) and step_lr(500, 1000) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="unknown budget"): budget("forever")

def _steps(make_opt):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
    opt = make_opt(model)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    for _ in range(3):
        nn.functional.cross_entropy(model(x), y).backward(); opt.step(); opt.zero_grad()
    return torch.cat([p.detach().flatten() for p in model.parameters()])

def test_sgd_matches_torch_sgd_with_l2_decay_on_every_parameter():
    ours = _steps(lambda m: paper_sgd()(list(m.parameters()), lr=0.1))
    ref = _steps(lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    from fastai.optimizer import SGD
    decoupled = _steps(lambda m: SGD(list(m.parameters()), lr=0.1, mom=0.9, wd=1e-4))  # fastai's default: decoupled decay
    assert not torch.allclose(decoupled, ref)

def test_learner_decays_bn_weights_and_follows_the_schedule(tiny):
    dls = cifar10_dls(tiny, bs=16, device="cpu", drop_last=True)
    learn = make_learner(small_cfg(iters=8, eval_every=8), dls, device="cpu")
    with learn.no_bar(), learn.no_logging(): fit_budget(learn)
    assert learn.train_iter == 8
    assert learn.recorder.lrs == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2)
    assert all(s.get("do_wd", True) for s in learn.opt.state.values())  # BN scale/shift decayed too, as in Caffe
    assert learn.opt.hypers[0]["wd"] == 1e-4 and learn.opt.hypers[0]["mom"] == 0.9

def test_warmup_holds_lr_until_training_error_drops(tiny):
    dls = cifar10_dls(tiny, bs=16, device="cpu", drop_last=True)
    warm = WarmUp(lr=0.01, until=0.95, every=2, verbose=False)  # error < 95% happens fast on this data
    learn = make_learner(small_cfg(iters=10, eval_every=10), dls, device="cpu", cbs=[warm])
    with learn.no_bar(), learn.no_logging(): fit_budget(learn)
    assert warm.done_at is not None and warm.done_at % 2 == 0
    lrs = learn.recorder.lrs
    assert lrs[:warm.done_at] == pytest.approx([0.01] * warm.done_at)
    assert lrs[warm.done_at] == pytest.approx(0.1)

def test_warmup_never_ends_if_error_stays_high(tiny):
    dls = cifar10_dls(tiny, bs=16, device="cpu", drop_last=True)
    warm = WarmUp(lr=0.01, until=0.0, every=2, verbose=False)  # impossible threshold
    learn = make_learner(small_cfg(iters=6, eval_every=6), dls, device="cpu", cbs=[warm])
    with learn.no_bar(), learn.no_logging(): fit_budget(learn)
    assert warm.done_at is None
    assert learn.recorder.lrs == pytest.approx([min(0.01, step_lr(i, 6)) for i in range(6)])  # never above 0.01
    assert [it for it, _ in warm.history] == [2, 4, 6]

def test_warmup_is_on_for_110_layer_nets_only_by_default():
    assert TrainConfig("resnet110").use_warmup and TrainConfig("resnet1202").use_warmup
    assert not TrainConfig("resnet56").use_warmup and TrainConfig("resnet56", warmup=True).use_warmup

def test_run_folder(tiny, tmp_path):
    s = train_run(small_cfg(), tmp_path / "run", data=tiny, device="cpu", quiet=True)
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "metrics.csv", "summary.json", "checkpoint.pth"} <= files
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for k in ("arch", "iterations", "train_error", "test_error", "wall_seconds", "images_per_second"): assert k in summary
    assert summary == s and s["iterations"] == 12 and 0 <= s["test_error"] <= 100
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["config"]["budget"]["iters"] == 12 and "torch" in cfg["versions"]
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "iter,epoch,lr,train_loss,train_error,test_loss,test_error,images_per_second"
    assert len(rows) == 1 + 6 + 2  # training rows every 2 iterations, test rows at 6 and 12
    with pytest.raises(FileExistsError, match="--resume"):
        train_run(small_cfg(), tmp_path / "run", data=tiny, device="cpu", quiet=True)

class Interrupt(Exception): pass

class KillAt(Callback):
    "Simulate a crash: stop the process's training abruptly after iteration `at`"
    order = 99
    def __init__(self, at): self.at = at
    def after_batch(self):
        if self.training and self.train_iter == self.at: raise Interrupt(f"killed after iteration {self.at}")

def test_resume_continues_exactly(tiny, tmp_path):
    full = train_run(small_cfg(), tmp_path / "full", data=tiny, device="cpu", quiet=True)
    with pytest.raises(Interrupt):  # checkpoints at 4, 6 (after the evaluation), 8; crash at 10
        train_run(small_cfg(), tmp_path / "cut", data=tiny, device="cpu", quiet=True, cbs=[KillAt(10)])
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pth")["iteration"] == 8
    resumed = train_run(None, tmp_path / "cut", data=tiny, device="cpu", quiet=True, resume=True)
    assert resumed["iterations"] == 12
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pth")["model"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoint.pth")["model"]
    for k in a: torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert resumed["test_error"] == pytest.approx(full["test_error"], abs=1e-9)
    full_rows = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    cut_rows = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in cut_rows] == [r.split(",")[0] for r in full_rows]  # no duplicated rows

class PoisonAt(Callback):
    "Make the weights NaN after iteration `at`, as a diverging run would"
    order = 99
    def __init__(self, at): self.at = at
    def after_batch(self):
        if self.training and self.train_iter == self.at:
            with torch.no_grad(): self.model.fc.weight.fill_(float("nan"))

def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny, tmp_path):
    with pytest.raises(NonFiniteLoss, match=r"(?s)nan.*iteration 4\) is kept"):
        train_run(small_cfg(), tmp_path / "run", data=tiny, device="cpu", quiet=True, cbs=[PoisonAt(5)])
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pth")
    assert ck["iteration"] == 4 and all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["status"] == "diverged" and "checkpoint" in s["message"]
