"""One time-boxed run on a machine with one CUDA GPU (sized for an H200): the training throughput of the CLI's path, then the paper's
CIFAR-10 schedule for ResNet-20 and as many of plain-20, plain-56 and ResNet-56 as fit beside it.

Started by benchmarks/gpu_h200.sh (which installs the carried wheels first; its header has the prep command and
the `run(...)` call). Every deadline below is in seconds since that shell script started:

  1. throughput, until bench_until_s: benchmarks/throughput_variants.py in one process per variant, each stopped
     at the deadline: every net of bench_archs in eager mode; the first net also with torch.compile and with
     compile + CUDA graphs; the other nets in the faster of those two. Each row: images/s through the Learner,
     the bare step, fastai's per-batch overhead, its optimizer against torch's foreach SGD, the GPU's own
     kernel time, start-up and evaluation times.
  2. the runs, until call_s - stop_margin_s: each `resnet-study train --budget paper` in its own process and run
     folder, all at once on the one device. From the throughput, each run's time alone is projected (start-up +
     iterations x seconds per iteration + evaluations) in its fastest variant, plain nets by the ResNet of their
     depth; runs share the device by a simple rule: while the shares (the GPU's kernel time over the step's
     wall time; on a CPU, threads over cores) sum to at most 1 nobody slows down, above that everyone slows by
     that sum. Runs are taken in priority order while the projected end stays inside the time left; the first
     always runs. Every check_every_s the runs' own progress (their metrics.csv) is read again: when a run would
     end after the stop, the lowest-priority run that is late (or any but the first, when the first is late) is
     stopped, which leaves the others more of the device. A run that fails in a compiled variant is started again
     in eager mode, once. At the stop, the runs still going are stopped; their metrics.csv so far comes back.
  3. packing, continuously: report.json after every step, runs.tgz (each run folder's config.json, metrics.csv,
     summary.json, and the logs) every check, checkpoints.tgz (unfinished runs, for `--resume`) at the end.

What comes back from $OUT: gpu.txt, log.txt (both from the shell), report.json, runs.tgz, checkpoints.tgz.
DRY_RUN=1 runs the same steps and writes the same files on the CPU, with the second column of the table.
"""
from __future__ import annotations
import json, math, os, re, shutil, signal, subprocess, sys, tarfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's package, as the runs it starts use
from resnet_study.recipes import RECIPES  # the paper's numbers: one table
from resnet_study.files import atomic_write
from resnet_study.callbacks import RunFileDamaged, read_metrics

DRY = os.environ.get("DRY_RUN", "0") == "1"

# ---- the recipe: one row per knob, the H200 call's value, then the CPU dry run's ----------------------------------
# Any knob can be overridden for one call with an environment variable GPU_<KNOB>=<JSON>, e.g. GPU_BENCH_UNTIL_S=150.
RECIPE = dict(
    #                H200 call                               DRY_RUN=1 (CPU)        what it is
    device        = ("cuda",                                 "cpu"),                # --device of every process
    call_s        = (540,                                    240),                  # all files are under $OUT by then (a 600 s limit leaves 60 s)
    bench_until_s = (200,                                    120),                  # phase 1 ends by then: a measurement still going is stopped
    bench_each_s  = (100,                                    80),                   # and one measuring process (one variant) stops after this long
    stop_margin_s = (25,                                     10),                   # the runs stop this long before call_s, to pack
    check_every_s = (30,                                     10),                   # read the runs' progress, re-project, pack runs.tgz
    bs            = (RECIPES["cifar10"].bs,                  32),                   # the batch of every measurement and run (the paper's: 128)
    bench_archs   = (["resnet20", "resnet56", "resnet110"],  ["resnet20", "resnet56", "resnet110"]),  # all eager; the first in every variant, the rest in the best compiled one
    variants      = (["eager", "compile", "graphs"],         ["eager", "compile", "graphs"]),  # graphs = --compile + TORCHINDUCTOR_CUDAGRAPHS=1 (on a CPU: a "skipped" row)
    bench_warmup  = (20,                                     2),                    # untimed batches first (compiling, graph recording)
    bench_steps   = (200,                                    4),                    # timed batches
    profile_steps = (20,                                     0),                    # bare steps under the profiler, for the GPU's own time
    runs          = (["resnet20", "plain20", "plain56", "resnet56"], ["resnet20", "plain20", "plain56", "resnet56"]),  # priority order
    iters         = (RECIPES["cifar10"].iters,               16),                   # the paper's: lr 0.1, /10 at 50% and 75%
    eval_every    = (RECIPES["cifar10"].eval_every,          8),                    # a test-set evaluation every this many iterations (the paper's)
    threads       = (2,                                      1),                    # OMP_NUM_THREADS of every process
    memory_archs  = (["resnet110", "resnet1202"],            ["resnet20"]),         # benchmarks/memory.py beside the runs (per-process peaks)
    memory_s      = (120,                                    60),                   # its time limit
    ckpt_back_mib = (15,                                     15),                   # checkpoints of unfinished runs brought back, up to this size (0: none)
)
PAPER = dict(iters=RECIPES["cifar10"].iters, eval_every=RECIPES["cifar10"].eval_every, bs=RECIPES["cifar10"].bs)  # not passed


def knobs(dry: bool = DRY, env=os.environ) -> dict:
    "The table's column for this call, with any GPU_<KNOB> override from `env`"
    k = {name: v[1 if dry else 0] for name, v in RECIPE.items()}
    for name in k:
        if (s := env.get(f"GPU_{name.upper()}")) is not None:
            try: k[name] = json.loads(s)
            except json.JSONDecodeError: k[name] = s
    return k


K = knobs()
ROOT = Path(__file__).resolve().parent.parent
T0 = float(os.environ.get("T0") or time.time())  # the shell script's start
PY = sys.executable


def now() -> float: return time.time() - T0
def log(msg: str): print(f"[{now():6.1f} s] {msg}", flush=True)


class Deadline(Exception):
    "The watchdog (call_s) or a signal: stop everything, pack what there is"


# ---- files under $OUT: written whole, then renamed, so a call cut off anywhere leaves whole files -----------------
def write_atomic(path: Path, data: bytes):
    with atomic_write(path) as tmp: tmp.write_bytes(data)


OUT_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

def check_out(out: Path) -> list[str]:
    "What would not be copied back from `out` (at most 8 files, 16 MiB each, 2 folders deep, plain names)"
    files = [p for p in out.rglob("*") if p.is_file()]
    bad = [f"{len(files)} files (at most 8)"] if len(files) > 8 else []
    for p in files:
        rel = p.relative_to(out)
        if len(rel.parts) > 3: bad.append(f"{rel}: deeper than 2 folders")
        if not all(OUT_NAME.match(x) for x in rel.parts): bad.append(f"{rel}: a name with other characters")
        if p.stat().st_size > 16 * 2 ** 20: bad.append(f"{rel}: over 16 MiB")
    return bad


# ---- child processes: each in its own session, so it and its compile workers stop together -----------------------
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
    env = {**os.environ, "OMP_NUM_THREADS": str(K["threads"]), "MKL_NUM_THREADS": str(K["threads"]), "PYTHONUNBUFFERED": "1"}
    env.pop("TORCHINDUCTOR_CUDAGRAPHS", None)
    if variant == "graphs": env["TORCHINDUCTOR_CUDAGRAPHS"] = "1"  # inductor's CUDA graphs, read by torch at import
    return env

def tail(path: Path, n: int = 2000) -> str:
    try: return path.read_bytes()[-n:].decode(errors="replace")
    except OSError: return ""


# ---- phase 1: throughput -------------------------------------------------------------------------------------------
def bench(rep: dict, work: Path, data: str, until: float, save):
    rows, jsonl = rep["throughput"], work / "throughput.jsonl"
    archs, variants = K["bench_archs"], K["variants"]
    compiled = [v for v in variants if v != "eager"]
    plan = [("eager", archs)] + [(v, archs[:1]) for v in compiled] + [("best compiled", archs[1:])]
    for variant, nets in plan:
        if variant == "graphs" and K["device"] != "cuda":
            rows.append(dict(arch=archs[0], variant="graphs", status="skipped: CUDA graphs need a GPU")); save(); continue
        if variant == "best compiled":
            timed = [r for r in rows if r["arch"] == archs[0] and r.get("variant") in compiled and "s_per_iter" in r]
            if not timed or not nets: continue
            variant = min(timed, key=lambda r: r["s_per_iter"])["variant"]
            log(f"the faster compiled variant on {archs[0]}: {variant}; measuring {', '.join(nets)} in it")
        left = min(until - now(), K["bench_each_s"])
        if left < 5:
            rows.extend(dict(arch=a, variant=variant, status="not started: phase 1's deadline") for a in nets); save(); continue
        logfile = work / "logs" / f"throughput-{variant}.log"
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
    if device != "cuda": return min(1.0, threads / cores)
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


def train(rep: dict, work: Path, data: str, stop_at: float, save, pack):
    iters = K["iters"]
    plans = plan_runs(K["runs"], rep["throughput"], stop_at - now(), iters, K["eval_every"], K["device"],
                      K["threads"], os.cpu_count() or 1)
    rep["projection"] = [{k: v for k, v in p.items() if k != "row"} for p in plans]
    for p in plans: log(f"projection: {p['name']} ({p['variant']}, alone {p['alone_s']} s): "
                        f"{'starts' if p['start'] else 'not started'}; {p['why']}")
    runs = rep["runs"]
    for p in plans:
        if not p["start"]: continue
        d = work / "runs" / p["name"]
        r = dict(name=p["name"], variant=p["variant"], dir=str(d), status="running", started_s=round(now(), 1),
                 cmd=train_cmd(p["name"], p["variant"], data, d), retried=False, progress=[])
        r["proc"] = start(r["cmd"], work / "logs" / f"train-{p['name']}.log", base_env(p["variant"]))
        runs.append(r)
    log("started: " + ", ".join(f"{r['name']} ({r['variant']})" for r in runs))
    mem = None
    if K["memory_archs"]:
        mem = start([PY, "benchmarks/memory.py", "--device", K["device"], "--bs", str(K["bs"]), "--archs", *K["memory_archs"],
                     "--out", str(work / "memory.json")], work / "logs" / "memory.log", base_env())
        mem_until = now() + K["memory_s"]
    save()
    next_check = now() + K["check_every_s"]
    while now() < stop_at:
        live = [r for r in runs if r["status"] == "running"]
        if mem is not None and (mem.poll() is not None or now() > mem_until):
            stop(mem, grace=3); rep["memory"] = read_json(work / "memory.json") or {"status": f"no result; {tail(work / 'logs' / 'memory.log', 300)}"}
            mem = None
        if not live and mem is None: break
        for r in live:
            rc = r["proc"].poll()
            if rc is None: continue
            if rc == 0: r["status"] = "done"; log(f"{r['name']} done")
            elif r["variant"] != "eager" and not r["retried"]:
                log(f"{r['name']} failed in {r['variant']} (exit {rc}); starting it again in eager mode")
                r.update(variant="eager", retried=True, progress=[], failed_first=tail(work / "logs" / f"train-{r['name']}.log", 1500))
                r["cmd"] = train_cmd(r["name"], "eager", data, Path(r["dir"]), force=True)
                r["proc"] = start(r["cmd"], work / "logs" / f"train-{r['name']}.log", base_env("eager"))
            else:
                r["status"] = f"failed (exit {rc})"; log(f"{r['name']} failed (exit {rc})")
        if now() >= next_check:
            next_check = now() + K["check_every_s"]
            recheck(runs, stop_at, iters)
            pack(final=False); save()
        time.sleep(1)
    live = [r for r in runs if r["status"] == "running"]
    stop(*[r["proc"] for r in live], *([mem] if mem is not None else []))
    for r in live:
        r["status"] = "stopped at the deadline"; log(f"{r['name']} stopped at iteration {last_iter(Path(r['dir']))}")
    if mem is not None: rep["memory"] = read_json(work / "memory.json") or {"status": "stopped at the deadline"}

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


# ---- packing ---------------------------------------------------------------------------------------------------------
SMALL = ("config.json", "metrics.csv", "summary.json")

def pack_runs(work: Path, out: Path):
    "runs.tgz: every run folder's small files, the logs (their last 256 kB) and memory.json"
    import io
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for d in sorted((work / "runs").glob("*")):
            for f in SMALL:
                if (d / f).exists(): tf.add(d / f, arcname=f"runs/{d.name}/{f}")
        for f in sorted((work / "logs").glob("*.log")) + [work / "memory.json", work / "throughput.jsonl"]:
            if not f.exists(): continue
            data = f.read_bytes()[-256 * 1024:]
            info = tarfile.TarInfo(f"logs/{f.name}"); info.size = len(data); info.mtime = int(time.time())
            tf.addfile(info, io.BytesIO(data))
    write_atomic(out / "runs.tgz", buf.getvalue())

def pack_checkpoints(runs: list[dict], out: Path, limit_mib: float) -> list[str]:
    "checkpoints.tgz: the checkpoints of runs that did not finish, in priority order, while under `limit_mib`"
    import io
    picked, size = [], 0
    for r in runs:
        f = Path(r["dir"]) / "checkpoint.pth"
        if r["status"] == "done" or not f.exists(): continue
        if size + f.stat().st_size > limit_mib * 2 ** 20: continue
        picked.append(f); size += f.stat().st_size
    if not picked: return []
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:  # weights barely compress
        for f in picked: tf.add(f, arcname=f"runs/{f.parent.name}/checkpoint.pth")
    write_atomic(out / "checkpoints.tgz", buf.getvalue())
    return [f.parent.name for f in picked]


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
    for m in (rep.get("memory") or {}).get("rows", []):
        peak = "n/a" if m.get("peak_GiB") is None else f"{m['peak_GiB']:.2f}"
        lines.append(f"memory: {m['arch']} checkpoint={m['checkpoint']}: peak {peak} GiB at batch {m['batch']}")
    lines.append(f"phase times: {rep['phases']}")
    return "\n".join(lines)


def main() -> int:
    out = Path(os.environ.get("OUT") or ROOT / "benchmarks" / "results" / "h200"); out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("WORK") or "/tmp/resnet_study_gpu"); work.mkdir(parents=True, exist_ok=True)
    for old in ("runs", "logs", "throughput.jsonl", "memory.json"):  # an earlier call's (the wheels and the data cache stay)
        shutil.rmtree(work / old) if (work / old).is_dir() else (work / old).unlink(missing_ok=True)
    data = os.environ.get("DATA") or str(ROOT / "benchmarks" / ".device" / "cifar10-jpeg.tgz")
    os.environ.setdefault("RESNET_STUDY_CACHE", str(work / "cache"))  # the decoded data, once, shared by every process
    rep = dict(dry_run=DRY, knobs=K, data=data, cores=os.cpu_count(), throughput=[], runs=[], phases={})
    rep_path = out / "report.json"

    def save():
        clean = {**rep, "runs": [{k: v for k, v in r.items() if k != "proc"} for r in rep["runs"]]}
        write_atomic(rep_path, (json.dumps(clean, indent=1, default=str) + "\n").encode())

    def pack(final: bool):
        for r in rep["runs"]: r.update(last_row(Path(r["dir"])))
        pack_runs(work, out)
        if final:
            rep["run_summaries"] = {r["name"]: read_json(Path(r["dir"]) / "summary.json") for r in rep["runs"]
                                    if (Path(r["dir"]) / "summary.json").exists()}
            if K["ckpt_back_mib"]: rep["checkpoints_back"] = pack_checkpoints(rep["runs"], out, K["ckpt_back_mib"])

    def on_signal(signum, frame): raise Deadline(signal.Signals(signum).name)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM): signal.signal(s, on_signal)
    signal.alarm(max(1, int(K["call_s"] - now())))  # the watchdog: whatever is running at call_s is stopped
    log(f"{'DRY RUN on the CPU' if DRY else 'the H200 call'}: out {out}, work {work}, data {data}; "
        f"throughput until {K['bench_until_s']} s, runs until {K['call_s'] - K['stop_margin_s']} s, done by {K['call_s']} s")
    save()
    rc = 0
    try:
        t = now(); bench(rep, work, data, K["bench_until_s"], save); rep["phases"]["throughput_s"] = round(now() - t, 1)
        t = now(); train(rep, work, data, K["call_s"] - K["stop_margin_s"], save, pack); rep["phases"]["runs_s"] = round(now() - t, 1)
    except Deadline as e:
        log(f"stopped by {e}: packing what there is"); rep["stopped_by"] = str(e); rc = 3
    finally:
        signal.alarm(0)
        stop(*CHILDREN, grace=3)
        measured = {(r["arch"], r.get("variant")) for r in rep["throughput"] if "s_per_iter" in r}
        if (work / "throughput.jsonl").exists():  # rows of a measurement the watchdog interrupted
            for line in (work / "throughput.jsonl").read_text().splitlines():
                r = json.loads(line)
                if (r["arch"], r["variant"]) not in measured: rep["throughput"].append(r)
        for r in rep["runs"]:
            if r["status"] == "running": r["status"] = "stopped by the watchdog"
        t = now(); pack(final=True); rep["phases"]["pack_s"] = round(now() - t, 1); rep["phases"]["total_s"] = round(now(), 1)
        rep["out_problems"] = check_out(out)
        save()
        print(summary(rep), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
