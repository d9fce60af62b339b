"""Does `torch.compile` pay on long runs? Eager against compiled, each a real `resnet-study train` run of the same length.

    python benchmarks/compile_long.py --data ../shared/data/cifar10-jpeg.tgz --archs resnet20 resnet56 --iters 1000

For each architecture it trains the same run twice, one after the other, in fresh processes with the same thread
count: eager, then `--compile`. Both are the CLI's full path (data, learner, logging, the evaluations the budget
schedules, checkpoints), so the compiled run's wall time includes its compilation. It reports per run
  - wall seconds, end to end, and the summary's images/second;
  - the steady rate: the median images/second of metrics.csv's windows after the first fifth of the run;
  - the first window's rate, where the compilation shows;
and per architecture compiled/eager for the wall time and the steady rate, and how many iterations a run needs
before compiling pays back its compile time (none, when the compiled step is not faster).
The ratio is the result: the absolute rates depend on what else runs on the machine (recorded as the load average).
"""
from __future__ import annotations
import argparse, csv, json, os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path


def train(arch: str, iters: int, data: str, out: Path, threads: int, compiled: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "resnet_study.cli", "train", "--arch", arch, "--iters", str(iters), "--data", data,
           "--out", str(out), "--device", "cpu", "--quiet"] + (["--compile"] if compiled else [])
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode: raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    s = json.loads((out / "summary.json").read_text())
    with open(out / "metrics.csv") as f:
        rates = [(int(row["iter"]), float(row["images_per_second"])) for row in csv.DictReader(f) if row["images_per_second"]]
    steady = [v for it, v in rates if it > iters / 5]
    return dict(arch=arch, compiled=compiled, iterations=s["iterations"], wall_seconds=round(wall, 1),
                summary_images_per_second=s["images_per_second"], steady_images_per_second=round(statistics.median(steady), 1),
                first_window_images_per_second=rates[0][1], test_error=s["test_error"], load_average=os.getloadavg())


def compare(eager: dict, comp: dict, iters: int, bs: int, window: int | None = None) -> dict:
    """compiled/eager for the wall time and the steady rate; the compile overhead as the extra time of the compiled run's
    first logging window (where the compilation happens); the iterations after which compiling pays back (None: never)"""
    window = window or max(1, min(100, iters // 50))  # the CLI's logging window for `iters` (`budget`'s rule)
    overhead = window * bs / comp["first_window_images_per_second"] - window * bs / eager["first_window_images_per_second"]
    saving = bs / eager["steady_images_per_second"] - bs / comp["steady_images_per_second"]  # seconds per iteration
    return dict(wall_compiled_over_eager=round(comp["wall_seconds"] / eager["wall_seconds"], 3),
                steady_compiled_over_eager=round(comp["steady_images_per_second"] / eager["steady_images_per_second"], 3),
                compile_overhead_seconds=round(overhead, 1), break_even_iterations=round(overhead / saving) if saving > 0 else None)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("RESNET_STUDY_DATA", "../shared/data/cifar10-jpeg.tgz"))
    p.add_argument("--archs", nargs="+", default=["resnet20", "resnet56"])
    p.add_argument("--iters", type=int, default=1000)
    p.add_argument("--bs", type=int, default=128, help="the recipe's batch (the CLI's default); only recorded")
    p.add_argument("--threads", type=int, default=1, help="threads of each training process")
    p.add_argument("--out", default="benchmarks/results/compile_long.json")
    a = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in a.archs:
            eager = train(arch, a.iters, a.data, Path(tmp) / f"{arch}-eager", a.threads, False)
            comp = train(arch, a.iters, a.data, Path(tmp) / f"{arch}-compiled", a.threads, True)
            row = dict(arch=arch, iterations=a.iters, threads=a.threads, eager=eager, compiled=comp, **compare(eager, comp, a.iters, a.bs))
            rows.append(row)
            print(f"{arch}, {a.iters} iterations, {a.threads} thread(s): eager {eager['wall_seconds']:.0f} s "
                  f"(steady {eager['steady_images_per_second']:.0f} img/s), compiled {comp['wall_seconds']:.0f} s "
                  f"(steady {comp['steady_images_per_second']:.0f} img/s, first window {comp['first_window_images_per_second']:.0f}); "
                  f"compiled/eager: wall {row['wall_compiled_over_eager']:.2f}, steady rate {row['steady_compiled_over_eager']:.2f}; "
                  f"compile overhead about {row['compile_overhead_seconds']:.0f} s; "
                  + (f"pays after {row['break_even_iterations']} iterations" if row["break_even_iterations"] else "never pays back"),
                  flush=True)
    import torch
    res = dict(machine=dict(platform=platform.platform(), cpus=os.cpu_count(), torch=torch.__version__), rows=rows)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
