"""Training throughput of the CLI's own path in one variant, for several nets, and where its time goes.

    python benchmarks/throughput_variants.py --variant eager --archs resnet20 resnet56 resnet110 --data PATH
    TORCHINDUCTOR_CUDAGRAPHS=1 python benchmarks/throughput_variants.py --variant graphs --archs resnet20 --data PATH

A variant is what `resnet-study train` would run with:
  eager:   the Learner as the CLI builds it (channels-last; bf16 autocast on a GPU);
  compile: the same with `--compile` (the model in `torch.compile`);
  graphs:  `--compile` with TORCHINDUCTOR_CUDAGRAPHS=1 in the environment, which makes inductor replay the
           compiled forward and backward as CUDA graphs (the CLI takes the same variable; GPU only).
The variable is read when torch is imported, so it is the caller's to set; this script only checks it.

For each net it writes one JSON line to --out as soon as that net is measured (a caller that kills it keeps
the lines written so far):
  images_per_second, s_per_iter  the Learner's training batches (the CLI's path, `make_learner` with a run folder);
  step_s_per_iter                the bare step of the same model, optimizer and precision on one fixed batch;
  learner_overhead_ms            the difference: what fastai's batch loop, its callbacks, our batch pipeline and
                                 the run logger add per batch;
  opt_fastai_ms, opt_foreach_ms  (eager) one step of the paper's fastai SGD, and of torch.optim.SGD(foreach=True)
                                 on the same parameters: the part of the step fastai's optimizer costs;
  gpu_busy_s_per_iter            (GPU) kernel time per bare step, from the profiler: what the device itself needs;
  import_s, data_s, warmup_s     the start-up a run pays: imports, loading the data, building the Learner and its
                                 first `--warmup` batches (with `torch.compile` these include compiling);
  eval_first_s, eval_s           one evaluation of the test set, the first (compiling the eval graph) and the next.
Nothing here is a test: the numbers depend on the machine and on whatever else runs on it.
"""
from __future__ import annotations
import time
T_START = time.perf_counter()
import argparse, contextlib, json, os, shutil, sys, tempfile, traceback
from pathlib import Path

VARIANTS = ("eager", "compile", "graphs")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=VARIANTS, default="eager")
    p.add_argument("--archs", nargs="+", default=["resnet20", "resnet56", "resnet110"])
    p.add_argument("--data", required=True, help="CIFAR-10, any form `resnet-study train --data` takes")
    p.add_argument("--device", default=None, help="cuda or cpu (default: the first available)")
    p.add_argument("--bs", type=int, default=128)
    p.add_argument("--warmup", type=int, default=20, help="untimed batches first (compiling, CUDA-graph recording)")
    p.add_argument("--steps", type=int, default=200, help="timed batches")
    p.add_argument("--profile-steps", type=int, default=20, help="bare steps under the profiler (GPU only; 0: none)")
    p.add_argument("--out", type=Path, required=True, help="JSON lines, one per net, appended")
    a = p.parse_args(argv)
    graphs_env = os.environ.get("TORCHINDUCTOR_CUDAGRAPHS") == "1"
    if graphs_env != (a.variant == "graphs"):
        sys.exit(f"--variant {a.variant} needs TORCHINDUCTOR_CUDAGRAPHS={'1' if a.variant == 'graphs' else 'unset'} "
                 "in the environment (inductor reads it when torch is imported)")

    import torch
    sys.path.insert(0, str(Path(__file__).parent))
    from throughput import sync, timed
    from resnet_study.sources import load_cifar10
    from resnet_study.distributed import pick_device
    device = torch.device(a.device) if a.device else pick_device()
    if a.variant == "graphs" and device.type != "cuda": sys.exit("--variant graphs needs a GPU")
    import_s = time.perf_counter() - T_START
    t = time.perf_counter(); data = load_cifar10(a.data); data_s = time.perf_counter() - t
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for arch in a.archs:
        row = dict(arch=arch, variant=a.variant, bs=a.bs, device=str(device), import_s=round(import_s, 2), data_s=round(data_s, 2))
        try: row.update(measure(arch, a, data, device, torch, sync, timed))
        except Exception as e:  # one net's failure is that net's row; the next net is still measured
            row["error"] = f"{type(e).__name__}: {e}"; traceback.print_exc()
        with open(a.out, "a") as f: f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    return 0


def measure(arch, a, data, device, torch, sync, timed) -> dict:
    from fastai.callback.core import Callback, CancelFitException
    from resnet_study.train import TrainConfig, make_learner
    from resnet_study.recipes import budget
    from resnet_study.data import cifar10_dls
    res = {}
    if device.type == "cuda": torch.cuda.reset_peak_memory_stats()
    t_build = time.perf_counter()
    # the Learner `resnet-study train` builds (run folder, logger, checkpointer), with a budget too long to end here
    cfg = TrainConfig(arch=arch, bs=a.bs, compile=a.variant != "eager",
                      budget=budget("paper", eval_every=10 ** 6, ckpt_every=10 ** 6))
    dls = cifar10_dls(data, bs=a.bs, device=device, seed=cfg.seed, drop_last=True)
    run_dir = tempfile.mkdtemp(prefix="throughput_variants_")
    learn = make_learner(cfg, dls, run_dir=run_dir, device=device)

    class Timer(Callback):
        "Seconds per training batch between batch `warmup` and `warmup + steps`; the time until the first is start-up"
        order = 99
        def before_fit(self): self.i = 0
        def after_batch(self):
            if not self.training: return
            self.i += 1
            if self.i == a.warmup: sync(device); self.t0 = time.perf_counter()
            if self.i == a.warmup + a.steps:
                sync(device); self.dt = (time.perf_counter() - self.t0) / a.steps
                raise CancelFitException
    timer = Timer()
    with learn.no_bar(), learn.no_logging(): learn.fit(10 ** 6, cbs=[timer])  # as `resnet-study train --quiet`
    res.update(warmup_s=round(timer.t0 - t_build, 2), s_per_iter=timer.dt, images_per_second=round(a.bs / timer.dt, 1))
    print(f"{arch} {a.variant}: {a.bs / timer.dt:.1f} images/s through the Learner", flush=True)

    # the bare step: the same (possibly compiled) model, optimizer and precision, one fixed batch, no Learner
    model, opt = learn.model, learn.opt
    xb, yb = learn.dls.train.one_batch()
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" and cfg.bf16 is not False \
        else contextlib.nullcontext  # as make_learner: bf16 autocast on a GPU only
    def step():
        with amp(): loss = learn.loss_func(model(xb).float(), yb)  # MixedPrecision: float predictions, loss under autocast
        loss.backward(); opt.step(); opt.zero_grad()
    res["step_s_per_iter"] = timed(step, max(3, a.warmup // 4), a.steps, device)
    res["learner_overhead_ms"] = round((timer.dt - res["step_s_per_iter"]) * 1e3, 3)

    if device.type == "cuda" and a.profile_steps:
        try: res["gpu_busy_s_per_iter"] = gpu_busy(step, a.profile_steps, torch) / a.profile_steps
        except Exception as e: res["gpu_busy_error"] = f"{type(e).__name__}: {e}"

    if a.variant == "eager":  # the optimizer's own share, the same in every variant (torch.compile leaves it alone)
        params = [p for p in model.parameters() if p.grad is not None]
        res["opt_fastai_ms"] = round(timed(opt.step, 3, 50, device) * 1e3, 3)
        torch_sgd = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.wd, foreach=True)
        res["opt_foreach_ms"] = round(timed(torch_sgd.step, 3, 50, device) * 1e3, 3)
        res["param_tensors"] = len(params)

    # one evaluation of the test set, as every `eval_every` iterations of a run (the checkpoint it writes left out)
    learn.remove_cb(learn.checkpointer)
    for key in ("eval_first_s", "eval_s"):
        sync(device); t = time.perf_counter()
        with learn.no_bar(): learn.validate()
        sync(device)
        res[key] = round(time.perf_counter() - t, 3)
    res["eval_images_per_second"] = round(dls.valid.n / res["eval_s"], 1)
    if device.type == "cuda": res["gpu_peak_GiB"] = round(torch.cuda.max_memory_allocated() / 2 ** 30, 3)
    if a.variant != "eager":
        import torch._inductor.config as ic
        res["inductor_cudagraphs"] = bool(ic.triton.cudagraphs)
    shutil.rmtree(run_dir, ignore_errors=True)
    return res


def gpu_busy(step, n: int, torch) -> float:
    "Seconds the GPU spends in kernels and copies over `n` calls of `step` (the union of their intervals, from the profiler)"
    from torch.profiler import profile, ProfilerActivity
    from torch.autograd import DeviceType
    step(); torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(n): step()
        torch.cuda.synchronize()
    spans = sorted((e.time_range.start, e.time_range.end) for e in prof.events() if e.device_type == DeviceType.CUDA)
    if not spans: raise RuntimeError("the profiler recorded no GPU activity")
    busy, (s0, e0) = 0.0, spans[0]
    for s, e in spans[1:]:
        if s > e0: busy += e0 - s0; s0, e0 = s, e
        else: e0 = max(e0, e)
    return (busy + e0 - s0) / 1e6  # the profiler's times are microseconds


if __name__ == "__main__":
    sys.exit(main())
