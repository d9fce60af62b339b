"Tests of the training chapter on tiny synthetic data: schedule, SGD semantics, warm-up, resume, NaN stop."
import json
import pytest, torch
from torch import nn
from fastai.callback.core import Callback
from resnet_study.data import cifar10_dls
from resnet_study.recipes import budget
from resnet_study.schedules import WarmUp, step_lr as _step_lr
from resnet_study.callbacks import NonFiniteLoss, load_checkpoint
from resnet_study.train import TrainConfig, make_learner, fit_budget, paper_sgd
from resnet_study.runs import train_run
from resnet_study.testing import synthetic_cifar

def step_lr(it, iters=64_000): return _step_lr(it, iters, 0.1)  # the paper's CIFAR-10 schedule

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
    assert b.milestone_iters == (500, 750) and b.iters == 1000 and b.name == "1,000 iterations (1/64 of the paper's 64,000)"
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
    assert all(s.get("do_wd", True) for s in learn.opt.state.values())  # BN scale/shift decayed too (our default, wd_bn_bias=True: see the optimizer section)
    assert learn.opt.hypers[0]["wd"] == 1e-4 and learn.opt.hypers[0]["mom"] == 0.9

def test_warmup_holds_lr_until_training_error_drops(tiny):
    dls = cifar10_dls(tiny, bs=16, device="cpu", drop_last=True)
    warm = WarmUp(lr=0.01, until=0.95, every=2, window=2, verbose=False)  # error < 95% happens fast on this data
    learn = make_learner(small_cfg(iters=10, eval_every=10), dls, device="cpu", cbs=[warm])
    with learn.no_bar(), learn.no_logging(): fit_budget(learn)
    assert warm.done_at is not None and warm.done_at % 2 == 0
    lrs = learn.recorder.lrs
    assert lrs[:warm.done_at] == pytest.approx([0.01] * warm.done_at)
    assert lrs[warm.done_at] == pytest.approx(0.1)

def test_warmup_never_ends_if_error_stays_high(tiny):
    dls = cifar10_dls(tiny, bs=16, device="cpu", drop_last=True)
    warm = WarmUp(lr=0.01, until=0.0, every=2, window=2, verbose=False)  # impossible threshold
    learn = make_learner(small_cfg(iters=6, eval_every=6), dls, device="cpu", cbs=[warm])
    with learn.no_bar(), learn.no_logging(): fit_budget(learn)
    assert warm.done_at is None
    assert learn.recorder.lrs == pytest.approx([min(0.01, step_lr(i, 6)) for i in range(6)])  # never above 0.01
    assert [it for it, _ in warm.history] == [2, 4, 6]

def test_warmup_window_spans_iterations_and_survives_a_resume(tiny, tmp_path):
    "The error is counted over the last `window` iterations, looked at every `every`; a resume keeps the window"
    dls = cifar10_dls(tiny, bs=16, device="cpu", drop_last=True)
    warm = WarmUp(lr=0.01, until=0.0, every=2, window=5, verbose=False)  # never ends: every look is recorded
    learn = make_learner(small_cfg(iters=8, eval_every=8), dls, device="cpu", cbs=[warm])
    with learn.no_bar(), learn.no_logging(): fit_budget(learn)
    assert [it for it, _ in warm.history] == [6, 8]  # not before a whole window of 5
    st = warm.state()
    assert len(st["recent"]) == 5 and all(n == 16 for _, n in st["recent"])
    again = WarmUp(lr=0.01, until=0.0, every=2, window=5, verbose=False); again.load_state(st)
    assert again._counted == 5 and [list(r) for r in again._recent] == st["recent"]
    older = WarmUp(verbose=False); older.load_state(dict(done_at=100, history=[[50, 0.9], [100, 0.79]]))  # an old checkpoint
    assert older.done_at == 100 and older._counted == 0

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
    assert cfg["threads"] == torch.get_num_threads()  # a CPU run's rate depends on it
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

# --- the ImageNet recipe, on a tiny generated ImageNet-layout tree ------------------------------------
from types import SimpleNamespace
from resnet_study.schedules import PlateauSchedule
from resnet_study.runs import evaluate_run
from resnet_study.testing import synthetic_image_tree

class _FakeOpt:
    def __init__(self, lr): self.hypers = [dict(lr=lr)]
    def set_hyper(self, k, v):
        for h in self.hypers: h[k] = v

def test_plateau_divides_the_rate_by_10_after_patience_evaluations_without_improvement():
    fake = SimpleNamespace(recorder=SimpleNamespace(metric_names=["epoch", "train_loss", "valid_loss", "error_rate", "time"],
                                                    values=[]), opt=_FakeOpt(0.1), train_iter=0, epoch=0)
    sched = PlateauSchedule(0.1, patience=3); sched.learn = fake; sched.before_fit()
    rates = []
    for i, err in enumerate([0.9, 0.8, 0.85, 0.8, 0.81, 0.79, 0.80, 0.80, 0.80, 0.80]):
        fake.epoch, fake.train_iter = i, 10 * (i + 1)
        fake.recorder.values.append([1.0, 1.0, err]); sched.after_epoch(); rates.append(sched.rate)
    # 0.85, the tie 0.8 and 0.81 are three evaluations without improvement; then 0.79 is the best and 3 more follow
    assert rates == pytest.approx([0.1] * 4 + [0.01] * 4 + [0.001] * 2)
    assert sched.reductions == [[50, pytest.approx(0.01)], [90, pytest.approx(0.001)]] and sched.wait == 1
    state = sched.state()  # what a checkpoint keeps: a resumed run goes on counting
    again = PlateauSchedule(0.1, patience=3); again.load_state(state)
    again.learn = fake; again.before_fit()
    assert again.wait == 1 and again.rate == pytest.approx(0.001) and again.best == pytest.approx(0.79)

def test_imagenet_budgets():
    b = budget("paper", dataset="imagenet")
    assert b.iters == 600_000 and b.schedule == "plateau" and b.patience == 5 and b.eval_every == 5000 and b.milestones == ()
    s = budget("paper", iters=100, dataset="imagenet", patience=3)
    assert s.iters == 100 and "1/6000 of the paper's 600,000" in s.name and s.patience == 3 and s.eval_every == 5
    with pytest.raises(ValueError, match="Imagenette"): budget("paper", subset=100, dataset="imagenet")
    assert TrainConfig("resnet50").shortcut == "B" and TrainConfig("resnet34").shortcut == "A"
    assert TrainConfig("resnet50").dataset == "imagenet" and not TrainConfig("resnet152").use_warmup

@pytest.fixture(scope="module")
def tree(tmp_path_factory): return synthetic_image_tree(tmp_path_factory.mktemp("imnet") / "tiny")

def test_imagenet_run_resumes_with_its_plateau_state_and_tests_on_ten_crops(tree, tmp_path):
    cfg = TrainConfig("resnet18", bs=4, size=32, workers=0, data=str(tree),
                      budget=budget("smoke", iters=6, dataset="imagenet", eval_every=2, log_every=1, ckpt_every=2, patience=1))
    with pytest.raises(Interrupt):  # checkpoints at 2 and 4 (after the evaluations); crash at 5
        train_run(cfg, tmp_path / "run", device="cpu", quiet=True, cbs=[KillAt(5)])
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pth")
    assert ck["iteration"] == 4 and ck["plateau"]["wait"] in (0, 1)
    s = train_run(None, tmp_path / "run", device="cpu", quiet=True, resume=True)
    assert s["iterations"] == 6 and s["status"] == "done"
    assert s["lr_reductions"][:len(ck["plateau"]["reductions"])] == ck["plateau"]["reductions"]  # kept across the resume
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["dataset"] == "imagenet" and config["config"]["budget"]["schedule"] == "plateau"
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows if r.split(",")[4]] == [1, 2, 3, 4, 5, 6]  # each window once
    ten = evaluate_run(tmp_path / "run", device="cpu")
    assert ten["crop"] == "ten" and ten["n_test"] == 6 and 0 <= ten["top1_error"] <= 100 and ten["top5_error"] == 0
    center = evaluate_run(tmp_path / "run", device="cpu", crop="center")
    assert center["test_error"] == pytest.approx(s["test_error"])  # training validates on the centre crops

def test_arch_and_data_must_match(tree, tiny, tmp_path):
    with pytest.raises(ValueError, match="ImageNet-style tree"):
        train_run(small_cfg(data=str(tree)), tmp_path / "a", device="cpu", quiet=True)
    with pytest.raises(ValueError, match="ImageNet net"):
        train_run(TrainConfig("resnet18", bs=4), tmp_path / "b", data=tiny, device="cpu", quiet=True)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

def test_image_loader_starts_mid_epoch_at_the_same_images(tree):
    from resnet_study.train import run_dls
    dls = run_dls(TrainConfig("resnet18", bs=4, size=32, workers=0, data=str(tree)), device="cpu")
    whole = [y.tolist() for _, y in dls.train.set_epoch(3)]
    assert [y.tolist() for _, y in dls.train.set_epoch(3, batch=1)] == whole[1:]

# --- budgets a student reads, plain nets without a shortcut, old run folders --------------------------
def test_short_budgets_evaluate_a_few_times_and_say_what_they_are():
    b = budget(iters=50)
    assert b.eval_every == 50 and b.name == "50 iterations (1/1280 of the paper's 64,000)"
    assert budget(iters=3200).eval_every == 400 and budget(iters=1000).eval_every == 400  # at most every 400
    assert budget(iters=50, eval_every=10).eval_every == 10  # unless asked

def test_plain_nets_have_no_shortcut_and_old_configs_still_read():
    from pathlib import Path
    from resnet_study.models import get_model
    from resnet_study.runs import run_config
    with pytest.raises(ValueError, match="plain net has no shortcuts"): get_model("plain20", shortcut="B")
    with pytest.raises(ValueError, match="plain20 is a plain net"): TrainConfig("plain20", shortcut="A")
    assert TrainConfig("plain20").shortcut is None and TrainConfig("resnet20").shortcut == "A"
    old = Path(__file__).resolve().parent.parent / "runs" / "cpu-3200" / "plain20-s0"  # shortcut "A", "quick-scaled-3200"
    cfg = run_config(old)
    assert cfg.shortcut is None and cfg.budget.iters == 3200 and cfg.budget.name == "quick-scaled-3200"
