"""The prepared H200 call (benchmarks/gpu_h200.sh): its planning rules, and its dry run on the CPU end to end.

The dry runs take 2-3 minutes each; they run only with RESNET_STUDY_SLOW_TESTS=1."""
import importlib.util, json, os, subprocess, sys, tarfile, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
slow = pytest.mark.skipif(os.environ.get("RESNET_STUDY_SLOW_TESTS") != "1",
                          reason="a dry run of the GPU call takes minutes: set RESNET_STUDY_SLOW_TESTS=1")


def load_script(**env):
    "benchmarks/gpu_h200.py as a module, its knob table read with `env` set"
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        spec = importlib.util.spec_from_file_location("gpu_h200", ROOT / "benchmarks" / "gpu_h200.py")
        mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v
    return mod


def test_the_call_runs_the_papers_schedule():
    from resnet_study.recipes import RECIPES
    g = load_script(DRY_RUN="0")
    r = RECIPES["cifar10"]
    assert g.PAPER == dict(iters=r.iters, eval_every=r.eval_every, bs=r.bs)
    assert (g.K["iters"], g.K["eval_every"], g.K["bs"], g.K["device"]) == (64_000, 1_000, 128, "cuda")
    assert g.K["call_s"] <= 540 and g.K["bench_until_s"] < g.K["call_s"] - g.K["stop_margin_s"]
    cmd = g.train_cmd("resnet20", "eager", "D", Path("runs/resnet20"))
    assert cmd[cmd.index("train"):] == ["train", "--arch", "resnet20", "--data", "D", "--budget", "paper",
                                        "--out", "runs/resnet20", "--quiet", "--device", "cuda"]
    assert "--compile" in g.train_cmd("resnet20", "graphs", "D", Path("x"))
    assert g.base_env("graphs")["TORCHINDUCTOR_CUDAGRAPHS"] == "1" and "TORCHINDUCTOR_CUDAGRAPHS" not in g.base_env("compile")


def test_knobs_dry_column_and_overrides():
    g = load_script(DRY_RUN="1", GPU_CALL_S="99", GPU_RUNS='["resnet20"]')
    assert g.K["device"] == "cpu" and g.K["call_s"] == 99 and g.K["runs"] == ["resnet20"]
    assert g.knobs(dry=False, env={})["device"] == "cuda"


def row(arch, variant, s, startup=10.0, busy=None, eval_s=0.1):
    r = dict(arch=arch, variant=variant, s_per_iter=s, import_s=startup / 2, data_s=0.0, warmup_s=startup / 2,
             eval_first_s=eval_s, eval_s=eval_s)
    if busy is not None: r["gpu_busy_s_per_iter"] = busy
    return r


def test_plan_runs_takes_runs_in_priority_order_while_they_fit():
    g = load_script(DRY_RUN="0")
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
    p = g.plan_runs(names, rows, 310, 64_000, 1000, "cuda", 2, 16)
    assert [(x["variant"], x["start"]) for x in p] == [("compile", True), ("compile", True), ("compile", False), ("compile", False)]
    assert p[1]["projected_s"] == pytest.approx(302.4) and "after" in p[2]["why"]
    # a net nobody measured is not started; the first run is, even unmeasured
    p = g.plan_runs(["resnet110", "plain110"], rows, 1e9, 10, 5, "cuda", 2, 16)
    assert p[0]["start"] and p[0]["alone_s"] is None and not p[1]["start"] and "no measurement" in p[1]["why"]
    # the profiler's kernel time is taken from any variant of the net (it may not see inside CUDA graphs); none: 1
    assert g.share(rows[1], rows, "cuda", 2, 16) == pytest.approx(0.0015 / 0.004)
    assert g.share(row("x", "eager", 1.0), [], "cuda", 2, 16) == 1.0 and g.share(rows[0], rows, "cpu", 1, 4) == 0.25


def test_recheck_cuts_the_lowest_priority_late_run(tmp_path, monkeypatch):
    g = load_script(DRY_RUN="1")
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


def test_check_out_names_what_the_device_tool_refuses(tmp_path):
    g = load_script(DRY_RUN="1")
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "b" / "ok.json").write_text("{}")
    (tmp_path / "a" / "b" / "c" / "deep.txt").write_text("")
    (tmp_path / "bad name.txt").write_text("")
    for i in range(7): (tmp_path / f"f{i}").write_text("")
    problems = g.check_out(tmp_path)
    assert any("10 files" in p for p in problems) and any("deep.txt" in p for p in problems)
    assert any("bad name.txt" in p for p in problems) and not any("ok.json" in p for p in problems)


# ---- the dry run, end to end ------------------------------------------------------------------------------------------
def dry_run(tmp_path, data, **knobs):
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "DRY_RUN": "1", "OUT": str(out), "WORK": str(work), "DATA": str(data), "PYTHON": sys.executable,
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **{f"GPU_{k.upper()}": json.dumps(v) for k, v in knobs.items()}}
    t = time.time()
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_h200.sh")], env=env, capture_output=True, text=True, timeout=600)
    print(f"dry run: {time.time() - t:.0f} s\n{r.stdout[-3000:]}")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    rep = json.loads((out / "report.json").read_text())
    assert rep["out_problems"] == [] and len(files) <= 8
    with tarfile.open(out / "runs.tgz") as tf: names = tf.getnames()
    assert not any(n.endswith(".pth") for n in names)
    return out, files, rep, names


def metrics_rows(out, name):
    with tarfile.open(out / "runs.tgz") as tf:
        lines = tf.extractfile(f"runs/{name}/metrics.csv").read().decode().strip().splitlines()
    assert lines[0].startswith("iter,epoch,lr,train_loss,train_error,test_loss,test_error")
    return [l.split(",") for l in lines[1:]]


@slow
def test_dry_run_measures_then_trains_every_run(tmp_path, tiny_data):
    out, files, rep, names = dry_run(tmp_path, tiny_data)
    assert files == ["gpu.txt", "log.txt", "report.json", "runs.tgz"]
    k = rep["knobs"]
    rows = {(r["arch"], r["variant"]): r for r in rep["throughput"]}
    for arch in k["bench_archs"]:  # every net in eager mode, with what the Learner adds and fastai's optimizer
        r = rows[arch, "eager"]
        assert r["images_per_second"] > 0 and "learner_overhead_ms" in r and r["opt_fastai_ms"] > 0 and r["eval_s"] > 0
    assert rows["resnet20", "graphs"]["status"].startswith("skipped")  # CUDA graphs: the device's part
    assert rows["resnet20", "compile"].get("images_per_second") or rows["resnet20", "compile"].get("status")
    assert [p["name"] for p in rep["projection"]] == k["runs"]
    started = [p["name"] for p in rep["projection"] if p["start"]]
    assert started[0] == "resnet20" and [r["name"] for r in rep["runs"]] == started
    for name in started:
        assert {f"runs/{name}/config.json", f"runs/{name}/metrics.csv", f"runs/{name}/summary.json"} <= set(names)
        assert int(metrics_rows(out, name)[-1][0]) == k["iters"]
    assert rep["runs"][0]["status"] == "done" and rep["run_summaries"]["resnet20"]["iterations"] == k["iters"]
    assert "logs/throughput-eager.log" in names and "logs/train-resnet20.log" in names
    assert "throughput at batch" in (out / "log.txt").read_text()


@slow
def test_dry_run_stops_at_its_deadlines_and_brings_back_partial_runs(tmp_path, tiny_data):
    # a schedule far too long for the time: only the first run starts, stops at the deadline, and comes back partial
    out, files, rep, names = dry_run(tmp_path, tiny_data, iters=100_000, eval_every=20, bench_archs=["resnet20"],
                                     variants=["eager"], call_s=100, stop_margin_s=10, memory_archs=[])
    assert files == ["checkpoints.tgz", "gpu.txt", "log.txt", "report.json", "runs.tgz"]
    assert [p["start"] for p in rep["projection"]] == [True, False, False, False]
    run = rep["runs"][0]
    assert run["status"] == "stopped at the deadline" and 0 < run["last_iter"] < 100_000
    assert rep["phases"]["total_s"] < 100 + 15
    assert int(metrics_rows(out, "resnet20")[-1][0]) == run["last_iter"]
    assert "runs/resnet20/summary.json" not in names and rep["checkpoints_back"] == ["resnet20"]
    with tarfile.open(out / "checkpoints.tgz") as tf: assert tf.getnames() == ["runs/resnet20/checkpoint.pth"]


@slow
def test_a_run_that_fails_compiled_starts_again_in_eager_mode(tmp_path, tiny_data, monkeypatch):
    g = load_script(DRY_RUN="1")
    monkeypatch.setitem(g.K, "runs", ["resnet20"]); monkeypatch.setitem(g.K, "memory_archs", [])
    monkeypatch.setitem(g.K, "iters", 4); monkeypatch.setitem(g.K, "eval_every", 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cmd = g.train_cmd
    monkeypatch.setattr(g, "train_cmd", lambda name, variant, *a, **kw: cmd(name, variant, *a, **kw) + (["--no-such-flag"] if variant != "eager" else []))
    rep = dict(throughput=[row("resnet20", "eager", 1.0), row("resnet20", "compile", 0.1)], runs=[])
    g.train(rep, tmp_path, str(tiny_data), g.now() + 300, lambda: None, lambda final: None)
    (r,) = rep["runs"]
    assert rep["projection"][0]["variant"] == "compile" and r["retried"] and "--no-such-flag" in r["failed_first"]
    assert r["variant"] == "eager" and r["status"] == "done" and g.last_iter(Path(r["dir"])) == 4
