"""A time-boxed benchmark for a machine with a CUDA GPU: the training throughput of the CLI's path, then the paper's
CIFAR-10 schedule for ResNet-20 and as many of plain-20, plain-56 and ResNet-56 as fit beside it on the one GPU.

    python benchmarks/gpu.py                       # the GPU column of the table below, within --minutes (default 9)
    python benchmarks/gpu.py --minutes 60          # more time: more of the runs fit, and more of each
    python benchmarks/gpu.py --dry-run --data PATH # the same steps and files on the CPU, with the table's small column

Everything it starts is a process of its own (`benchmarks/throughput_variants.py`, `resnet-study train`,
`benchmarks/memory.py`), with OMP_NUM_THREADS=--threads. The clock starts when this script does; every deadline
below is in seconds since then, inside the time box:

  1. throughput, until bench_until_s (at most half the time box): every net of bench_archs in eager mode; the first
     net also with torch.compile and with compile + CUDA graphs; the other nets in the faster of those two. Each
     row: images/s through the Learner, the bare step, fastai's per-batch overhead, its optimizer against torch's
     foreach SGD, the GPU's own kernel time, start-up and evaluation times. A measurement still going at the
     deadline (or after bench_each_s) is stopped.
  2. the runs, until the time box less stop_margin_s: each `resnet-study train --budget paper` in its own process
     and run folder, all at once on the one device. From the throughput, each run's time alone is projected
     (start-up + iterations x seconds per iteration + evaluations) in its fastest variant, plain nets by the ResNet
     of their depth; runs share the device by a simple rule: while the shares (the GPU's kernel time over the
     step's wall time; on a CPU, threads over cores) sum to at most 1 nobody slows down, above that everyone slows
     by that sum. Runs are taken in priority order while the projected end stays inside the time left; the first
     always runs. Every check_every_s the runs' own progress (their metrics.csv) is read again: when a run would end
     after the stop, the lowest-priority run that is late (or any but the first, when the first is late) is
     stopped, which leaves the others more of the device. A run that fails in a compiled variant is started again
     in eager mode, once. At the stop, the runs still going are stopped; each keeps its newest checkpoint.

What it writes under --out (default benchmarks/results/gpu-<the GPU's name>):
  machine.txt    nvidia-smi's view of the GPUs (where nvidia-smi exists), Python, torch, fastai, the GPU's name,
                 memory and bf16 support
  log.txt        this script's log, ending with the summary table
  report.json    every number: the table's column, the throughput rows, the projection, each run's status,
                 last iteration and test error, the memory peaks, the phases' times (rewritten after every step)
  runs/<net>/    each run's folder: config.json, metrics.csv, summary.json when it finished, checkpoint.pth while
                 it has not; an unfinished run continues with `resnet-study train --resume --out <out>/runs/<net>`
  logs/          each process's output; memory.json, throughput.jsonl

Exit status: 0 when the phases ran, 2 when it cannot start (no CUDA GPU without --dry-run, no data, --out in use),
3 when the time box's watchdog or a signal stopped it (what there is is written all the same).
"""
from __future__ import annotations
import time
T_START = time.time()  # the benchmark's clock: every deadline is in seconds since here
import argparse, json, math, os, platform, re, shutil, signal, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's package, as the processes it starts use
from resnet_study.recipes import RECIPES  # the paper's numbers: one table
from resnet_study.files import atomic_write
from resnet_study.runfolder import RunFileDamaged, read_metrics

# ---- the recipe: one row per knob, a GPU's value, then the CPU dry run's -------------------------------------------
# Any knob can be changed for one run with --set KNOB=JSON, e.g. --set bench_until_s=150 --set 'runs=["resnet20"]'.
RECIPE = dict(
    #                a GPU                                   --dry-run (CPU)        what it is
    minutes       = (9,                                      3),                    # the time box (--minutes): all is written by then
    bench_until_s = (200,                                    80),                   # phase 1 ends by then (at most half the time box)
    bench_each_s  = (100,                                    60),                   # and one measuring process (one variant) stops after this long
    stop_margin_s = (25,                                     10),                   # the runs stop this long before the time box ends
    check_every_s = (30,                                     10),                   # read the runs' progress, re-project
    bs            = (RECIPES["cifar10"].bs,                  32),                   # the batch of every measurement and run (the paper's: 128)
    bench_archs   = (["resnet20", "resnet56", "resnet110"],  ["resnet20", "resnet56"]),  # all eager; the first in every variant, the rest in the best compiled one
    variants      = (["eager", "compile", "graphs"],         ["eager", "compile", "graphs"]),  # graphs = --compile + TORCHINDUCTOR_CUDAGRAPHS=1 (on a CPU: a "skipped" row)
    bench_warmup  = (20,                                     2),                    # untimed batches first (compiling, graph recording)
    bench_steps   = (200,                                    4),                    # timed batches
    profile_steps = (20,                                     0),                    # bare steps under the profiler, for the GPU's own time
    runs          = (["resnet20", "plain20", "plain56", "resnet56"], ["resnet20", "plain20", "plain56", "resnet56"]),  # priority order
    iters         = (RECIPES["cifar10"].iters,               16),                   # the paper's: lr 0.1, /10 at 50% and 75%
    eval_every    = (RECIPES["cifar10"].eval_every,          8),                    # a test-set evaluation every this many iterations (the paper's)
    threads       = (2,                                      1),                    # OMP_NUM_THREADS of every process (--threads)
    memory_archs  = (["resnet110", "resnet1202"],            ["resnet20"]),         # benchmarks/memory.py beside the runs (per-process peaks)
    memory_s      = (120,                                    60),                   # its time limit
)
PAPER = dict(iters=RECIPES["cifar10"].iters, eval_every=RECIPES["cifar10"].eval_every, bs=RECIPES["cifar10"].bs)  # not passed


def knobs(dry: bool, sets: list[str] = ()) -> dict:
    "The table's column (the CPU one when `dry`), with each `KNOB=JSON` of `sets` applied"
    k = {name: v[1 if dry else 0] for name, v in RECIPE.items()}
    for s in sets:
        name, eq, value = s.partition("=")
        if not eq or name not in k: raise SystemExit(f"--set {s}: expected KNOB=VALUE with KNOB one of {', '.join(k)}")
        try: k[name] = json.loads(value)
        except json.JSONDecodeError: k[name] = value
    return k


K: dict = knobs(False)  # main() sets the column of this run
PY = sys.executable
LOG: Path | None = None  # log.txt under --out, once main() knows it


def now() -> float: return time.time() - T_START

def log(msg: str):
    line = f"[{now():6.1f} s] {msg}"
    print(line, flush=True)
    if LOG is not None:
        with open(LOG, "a") as f: f.write(line + "\n")


class Deadline(Exception):
    "The watchdog (the time box) or a signal: stop everything, write what there is"


def on_gpu() -> bool: return K["device"].split(":")[0] == "cuda"


def write_atomic(path: Path, data: bytes):
    "Written whole, then renamed: a benchmark stopped anywhere leaves whole files"
    with atomic_write(path) as tmp: tmp.write_bytes(data)


# ---- the machine ---------------------------------------------------------------------------------------------------
def slug(name: str) -> str:
    "A GPU's name as a folder name: 'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu"

def machine(device: str) -> str:
    "What machine.txt holds: nvidia-smi's view where it exists, the software's versions, the GPU torch sees"
    import torch, torchvision, fastai, fastcore
    lines = []
    if shutil.which("nvidia-smi"):
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,clocks.max.sm,driver_version", "--format=csv"],
                           capture_output=True, text=True)
        lines += (r.stdout or r.stderr).strip().splitlines()
    lines.append(f"python {platform.python_version()} at {sys.executable}; torch {torch.__version__} (CUDA {torch.version.cuda}), "
                 f"torchvision {torchvision.__version__}, fastai {fastai.__version__}, fastcore {fastcore.__version__}; "
                 f"{os.cpu_count()} cpus; {platform.platform()}")
    if device.split(":")[0] == "cuda":
        p = torch.cuda.get_device_properties(torch.device(device))
        lines.append(f"{device}: {p.name}, {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, "
                     f"bf16 {torch.cuda.is_bf16_supported()}")
    else:
        lines.append(f"{device}: {platform.processor() or platform.machine()} (a dry run: no GPU is used)")
    return "\n".join(lines) + "\n"


# ---- child processes: each in its own process group, so it and its compile workers stop together ------------------
CHILDREN: list[subprocess.Popen] = []

def start(cmd: list[str], logfile: Path, env: dict) -> subprocess.Popen:
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    CHILDREN.append(p)
    return p

def stop(*procs: subprocess.Popen, grace: float = 10.0):
    """SIGTERM to each one's process group (metrics.csv rows and checkpoints are written whole, so nothing is torn),
    then, for those still there after `grace` seconds in all, SIGKILL"""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        try: os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError: pass
    until = time.time() + grace
    for p in live:
        try: p.wait(max(0.0, until - time.time()))
        except subprocess.TimeoutExpired:
            try: os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError: pass
            p.wait()

def base_env(variant: str = "eager") -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(K["threads"]), "MKL_NUM_THREADS": str(K["threads"]), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    env.pop("TORCHINDUCTOR_CUDAGRAPHS", None)
    if variant == "graphs": env["TORCHINDUCTOR_CUDAGRAPHS"] = "1"  # inductor's CUDA graphs, read by torch at import
    return env

def tail(path: Path, n: int = 2000) -> str:
    try: return path.read_bytes()[-n:].decode(errors="replace")
    except OSError: return ""


# ---- phase 1: throughput -------------------------------------------------------------------------------------------
def bench(rep: dict, out: Path, data: str, until: float, save):
    rows, jsonl = rep["throughput"], out / "logs" / "throughput.jsonl"
    archs, variants = K["bench_archs"], K["variants"]
    compiled = [v for v in variants if v != "eager"]
    plan = [("eager", archs)] + [(v, archs[:1]) for v in compiled] + [("best compiled", archs[1:])]
    for variant, nets in plan:
        if variant == "graphs" and not on_gpu():
            rows.append(dict(arch=archs[0], variant="graphs", status="skipped: CUDA graphs need a GPU")); save(); continue
        if variant == "best compiled":
            timed = [r for r in rows if r["arch"] == archs[0] and r.get("variant") in compiled and "s_per_iter" in r]
            if not timed or not nets: continue
            variant = min(timed, key=lambda r: r["s_per_iter"])["variant"]
            log(f"the faster compiled variant on {archs[0]}: {variant}; measuring {', '.join(nets)} in it")
        left = min(until - now(), K["bench_each_s"])
        if left < 5:
            rows.extend(dict(arch=a, variant=variant, status="not started: phase 1's deadline") for a in nets); save(); continue
        logfile = out / "logs" / f"throughput-{variant}.log"
        cmd = [PY, "benchmarks/throughput_variants.py", "--variant", variant, "--archs", *nets, "--data", data,
               "--device", K["device"], "--bs", str(K["bs"]), "--warmup", str(K["bench_warmup"]),
               "--steps", str(K["bench_steps"]), "--profile-steps", str(K["profile_steps"]), "--out", str(jsonl)]
        log(f"throughput, {variant}: {' '.join(nets)} (at most {left:.0f} s)")
        seen = len(jsonl.read_text().splitlines()) if jsonl.exists() else 0
        p = start(cmd, logfile, base_env(variant))
        try: rc = p.wait(left)
        except subprocess.TimeoutExpired: rc = None; stop(p, grace=3)
        new = [json.loads(l) for l in jsonl.read_text().splitlines()[seen:]] if jsonl.exists() else []
        rows.extend(new)
        for a in nets[len(new):]:
            why = f"stopped after {left:.0f} s (phase 1's deadline or bench_each_s)" if rc is None else f"failed (exit {rc}): {tail(logfile, 300).strip().splitlines()[-1:]}"
            rows.append(dict(arch=a, variant=variant, status=why))
        for r in new:
            if "error" in r: log(f"  {r['arch']} {variant}: {r['error']}")
            else: log(f"  {r['arch']} {variant}: {r['images_per_second']:.0f} images/s, "
                      f"fastai adds {r['learner_overhead_ms']:.2f} ms a batch, start-up {r['import_s'] + r['data_s'] + r['warmup_s']:.0f} s")
        save()


# ---- phase 2: which runs fit, in which variant -----------------------------------------------------------------------
def proxy(name: str) -> str:
    "The measured net a run is projected by: itself, or the ResNet of a plain net's depth (the same convolutions)"
    return re.sub(r"^plain", "resnet", name)

def alone_s(row: dict, iters: int, eval_every: int) -> float:
    "Projected wall time of a run by itself: start-up, iterations, evaluations (the first compiles)"
    n_evals = math.ceil(iters / eval_every)
    return (row["import_s"] + row["data_s"] + row["warmup_s"] + iters * row["s_per_iter"]
            + row["eval_first_s"] + (n_evals - 1) * row["eval_s"])

def share(row: dict, rows: list[dict], device: str, threads: int, cores: int) -> float:
    """The part of the shared device one run keeps busy: on a CPU its threads over the cores; on a GPU its kernel
    time over its step time, with the largest kernel time measured for the net in any variant (the profiler may not
    see inside CUDA graphs; eager kernels are the slowest), 1 when none was measured"""
    if device.split(":")[0] != "cuda": return min(1.0, threads / cores)
    busy = max((r["gpu_busy_s_per_iter"] for r in rows if r["arch"] == row["arch"] and r.get("gpu_busy_s_per_iter")), default=None)
    return min(1.0, busy / row["s_per_iter"]) if busy else 1.0

def makespan(plan: list[dict], iters: int, eval_every: int) -> float:
    "When the last of `plan` would end, all started together: everyone slows by the sum of the shares above 1"
    slow = max(1.0, sum(r["share"] for r in plan))
    n_evals = math.ceil(iters / eval_every)
    def wall(r):
        b = r["row"]
        return (b["import_s"] + b["data_s"] + b["warmup_s"]
                + slow * (iters * b["s_per_iter"] + b["eval_first_s"] + (n_evals - 1) * b["eval_s"]))
    return max((wall(r) for r in plan if r["row"]), default=0.0)

def plan_runs(names: list[str], rows: list[dict], left: float, iters: int, eval_every: int,
              device: str, threads: int, cores: int) -> list[dict]:
    "One entry per run name: its variant, projection and whether it starts (the first always does)"
    timed = [r for r in rows if "s_per_iter" in r and "eval_s" in r]
    plans, chosen = [], []
    for i, name in enumerate(names):
        options = [r for r in timed if r["arch"] == proxy(name)]
        best = min(options, key=lambda r: alone_s(r, iters, eval_every)) if options else None
        p = dict(name=name, proxy=proxy(name), variant=best["variant"] if best else "eager", row=best,
                 alone_s=round(alone_s(best, iters, eval_every), 1) if best else None,
                 share=share(best, timed, device, threads, cores) if best else 1.0)
        if i == 0:
            p["start"], p["why"] = True, "the first run always starts"
        elif best is None:
            p["start"], p["why"] = False, f"no measurement of {proxy(name)} to project it by"
        else:
            end = makespan(chosen + [p], iters, eval_every)
            p["start"] = end <= left
            p["why"] = (f"all {len(chosen) + 1} together would end in {end:.0f} s "
                        f"{'within' if p['start'] else 'after'} the {left:.0f} s left")
        if p["start"]: chosen.append(p)
        p["projected_s"] = round(makespan(chosen, iters, eval_every), 1) if p["start"] else None
        plans.append(p)
    return plans


# ---- phase 2: the runs -----------------------------------------------------------------------------------------------
def train_cmd(name: str, variant: str, data: str, run_dir: Path, force: bool = False) -> list[str]:
    cmd = [PY, "-m", "resnet_study.cli", "train", "--arch", name, "--data", data, "--budget", "paper",
           "--out", str(run_dir), "--quiet", "--device", K["device"]]
    for flag, key in (("--iters", "iters"), ("--eval-every", "eval_every"), ("--bs", "bs")):
        if K[key] != PAPER[key]: cmd += [flag, str(K[key])]
    return cmd + (["--compile"] if variant != "eager" else []) + (["--force"] if force else [])

def last_row(run_dir: Path) -> dict:
    "metrics.csv's last iteration and last test error ({} before the first row), read by the library's one reader"
    try: m = read_metrics(run_dir / "metrics.csv")
    except (OSError, RunFileDamaged): return {}
    if not len(m): return {}
    tests = m["test_error"].dropna() if "test_error" in m else []
    return dict(last_iter=int(m["iter"].iloc[-1]), test_error=float(tests.iloc[-1]) if len(tests) else None)

def last_iter(run_dir: Path) -> int: return last_row(run_dir).get("last_iter", 0)


def train(rep: dict, out: Path, data: str, stop_at: float, save):
    iters = K["iters"]
    plans = plan_runs(K["runs"], rep["throughput"], stop_at - now(), iters, K["eval_every"], K["device"],
                      K["threads"], os.cpu_count() or 1)
    rep["projection"] = [{k: v for k, v in p.items() if k != "row"} for p in plans]
    for p in plans: log(f"projection: {p['name']} ({p['variant']}, alone {p['alone_s']} s): "
                        f"{'starts' if p['start'] else 'not started'}; {p['why']}")
    runs = rep["runs"]
    for p in plans:
        if not p["start"]: continue
        d = out / "runs" / p["name"]
        r = dict(name=p["name"], variant=p["variant"], dir=str(d), status="running", started_s=round(now(), 1),
                 cmd=train_cmd(p["name"], p["variant"], data, d), retried=False, progress=[])
        r["proc"] = start(r["cmd"], out / "logs" / f"train-{p['name']}.log", base_env(p["variant"]))
        runs.append(r)
    log("started: " + ", ".join(f"{r['name']} ({r['variant']})" for r in runs))
    mem = None
    if K["memory_archs"]:
        mem = start([PY, "benchmarks/memory.py", "--device", K["device"], "--bs", str(K["bs"]), "--archs", *K["memory_archs"],
                     "--out", str(out / "logs" / "memory.json")], out / "logs" / "memory.log", base_env())
        mem_until = now() + K["memory_s"]
    save()
    next_check = now() + K["check_every_s"]
    while now() < stop_at:
        live = [r for r in runs if r["status"] == "running"]
        if mem is not None and (mem.poll() is not None or now() > mem_until):
            stop(mem, grace=3)
            rep["memory"] = read_json(out / "logs" / "memory.json") or {"status": f"no result; {tail(out / 'logs' / 'memory.log', 300)}"}
            mem = None
        if not live and mem is None: break
        for r in live:
            rc = r["proc"].poll()
            if rc is None: continue
            if rc == 0: r["status"] = "done"; log(f"{r['name']} done")
            elif r["variant"] != "eager" and not r["retried"]:
                log(f"{r['name']} failed in {r['variant']} (exit {rc}); starting it again in eager mode")
                r.update(variant="eager", retried=True, progress=[], failed_first=tail(out / "logs" / f"train-{r['name']}.log", 1500))
                r["cmd"] = train_cmd(r["name"], "eager", data, Path(r["dir"]), force=True)
                r["proc"] = start(r["cmd"], out / "logs" / f"train-{r['name']}.log", base_env("eager"))
            else:
                r["status"] = f"failed (exit {rc})"; log(f"{r['name']} failed (exit {rc})")
        if now() >= next_check:
            next_check = now() + K["check_every_s"]
            recheck(runs, stop_at, iters)
            save()
        time.sleep(1)
    live = [r for r in runs if r["status"] == "running"]
    stop(*[r["proc"] for r in live], *([mem] if mem is not None else []))
    for r in live:
        r["status"] = "stopped at the deadline"; log(f"{r['name']} stopped at iteration {last_iter(Path(r['dir']))}")
    if mem is not None: rep["memory"] = read_json(out / "logs" / "memory.json") or {"status": "stopped at the deadline"}

def recheck(runs: list[dict], stop_at: float, iters: int):
    """Each run's rate over the last check's window (once it had started training before that window); a run is late
    when that rate ends it after `stop_at`, twice in a row (one window can hold a one-off stall: compiling the
    evaluation). Then the lowest-priority late run is stopped, or, when the first run is late, the lowest-priority other"""
    live = [r for r in runs if r["status"] == "running"]
    for r in live:
        r["progress"].append((round(now(), 1), last_iter(Path(r["dir"]))))
        (t0, i0), (t1, i1) = r["progress"][-2:] if len(r["progress"]) > 1 else ((0, 0), (0, 0))
        r["eta_s"] = round(t1 + (iters - i1) * (t1 - t0) / (i1 - i0), 1) if 0 < i0 < i1 else None
        r["late_checks"] = r.get("late_checks", 0) + 1 if r["eta_s"] and r["eta_s"] > stop_at else 0
    log("progress: " + "; ".join(f"{r['name']} {r['progress'][-1][1]}/{iters}"
                                 + (f", ends at {r['eta_s']:.0f} s" if r["eta_s"] else "") for r in live))
    late = [r for r in live if r["late_checks"] >= 2]
    victims = [r for r in live if r is not runs[0] and (r in late or runs[0] in late)]
    if not victims: return
    v = victims[-1]  # the lowest priority
    stop(v["proc"])
    v["status"] = (f"cut at {now():.0f} s: " + (f"projected to end at {v['eta_s']:.0f} s, after the stop at {stop_at:.0f} s"
                   if v in late else f"to give {runs[0]['name']} the device (it would end at {runs[0]['eta_s']:.0f} s)"))
    log(f"{v['name']}: {v['status']}")


def read_json(path: Path):
    try: return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError): return None


# ---- the table printed last (the end of the output shows it) ---------------------------------------------------
def summary(rep: dict) -> str:
    lines = [f"\nthroughput at batch {K['bs']} on {K['device']} (images/s through the Learner; fastai's overhead a batch; "
             "its optimizer vs torch foreach; GPU kernel time / step time; start-up)"]
    for r in rep["throughput"]:
        if "images_per_second" not in r:
            lines.append(f"  {r['arch']:10s} {r.get('variant', ''):8s} {r.get('status') or r.get('error')}"); continue
        opt = f"opt {r['opt_fastai_ms']:.2f}/{r['opt_foreach_ms']:.2f} ms" if "opt_fastai_ms" in r else ""
        busy = f"gpu {r['gpu_busy_s_per_iter'] / r['s_per_iter']:.0%}" if r.get("gpu_busy_s_per_iter") else ""
        lines.append(f"  {r['arch']:10s} {r['variant']:8s} {r['images_per_second']:9.1f}  {r['s_per_iter'] * 1e3:7.2f} ms/it"
                     f"  fastai {r['learner_overhead_ms']:+.2f} ms  {opt:22s} {busy:9s}"
                     f" start-up {r['import_s'] + r['data_s'] + r['warmup_s']:.0f} s  eval {r['eval_s']:.2f} s")
    lines.append(f"runs (--budget paper, {K['iters']} iterations):")
    for p in rep.get("projection", []):
        r = next((x for x in rep["runs"] if x["name"] == p["name"]), None)
        s = rep.get("run_summaries", {}).get(p["name"], {})
        got = (f"{r['status']}, iteration {r.get('last_iter')}, test error {s.get('test_error', r.get('test_error'))}"
               if r else f"not started: {p['why']}")
        when = f"alone {p['alone_s']} s" + (f", all together {p['projected_s']} s" if p["start"] else "")
        lines.append(f"  {p['name']:10s} {p['variant']:8s} {when}: {got}")
    unfinished = [r for r in rep["runs"] if r["status"] != "done" and (Path(r["dir"]) / "checkpoint.pth").exists()]
    for r in unfinished: lines.append(f"  continue {r['name']}: resnet-study train --resume --out {r['dir']}")
    for m in (rep.get("memory") or {}).get("rows", []):
        peak = "n/a" if m.get("peak_GiB") is None else f"{m['peak_GiB']:.2f}"
        lines.append(f"memory: {m['arch']} checkpoint={m['checkpoint']}: peak {peak} GiB at batch {m['batch']}")
    lines.append(f"phase times: {rep['phases']}")
    return "\n".join(lines)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="CIFAR-10, any form `resnet-study train --data` takes "
                                  "(default: $RESNET_STUDY_DATA, local copies, then a download)")
    p.add_argument("--out", type=Path, help="where everything goes (default: benchmarks/results/gpu-<the GPU's name>, "
                                            "or benchmarks/results/gpu-dry-run with --dry-run)")
    p.add_argument("--minutes", type=float, help="the time box: all is written by then (default: 9; 3 with --dry-run)")
    p.add_argument("--device", help="the GPU (default: cuda, the current one; cpu with --dry-run)")
    p.add_argument("--threads", type=int, help="OMP_NUM_THREADS of every process it starts (default: 2; 1 with --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="the same steps and files on the CPU, with the table's small column")
    p.add_argument("--force", action="store_true", help="clear --out first when an earlier benchmark left its files there")
    p.add_argument("--set", action="append", default=[], metavar="KNOB=JSON", help="one knob of the table, for this run")
    return p.parse_args(argv)


def main(argv=None) -> int:
    global K, LOG
    a = parse(argv)
    K = knobs(a.dry_run, a.set)
    if a.minutes is not None: K["minutes"] = a.minutes
    if a.threads is not None: K["threads"] = a.threads
    import torch
    K["device"] = a.device or ("cpu" if a.dry_run else "cuda")
    if not a.dry_run:
        if not torch.cuda.is_available():
            print("benchmarks/gpu.py: torch sees no CUDA GPU on this machine; --dry-run runs the same steps on the CPU", file=sys.stderr)
            return 2
        from resnet_study.distributed import check_device
        try: check_device(K["device"], "--device")
        except ValueError as e: print(f"benchmarks/gpu.py: {e}", file=sys.stderr); return 2
        if not on_gpu(): print(f"benchmarks/gpu.py: --device {K['device']} is not a CUDA GPU; --dry-run runs on the CPU", file=sys.stderr); return 2
    box_s = 60 * float(K["minutes"])
    bench_until = min(K["bench_until_s"], box_s / 2)
    stop_at = box_s - K["stop_margin_s"]
    if stop_at <= bench_until:
        print(f"benchmarks/gpu.py: --minutes {K['minutes']} leaves no time for the runs after the throughput", file=sys.stderr); return 2

    name = "dry-run" if a.dry_run else slug(torch.cuda.get_device_name(torch.device(K["device"])))
    out = (a.out or ROOT / "benchmarks" / "results" / f"gpu-{name}").resolve()
    if out.exists() and any((out / f).exists() for f in ("report.json", "runs", "logs")):
        if not a.force:
            print(f"benchmarks/gpu.py: {out} holds an earlier benchmark's files (its runs continue with "
                  f"`resnet-study train --resume --out {out}/runs/<net>`); give another --out, or --force to clear it", file=sys.stderr)
            return 2
        for f in ("report.json", "log.txt", "machine.txt"): (out / f).unlink(missing_ok=True)
        for d in ("runs", "logs"): shutil.rmtree(out / d, ignore_errors=True)
    from resnet_study.sources import resolve_cifar10_path, DataNotFoundError
    try: data = str(resolve_cifar10_path(a.data))
    except DataNotFoundError as e: print(f"benchmarks/gpu.py: {e}", file=sys.stderr); return 2
    if not Path(data).exists(): print(f"benchmarks/gpu.py: --data {data}: no such file or folder", file=sys.stderr); return 2
    (out / "logs").mkdir(parents=True, exist_ok=True)
    LOG = out / "log.txt"
    write_atomic(out / "machine.txt", machine(K["device"]).encode())

    rep = dict(dry_run=a.dry_run, knobs=K, time_box_s=box_s, data=data, cores=os.cpu_count(), throughput=[], runs=[], phases={})

    def save():
        clean = {**rep, "runs": [{k: v for k, v in r.items() if k != "proc"} for r in rep["runs"]]}
        write_atomic(out / "report.json", (json.dumps(clean, indent=1, default=str) + "\n").encode())

    def on_signal(signum, frame): raise Deadline(signal.Signals(signum).name)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM): signal.signal(s, on_signal)
    signal.alarm(max(1, int(box_s - now())))  # the watchdog: whatever is running at the end of the time box is stopped
    log(f"{'a dry run on the CPU' if a.dry_run else 'the benchmark on ' + K['device']}: out {out}, data {data}; "
        f"throughput until {bench_until:.0f} s, runs until {stop_at:.0f} s, all written by {box_s:.0f} s")
    save()
    rc = 0
    try:
        t = now(); bench(rep, out, data, bench_until, save); rep["phases"]["throughput_s"] = round(now() - t, 1)
        t = now(); train(rep, out, data, stop_at, save); rep["phases"]["runs_s"] = round(now() - t, 1)
    except Deadline as e:
        log(f"stopped by {e}: writing what there is"); rep["stopped_by"] = str(e); rc = 3
    finally:
        signal.alarm(0)
        stop(*CHILDREN, grace=3)
        measured = {(r["arch"], r.get("variant")) for r in rep["throughput"] if "s_per_iter" in r}
        if (jsonl := out / "logs" / "throughput.jsonl").exists():  # rows of a measurement the watchdog interrupted
            for line in jsonl.read_text().splitlines():
                r = json.loads(line)
                if (r["arch"], r["variant"]) not in measured: rep["throughput"].append(r)
        for r in rep["runs"]:
            if r["status"] == "running": r["status"] = "stopped by the watchdog"
            r.update(last_row(Path(r["dir"])))
            r["checkpoint"] = r["status"] != "done" and (Path(r["dir"]) / "checkpoint.pth").exists()
        rep["run_summaries"] = {r["name"]: read_json(Path(r["dir"]) / "summary.json") for r in rep["runs"]
                                if (Path(r["dir"]) / "summary.json").exists()}
        rep["phases"]["total_s"] = round(now(), 1)
        save()
        s = summary(rep)
        print(s, flush=True)
        with open(LOG, "a") as f: f.write(s + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
