"End-to-end tests of the `resnet-study` command line, run as a user runs it."
import shutil, subprocess, sys
import pytest

def run_cli(*args, **kw):
    exe = shutil.which("resnet-study")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from resnet_study.cli import main; sys.exit(main())"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, **kw)

def test_models_table():
    r = run_cli("models", "resnet20", "resnet1202", "resnet50")
    assert r.returncode == 0, r.stderr
    assert "resnet1202" in r.stdout and "19.421" in r.stdout and "3.858" in r.stdout

def test_a_closed_pipe_is_not_a_write_error():
    "`resnet-study models | head -1`: the reader leaves early; no error line about --out, the shell's exit code for it"
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a user's shell: stdout buffered by a pipe
    try: r = subprocess.run([sys.executable, "-m", "resnet_study.cli", "models"], stdout=write, stderr=subprocess.PIPE, text=True, env=env)
    finally: os.close(write)
    assert r.returncode == 141 and r.stderr == "", r.stderr

@pytest.mark.parametrize("arch", ["resnet21", "vgg19"])
def test_unknown_architecture_is_a_usage_error(arch):
    r = run_cli("models", arch)
    assert r.returncode == 2
    assert f"unknown architecture '{arch}'" in r.stderr and "resnet20" in r.stderr

def test_help():
    r = run_cli("--help")
    assert r.returncode == 0 and "models" in r.stdout

# --- train / eval / report, on a tiny CIFAR-like folder of JPEGs -------------------------------------
import json, os, signal, time
from pathlib import Path

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

def train_args(data, out, *extra):
    return ("train", "--arch", "resnet8", "--data", str(data), "--out", str(out), "--bs", "16", "--quiet", *extra)

def test_train_usage_errors_exit_2_and_touch_nothing(tiny_data, tmp_path):
    r = run_cli("train", "--arch", "resnet21", "--data", str(tiny_data), "--out", str(tmp_path / "a"), env=ENV)
    assert r.returncode == 2 and "unknown architecture 'resnet21'" in r.stderr and not (tmp_path / "a").exists()
    r = run_cli("train", "--arch", "resnet50", "--data", str(tiny_data), "--out", str(tmp_path / "a"), env=ENV)
    assert r.returncode == 2 and "ImageNet" in r.stderr and not (tmp_path / "a").exists()
    r = run_cli("train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b"), env=ENV)
    assert r.returncode == 2 and "no such file or folder" in r.stderr and not (tmp_path / "b").exists()
    (tmp_path / "c").mkdir(); (tmp_path / "c" / "keep.txt").write_text("mine")
    r = run_cli(*train_args(tiny_data, tmp_path / "c", "--iters", "2"), env=ENV)
    assert r.returncode == 2 and "already exists" in r.stderr and "--resume" in r.stderr
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["keep.txt"]
    r = run_cli("train", "--resume", "--out", str(tmp_path / "d"), env=ENV)
    assert r.returncode == 2 and "no run to resume" in r.stderr
    r = run_cli("eval", "--run", str(tmp_path / "d"), env=ENV)
    assert r.returncode == 2 and "not a run folder" in r.stderr

@pytest.mark.parametrize("cmd", ["train", "eval", "report"])
def test_subcommand_help(cmd):
    r = run_cli(cmd, "--help")
    assert r.returncode == 0 and "usage: resnet-study " + cmd in r.stdout

def test_sigkill_mid_run_then_resume(tiny_data, tmp_path):
    out = tmp_path / "run"
    exe = shutil.which("resnet-study")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from resnet_study.cli import main; sys.exit(main())"]
    args = train_args(tiny_data, out, "--iters", "200", "--ckpt-every", "5", "--eval-every", "100", "--log-every", "5")
    proc = subprocess.Popen([*cmd, *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt, deadline = out / "checkpoint.pth", time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline: time.sleep(0.02)
    time.sleep(0.3)  # a few more iterations, so the kill lands between checkpoints
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert ckpt.exists() and not (out / "summary.json").exists()

    r = run_cli("train", "--resume", "--out", str(out), env=ENV)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout and "200 iterations" in r.stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["iterations"] == 200 and s["status"] == "done"
    rows = [l.split(",") for l in (out / "metrics.csv").read_text().splitlines()[1:]]
    train_iters = [int(r[0]) for r in rows if r[4]]
    assert train_iters == list(range(5, 201, 5))  # every window once: nothing lost, nothing twice
    assert [int(r[0]) for r in rows if r[6]] == [100, 200]

    r = run_cli("eval", "--run", str(out), env=ENV)
    assert r.returncode == 0, r.stderr
    assert f"test error {s['test_error']:.2f}%" in r.stdout

    r = run_cli(*train_args(tiny_data, out, "--iters", "2"), env=ENV)
    assert r.returncode == 2 and "already exists" in r.stderr

    r = run_cli("report", str(out), "--out", str(tmp_path / "report"), env=ENV)
    assert r.returncode == 0, r.stderr
    assert "resnet8" in r.stdout and (tmp_path / "report" / "figure6.png").exists()

# --- ImageNet nets on a tiny generated ImageNet-layout tree --------------------------------------------
@pytest.fixture(scope="module")
def image_tree(tmp_path_factory):
    "3 classes x 4 train and 2 val JPEGs of random sizes (60-300 px) in the ImageNet layout"
    from resnet_study.testing import synthetic_image_tree
    return synthetic_image_tree(tmp_path_factory.mktemp("imnet") / "tiny")

def test_imagenet_train_resume_and_eval(image_tree, tmp_path, capsys):
    out = tmp_path / "r50"
    base = ("train", "--arch", "resnet50", "--data", str(image_tree), "--out", str(out), "--bs", "4", "--size", "64",
            "--workers", "0", "--eval-every", "2", "--log-every", "1", "--patience", "1", "--quiet")
    r = run_cli(*base, "--iters", "2", env=ENV)
    assert r.returncode == 0, r.stderr
    assert "2 iterations" in r.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["dataset"] == "imagenet" and cfg["config"]["shortcut"] == "B" and cfg["config"]["size"] == 64
    b = cfg["config"]["budget"]
    assert (b["iters"], b["schedule"], b["patience"], b["eval_every"], b["factor"]) == (2, "plateau", 1, 2, 10.0)

    r = run_cli("eval", "--run", str(out), env=ENV)
    assert r.returncode == 0, r.stderr
    assert "ten-crop top-1 error" in r.stdout and "top-5 error 0.00%" in r.stdout and "6 images" in r.stdout

    from resnet_study.cli import main  # in-process from here: the same code, without another start-up
    assert main(["eval", "--run", str(out), "--crop", "center", "--device", "cpu"]) == 0
    assert "center-crop top-1 error" in capsys.readouterr().out
    assert main(["train", "--resume", "--out", str(out), "--device", "cpu", "--quiet"]) == 0  # finished: nothing left to train
    assert "2 iterations" in capsys.readouterr().out

def test_arch_and_data_mismatch_is_a_usage_error(image_tree, tiny_data, tmp_path, capsys):
    from resnet_study.cli import main  # in-process: these fail before any data is read
    def err(*args):
        rc = main(list(args)); return rc, capsys.readouterr().err
    rc, e = err("train", "--arch", "resnet18", "--data", str(tiny_data), "--out", str(tmp_path / "a"))
    assert rc == 2 and "resnet18 is an ImageNet net" in e and "val/" in e
    rc, e = err("train", "--arch", "resnet8", "--data", str(image_tree), "--out", str(tmp_path / "b"))
    assert rc == 2 and "resnet8 is a CIFAR net" in e and "ImageNet-style tree" in e
    rc, e = err("train", "--arch", "resnet50", "--out", str(tmp_path / "c"))
    assert rc == 2 and "give --data" in e
    rc, e = err("train", "--arch", "resnet8", "--data", str(tiny_data), "--patience", "3", "--out", str(tmp_path / "d"))
    assert rc == 2 and "--patience" in e
    assert not any((tmp_path / d).exists() for d in "abcd")

def test_crop_is_for_imagenet_runs(tiny_data, tmp_path, capsys):
    from resnet_study.cli import main
    out = tmp_path / "c10"
    assert main(list(train_args(tiny_data, out, "--iters", "2", "--device", "cpu"))) == 0
    capsys.readouterr()
    assert main(["eval", "--run", str(out), "--crop", "ten", "--device", "cpu"]) == 2
    assert "--crop is for ImageNet runs" in capsys.readouterr().err

def test_study_trains_measures_and_reports_then_skips(tiny_data, tmp_path):
    out = tmp_path / "study"
    r = run_cli("study", "degradation", "--iters", "2", "--seeds", "0", "1", "--data", str(tiny_data), "--out", str(out), env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stdout.index("plain56-s0") < r.stdout.index("plain20-s1")  # every net of a group gets a seed before the next seed
    for name in ("plain20", "plain56"):
        for seed in (0, 1):
            s = json.loads((out / f"{name}-s{seed}" / "summary.json").read_text())
            assert s["arch"] == name and s["iterations"] == 2 and s["seed"] == seed
            assert (out / f"{name}-s{seed}" / "signals.csv").read_text().count("\n") == 2 * (20 - 1 if name == "plain20" else 56 - 1) + 1
    assert (out / "report" / "figure6.png").exists() and "plain56" in (out / "report" / "table.md").read_text()
    claims = (out / "report" / "claims.md").read_text()  # 2 seeds: one line on what they cannot establish, no table of nan
    assert claims.startswith("No verdicts: a verdict needs 3 seeds") and "nan" not in claims and "resnet" not in claims, claims
    again = run_cli("study", "degradation", "--iters", "2", "--seeds", "0", "1", "--data", str(tiny_data), "--out", str(out), env=ENV)
    assert again.returncode == 0 and "training" not in again.stdout
    status = run_cli("study", "degradation", "--iters", "2", "--seeds", "0", "1", "--out", str(out), "--status", env=ENV)
    assert status.returncode == 0 and "4 runs: 4 finished, 0 training, 0 stopped, 0 not started" in status.stdout

def test_study_status_reads_and_writes_nothing(tmp_path):
    "--status on a study not begun: every run not started, no folder made, no data or device looked for"
    out = tmp_path / "study"
    r = run_cli("study", "residual", "--iters", "64000", "--out", str(out), "--data", str(tmp_path / "nowhere"),
                "--devices", "cuda:0,cuda:1", "--status", env=ENV)
    assert r.returncode == 0, r.stderr
    assert "6 runs: 0 finished, 0 training, 0 stopped, 6 not started" in r.stdout and not out.exists()

def test_report_skips_folders_that_are_not_runs(tmp_path):
    "The README's `resnet-study report runs/cpu-3200/* --out ...`: the report/ folder among the runs is skipped, with a note"
    root = Path(__file__).resolve().parents[1] / "runs" / "cpu-400"
    r = run_cli("report", *map(str, sorted(root.iterdir())), "--out", str(tmp_path / "report"), env=ENV)
    assert r.returncode == 0, r.stderr
    assert "report: not a run folder (no config.json), skipped" in r.stderr and (tmp_path / "report" / "claims.md").exists()
    assert "nan" not in (tmp_path / "report" / "table.md").read_text()

def test_study_never_replaces_a_folder_it_did_not_make(tiny_data, tmp_path):
    mine = tmp_path / "study" / "plain20-s0"; mine.mkdir(parents=True); (mine / "notes.txt").write_text("mine")
    r = run_cli("study", "degradation", "--iters", "2", "--seeds", "0", "--data", str(tiny_data), "--out", str(tmp_path / "study"), env=ENV)
    assert r.returncode == 2 and "already exists" in r.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]

def test_study_unknown_experiment(tiny_data, tmp_path):
    r = run_cli("study", "vanishing", "--data", str(tiny_data), "--out", str(tmp_path / "s"), env=ENV)
    assert r.returncode == 2 and "unknown experiment vanishing" in r.stderr and not (tmp_path / "s").exists()

# --- one recipe, one meaning per name (the fidelity issue) --------------------------------------------
def test_recipe_defaults_reach_the_config():
    "No --bs: the ImageNet nets train at the paper's 256, the CIFAR nets at 128 (an earlier CLI wrote 128 for both)"
    from resnet_study.cli import _parser, train_config
    from resnet_study.recipes import RECIPES
    def cfg(*a): return train_config(_parser().parse_args(["train", "--out", "x", *a]))
    c = cfg("--arch", "resnet18", "--data", "nowhere")
    assert (c.bs, c.lr, c.wd, c.budget.iters, c.budget.schedule) == (256, 0.1, 1e-4, 600_000, "plateau")
    assert RECIPES["imagenet"].bs == 256 and RECIPES["cifar10"].bs == 128
    c = cfg("--arch", "resnet110")
    assert (c.bs, c.budget.iters, c.budget.milestone_iters, c.use_warmup) == (128, 64_000, (32_000, 48_000), True)
    assert cfg("--arch", "resnet18", "--data", "nowhere", "--bs", "64").bs == 64

@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50", "plain18", "resnet20"])
def test_one_meaning_per_name(arch):
    "`resnet-study models` and `resnet-study train` mean the same net by a name"
    from resnet_study.models import model_table, get_model, n_params
    from resnet_study.train import TrainConfig
    row, cfg = model_table([arch]).loc[arch], TrainConfig(arch)
    assert row.shortcut == ("none" if arch.startswith("plain") else cfg.shortcut)
    assert row.params == n_params(get_model(arch, shortcut=cfg.shortcut))

def test_study_runs_concurrently_over_devices(tiny_data, tmp_path):
    "--devices cpu --per-device 2: two workers, one thread each, share the runs through the run folders' locks"
    out = tmp_path / "study"
    args = ("study", "degradation", "--iters", "2", "--seeds", "0", "1", "--data", str(tiny_data), "--out", str(out))
    r = run_cli(*args, "--devices", "cpu", "--per-device", "2", env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 runs, 2 at a time on cpu (1 thread each)" in r.stdout
    trained = [l for l in r.stdout.splitlines() if ": train error " in l]  # one line per run a worker finished
    assert sorted(l.split("] ", 1)[1].split(":")[0].strip() for l in trained) == ["plain20-s0", "plain20-s1", "plain56-s0", "plain56-s1"]
    assert {l.split("]")[0] for l in trained} == {"[1:cpu", "[2:cpu"}  # both workers trained: no run twice, none left
    assert "study: 4/4 runs finished" in r.stdout and (out / "report" / "claims.md").exists()
    for name in ("plain20-s0", "plain20-s1", "plain56-s0", "plain56-s1"):
        assert json.loads((out / name / "summary.json").read_text())["iterations"] == 2 and (out / name / "signals.csv").exists()
    again = run_cli(*args, "--devices", "cpu", "--per-device", "2", env=ENV)
    assert again.returncode == 0 and ": training " not in again.stdout
    r = run_cli(*args, "--devices", "cpu", "--device", "cpu", env=ENV)
    assert r.returncode == 2 and "--device is for one process" in r.stderr

def test_study_skips_a_run_another_worker_holds(tiny_data, tmp_path):
    "A run whose lock another process holds is skipped with its holder's pid and left alone; the other runs go on"
    from resnet_study.runfolder import RunLock
    out = tmp_path / "study"
    with RunLock(out / "plain20-s0"):  # this test process plays the other worker
        r = run_cli("study", "degradation", "--iters", "2", "--seeds", "0", "--data", str(tiny_data), "--out", str(out),
                    "--no-report", env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"skipped: {out / 'plain20-s0'} is being trained by another process (pid {os.getpid()})" in r.stdout
    assert (out / "plain56-s0" / "signals.csv").exists() and not (out / "plain20-s0").exists()

# --- a data set is a row of DATASETS: --dataset picks it, the net's own by default ---------------------
def test_dataset_cifar100_and_a_folder_train_the_cifar_nets(tmp_path, capsys):
    "CIFAR-100's official format and a 3-class folder of 32x32 images train a CIFAR net; the run says what it saw"
    from resnet_study.cli import main
    from resnet_study.testing import cifar100_files, write_cifar_archive, synthetic_cifar, write_image_folder
    from resnet_study.analysis import budget_line
    c100 = write_cifar_archive(tmp_path / "c100.tgz", cifar100_files(n=64), prefix="cifar-100-python/")
    out = tmp_path / "r100"
    assert main(["train", "--arch", "resnet8", "--dataset", "cifar100", "--data", str(c100), "--out", str(out),
                 "--bs", "16", "--iters", "2", "--device", "cpu", "--quiet"]) == 0, capsys.readouterr().err
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["dataset"], cfg["config"]["dataset"], cfg["n_train"], cfg["config"]["bs"]) == ("cifar100", "cifar100", 64, 16)
    from resnet_study.runs import run_model
    assert run_model(out, "cpu", num_classes=100)[0].fc.out_features == 100
    assert "0.5 epochs of 64 images" in budget_line([out])
    three = write_image_folder(tmp_path / "three", synthetic_cifar(48, 12, n_classes=3, balanced=True))
    out = tmp_path / "r3"
    assert main(["train", "--arch", "resnet8", "--dataset", "folder32", "--data", str(three), "--out", str(out),
                 "--bs", "16", "--iters", "2", "--device", "cpu", "--quiet", "--bf16"]) == 0, capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["iterations"] == 2
    assert json.loads((out / "config.json").read_text())["config"]["bf16"] is True  # bf16 autocast on the CPU, asked for
    assert "0.7 epochs of 48 images" in budget_line([out])

def test_dataset_mismatches_are_usage_errors(tmp_path, tiny_data, image_tree, capsys):
    from resnet_study.cli import main
    def err(*args):
        rc = main(list(args)); return rc, capsys.readouterr().err
    rc, e = err("train", "--arch", "resnet18", "--dataset", "cifar100", "--data", str(image_tree), "--out", str(tmp_path / "a"))
    assert rc == 2 and "resnet18 is an ImageNet net; --dataset cifar100 is for the CIFAR nets" in e and "Choose one of imagenet" in e
    rc, e = err("train", "--arch", "resnet8", "--dataset", "cifar100", "--data", str(tiny_data), "--out", str(tmp_path / "b"),
                "--iters", "2", "--device", "cpu")
    assert rc == 2 and "10 classes, but CIFAR-100 has 100" in e
    r = run_cli("train", "--arch", "resnet8", "--dataset", "mnist", "--out", str(tmp_path / "c"), env=ENV)
    assert r.returncode == 2 and "invalid choice: 'mnist'" in r.stderr
    assert not any((tmp_path / d).exists() for d in "abc")

# --- a student's first hour: the paper's budget on a CPU, short runs, plain output to a file ------------
def test_no_iters_on_a_cpu_says_how_long_and_asks_for_budget_paper(tiny_data, tmp_path, capsys):
    from resnet_study.cli import main
    rc = main(["train", "--arch", "resnet8", "--data", str(tiny_data), "--out", str(tmp_path / "r"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "the paper's 64,000 iterations of resnet8 would take about" in err and "--budget paper" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()

def test_a_short_run_piped_to_a_file_evaluates_once_and_draws_no_bars(tiny_data, tmp_path):
    r = run_cli("train", "--arch", "resnet8", "--data", str(tiny_data), "--out", str(tmp_path / "r"), "--bs", "16",
                "--iters", "6", "--device", "cpu", env=ENV)
    assert r.returncode == 0, r.stderr
    assert "Epoch" not in r.stdout and "%" in r.stdout.splitlines()[-1]  # no progress bar; the result line
    assert "resnet8, 6 iterations (3/32000" in r.stdout.splitlines()[-1]
    rows = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[1:]
    assert [int(x.split(",")[0]) for x in rows if x.split(",")[6]] == [6]  # one evaluation, at the end
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert cfg["budget"]["eval_every"] == 6 and cfg["budget"]["name"] == "6 iterations (3/32000 of the paper's 64,000)"
