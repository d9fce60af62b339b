"""The GPU benchmark (benchmarks/gpu.py): its planning rules, and its dry run on the CPU end to end.

One short dry run (one net measured, two runs of 8 iterations: under a minute at one thread) runs always; the
table's whole dry column, a run stopped at the time box and then resumed, and the fall-back from a failed compiled
run take minutes, and run only with RESNET_STUDY_SLOW_TESTS=1."""
import importlib.util, json, os, subprocess, sys, time
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parent.parent
slow = pytest.mark.skipif(os.environ.get("RESNET_STUDY_SLOW_TESTS") != "1",
                          reason="this dry run of the GPU benchmark takes minutes: set RESNET_STUDY_SLOW_TESTS=1")


def load_script(dry: bool = False, **device):
    "benchmarks/gpu.py as a module, with the table's column (the CPU one when `dry`) as its knobs"
    spec = importlib.util.spec_from_file_location("gpu_benchmark", ROOT / "benchmarks" / "gpu.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    mod.K = {**mod.knobs(dry), "device": "cpu" if dry else "cuda", **device}
    return mod


def test_the_gpu_column_runs_the_papers_schedule():
    from resnet_study.recipes import RECIPES
    g = load_script(dry=False)
    r = RECIPES["cifar10"]
    assert g.PAPER == dict(iters=r.iters, eval_every=r.eval_every, bs=r.bs)
    assert (g.K["iters"], g.K["eval_every"], g.K["bs"]) == (64_000, 1_000, 128)
    assert g.K["bench_until_s"] < 60 * g.K["minutes"] - g.K["stop_margin_s"]
    cmd = g.train_cmd("resnet20", "eager", "D", Path("runs/resnet20"))
    assert cmd[cmd.index("train"):] == ["train", "--arch", "resnet20", "--data", "D", "--budget", "paper",
                                        "--out", "runs/resnet20", "--quiet", "--device", "cuda"]
    assert "--compile" in g.train_cmd("resnet20", "graphs", "D", Path("x"))
    assert g.base_env("graphs")["TORCHINDUCTOR_CUDAGRAPHS"] == "1" and "TORCHINDUCTOR_CUDAGRAPHS" not in g.base_env("compile")
    g.K["device"] = "cuda:1"
    assert g.on_gpu() and g.train_cmd("resnet20", "eager", "D", Path("x"))[-1] == "cuda:1"


def test_knobs_dry_column_and_set():
    g = load_script()
    k = g.knobs(True, ["minutes=1.5", 'runs=["resnet20"]', "bs=16"])
    assert k["minutes"] == 1.5 and k["runs"] == ["resnet20"] and k["bs"] == 16 and k["iters"] == g.RECIPE["iters"][1]
    assert g.knobs(False)["iters"] == 64_000
    with pytest.raises(SystemExit, match="no_such_knob"): g.knobs(True, ["no_such_knob=1"])
    assert g.slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3" and g.slug("!!") == "gpu"


def row(arch, variant, s, startup=10.0, busy=None, eval_s=0.1):
    r = dict(arch=arch, variant=variant, s_per_iter=s, import_s=startup / 2, data_s=0.0, warmup_s=startup / 2,
             eval_first_s=eval_s, eval_s=eval_s)
    if busy is not None: r["gpu_busy_s_per_iter"] = busy
    return r


def test_plan_runs_takes_runs_in_priority_order_while_they_fit():
    g = load_script()
    rows = [row("resnet20", "eager", 0.006, busy=0.0015), row("resnet20", "compile", 0.004, startup=40),
            row("resnet56", "eager", 0.012, busy=0.004), row("resnet56", "compile", 0.010, startup=60)]
    names = ["resnet20", "plain20", "plain56", "resnet56"]
    # 1000 iterations: compiling does not pay (40 s to save 2 s), everything fits; shares 0.25+0.25+0.33+0.33 > 1
    p = g.plan_runs(names, rows, 100, 1000, 100, "cuda", 2, 16)
    assert [x["variant"] for x in p] == ["eager"] * 4 and all(x["start"] for x in p)
    assert p[1]["proxy"] == "resnet20" and p[2]["proxy"] == "resnet56"
    assert p[3]["projected_s"] == pytest.approx(10 + (0.5 + 2 / 3) * (12 + 1.0), abs=0.1)
    # 64k iterations in 310 s: compiled ResNet-20 (40 + 256 + 6.4 s) fits, and plain-20 beside it (shares 2 x 0.375);
    # the 56-layer nets do not (compiled, 60 + 640 + 6.4 s alone)
    p = g.plan_runs(names, rows, 310, 64_000, 1000, "cuda:0", 2, 16)
    assert [(x["variant"], x["start"]) for x in p] == [("compile", True), ("compile", True), ("compile", False), ("compile", False)]
    assert p[1]["projected_s"] == pytest.approx(302.4) and "after" in p[2]["why"]
    # a net nobody measured is not started; the first run is, even unmeasured
    p = g.plan_runs(["resnet110", "plain110"], rows, 1e9, 10, 5, "cuda", 2, 16)
    assert p[0]["start"] and p[0]["alone_s"] is None and not p[1]["start"] and "no measurement" in p[1]["why"]
    # the profiler's kernel time is taken from any variant of the net (it may not see inside CUDA graphs); none: 1
    assert g.share(rows[1], rows, "cuda", 2, 16) == pytest.approx(0.0015 / 0.004)
    assert g.share(row("x", "eager", 1.0), [], "cuda", 2, 16) == 1.0 and g.share(rows[0], rows, "cpu", 1, 4) == 0.25


def test_recheck_cuts_the_lowest_priority_late_run(tmp_path, monkeypatch):
    g = load_script(dry=True)
    clock = [100.0]
    monkeypatch.setattr(g, "now", lambda: clock[0])
    def run(name, it):
        d = tmp_path / name; d.mkdir()
        (d / "metrics.csv").write_text("iter,epoch,lr\n" + f"{it},0,0.1\n")
        p = subprocess.Popen(["sleep", "60"], start_new_session=True)
        return dict(name=name, dir=str(d), status="running", progress=[(100.0, it)], proc=p)
    runs = [run("resnet20", 1000), run("plain20", 1000), run("plain56", 100)]
    def advance(steps):
        clock[0] += 10
        for r, n in zip(runs, steps):
            it = int((Path(r["dir"]) / "metrics.csv").read_text().split()[-1].split(",")[0]) + n
            (Path(r["dir"]) / "metrics.csv").write_text(f"iter,epoch,lr\n{it},0,0.1\n")
        g.recheck(runs, stop_at=200, iters=10_000)
    try:
        advance([1000, 1000, 100])  # plain56 would end at 1100 s: late once, not yet cut
        assert all(r["status"] == "running" for r in runs) and runs[2]["late_checks"] == 1
        advance([1000, 1000, 100])  # late twice: cut; the others end by 200 s
        assert runs[2]["status"].startswith("cut") and runs[2]["proc"].poll() is not None
        assert [r["status"] for r in runs[:2]] == ["running", "running"]
        advance([100, 1000, 0]); advance([100, 1000, 0])  # now the first run is late: the other one goes
        assert runs[1]["status"].startswith("cut") and "to give resnet20 the device" in runs[1]["status"]
        assert runs[0]["status"] == "running"
    finally:
        g.stop(*[r["proc"] for r in runs], grace=1)


def gpu_py(*args, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_it_says_so_in_one_line(tmp_path):
    r = gpu_py("--out", tmp_path / "out")
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert "no CUDA GPU" in r.stderr and "--dry-run" in r.stderr and not (tmp_path / "out").exists()


def test_an_earlier_benchmarks_folder_is_kept(tmp_path, capsys):
    g = load_script(dry=True)
    (tmp_path / "runs" / "resnet20").mkdir(parents=True)
    assert g.main(["--dry-run", "--out", str(tmp_path), "--data", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "--resume" in err and (tmp_path / "runs" / "resnet20").is_dir()
    assert g.main(["--dry-run", "--out", str(tmp_path / "new"), "--data", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "no such file or folder" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "new").exists()


# ---- the dry run, end to end ------------------------------------------------------------------------------------------
def dry_run(tmp_path, data, *args, rc=0):
    out = tmp_path / "out"
    t = time.time()
    r = gpu_py("--dry-run", "--data", data, "--out", out, *args)
    print(f"dry run: {time.time() - t:.0f} s\n{r.stdout[-3000:]}")
    assert r.returncode == rc, r.stdout[-5000:] + r.stderr[-3000:]
    rep = json.loads((out / "report.json").read_text())
    machine = (out / "machine.txt").read_text()
    assert "torch " in machine and "fastai " in machine and "cpu: " in machine
    assert "throughput at batch" in (out / "log.txt").read_text() and (out / "logs" / "throughput-eager.log").exists()
    return out, rep


def metrics_rows(run_dir: Path):
    lines = (run_dir / "metrics.csv").read_text().strip().splitlines()
    assert lines[0].startswith("iter,epoch,lr,train_loss,train_error,test_loss,test_error")
    return [l.split(",") for l in lines[1:]]


def check_measured_and_trained(out, rep):
    k = rep["knobs"]
    rows = {(r["arch"], r["variant"]): r for r in rep["throughput"]}
    for arch in k["bench_archs"]:  # every net in eager mode, with what the Learner adds and fastai's optimizer
        r = rows[arch, "eager"]
        assert r["images_per_second"] > 0 and "learner_overhead_ms" in r and r["opt_fastai_ms"] > 0 and r["eval_s"] > 0
    if "graphs" in k["variants"]: assert rows[k["bench_archs"][0], "graphs"]["status"].startswith("skipped")  # a GPU's part
    assert [p["name"] for p in rep["projection"]] == k["runs"]
    started = [p["name"] for p in rep["projection"] if p["start"]]
    assert started[0] == "resnet20" and [r["name"] for r in rep["runs"]] == started
    for name in started:
        d = out / "runs" / name
        assert {"config.json", "metrics.csv", "summary.json"} <= {f.name for f in d.iterdir()}
        assert int(metrics_rows(d)[-1][0]) == k["iters"] and (out / "logs" / f"train-{name}.log").exists()
    assert rep["runs"][0]["status"] == "done" and rep["run_summaries"]["resnet20"]["iterations"] == k["iters"]
    assert rep["memory"]["rows"] and rep["phases"]["total_s"] < 60 * k["minutes"]


def test_a_short_dry_run_measures_then_trains(tmp_path, tiny_data):
    out, rep = dry_run(tmp_path, tiny_data, "--set", 'bench_archs=["resnet20"]', "--set", 'variants=["eager","graphs"]',
                       "--set", 'runs=["resnet20","plain20"]', "--set", "iters=8", "--set", "eval_every=4",
                       "--set", "check_every_s=5")
    assert rep["dry_run"] and rep["knobs"]["device"] == "cpu" and rep["time_box_s"] == 60 * rep["knobs"]["minutes"]
    check_measured_and_trained(out, rep)
    assert [r["name"] for r in rep["runs"]] == ["resnet20", "plain20"] and not any(r["checkpoint"] for r in rep["runs"])


@slow
def test_the_dry_column_measures_then_trains_every_run(tmp_path, tiny_data):
    out, rep = dry_run(tmp_path, tiny_data)
    check_measured_and_trained(out, rep)
    rows = {(r["arch"], r["variant"]): r for r in rep["throughput"]}
    assert rows["resnet20", "compile"].get("images_per_second") or rows["resnet20", "compile"].get("status")


@slow
def test_a_run_stopped_by_the_time_box_continues_with_resume(tmp_path, tiny_data):
    # a schedule too long for the time: only the first run starts, stops at the deadline with its checkpoint, and
    # `resnet-study train --resume` takes it to the end
    out, rep = dry_run(tmp_path, tiny_data, "--minutes", 1, "--set", "iters=100000", "--set", "eval_every=20",
                       "--set", 'bench_archs=["resnet20"]', "--set", 'variants=["eager"]', "--set", "memory_archs=[]")
    assert [p["start"] for p in rep["projection"]] == [True, False, False, False]
    run = rep["runs"][0]
    assert run["status"] == "stopped at the deadline" and 0 < run["last_iter"] < 100_000 and run["checkpoint"]
    assert rep["phases"]["total_s"] < 60 + 15
    d = out / "runs" / "resnet20"
    assert int(metrics_rows(d)[-1][0]) == run["last_iter"] and not (d / "summary.json").exists()
    assert f"resnet-study train --resume --out {d}" in (out / "log.txt").read_text()
    # the checkpoint is one the CLI continues (stopped again after a few seconds: the point is that it starts from it)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "resnet_study.cli", "train", "--resume", "--out", str(d), "--quiet"],
                         env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    def newest():
        try: return int(metrics_rows(d)[-1][0])
        except (ValueError, IndexError): return 0  # a line being written
    until = time.time() + 240
    while time.time() < until and p.poll() is None and newest() < run["last_iter"] + 20: time.sleep(2)
    p.terminate(); p.wait(60)
    rows = metrics_rows(d)
    assert int(rows[-1][0]) >= run["last_iter"] + 20, p.stdout.read()[-3000:]
    assert sorted(int(r[0]) for r in rows) == [int(r[0]) for r in rows]  # went on from the checkpoint, no iteration twice


@slow
def test_a_run_that_fails_compiled_starts_again_in_eager_mode(tmp_path, tiny_data, monkeypatch):
    g = load_script(dry=True)
    g.K.update(runs=["resnet20"], memory_archs=[], iters=4, eval_every=2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cmd = g.train_cmd
    monkeypatch.setattr(g, "train_cmd", lambda name, variant, *a, **kw: cmd(name, variant, *a, **kw) + (["--no-such-flag"] if variant != "eager" else []))
    rep = dict(throughput=[row("resnet20", "eager", 1.0), row("resnet20", "compile", 0.1)], runs=[])
    g.train(rep, tmp_path, str(tiny_data), g.now() + 300, lambda: None)
    (r,) = rep["runs"]
    assert rep["projection"][0]["variant"] == "compile" and r["retried"] and "--no-such-flag" in r["failed_first"]
    assert r["variant"] == "eager" and r["status"] == "done" and g.last_iter(Path(r["dir"])) == 4
