"""Reliability: a user's mistakes and damaged files end in one clear line and exit code 2, or in a resume
from the last good state; never in a traceback, a run with a meaningless setting, or a folder left behind."""
import contextlib, io, json, os, shlex, shutil, subprocess, sys
from pathlib import Path
import pytest, torch
from resnet_study.cli import main, _parser
from resnet_study.runs import CHECKPOINTS
from resnet_study.runfolder import RunLock
from resnet_study.recipes import RANGES, budget
from resnet_study.train import TrainConfig
from resnet_study.callbacks import load_checkpoint
from resnet_study.files import save_atomic

torch.set_num_threads(1)  # CI runners have few cores; small nets gain nothing from more
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

def run_cli(*args):
    "The installed program in a process of its own, as a user runs it"
    exe = shutil.which("resnet-study")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from resnet_study.cli import main; sys.exit(main())"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=ENV)

def call(*argv) -> tuple[int, str, str]:
    "(exit code, stdout, stderr) of `main(argv)` in this process: an exception other than argparse's exit is a traceback"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()

def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    return err

def train_args(data, out, *extra):
    return ("train", "--arch", "resnet8", "--data", data, "--out", out, "--bs", "16", "--device", "cpu", "--quiet", *extra)

# checkpoints at 4, 6 (after the evaluation), 8 and 12; training rows every 2 iterations, test rows at 6 and 12
SCHEDULE = ("--iters", "12", "--eval-every", "6", "--log-every", "2", "--ckpt-every", "4")

@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    "A finished 12-iteration run made by the command line: checkpoint.pth at 12, checkpoint.prev.pth at 8"
    out = tmp_path_factory.mktemp("trained") / "run"
    rc, _, err = call(*train_args(tiny_data, out, *SCHEDULE))
    assert rc == 0, err
    return out

@pytest.fixture
def run(trained, tmp_path):
    "A copy of the trained run, to damage"
    return Path(shutil.copytree(trained, tmp_path / "run"))

def rows(run_dir, col: int) -> list[int]:
    "The iterations of metrics.csv's rows with column `col` (4: training error, 6: test error) filled"
    lines = (Path(run_dir) / "metrics.csv").read_text().splitlines()[1:]
    return [int(l.split(",")[0]) for l in lines if l.split(",")[col]]

def listing(d: Path) -> list:
    return sorted((p.name, p.read_bytes()) for p in d.iterdir() if p.is_file())

def resume(run_dir): return call("train", "--resume", "--out", run_dir, "--device", "cpu", "--quiet")

# --- checkpoints that survive damage ---------------------------------------------------------------------
def test_the_last_two_checkpoints_are_kept(trained):
    test_iters = [load_checkpoint(trained / name)["iteration"] for name in CHECKPOINTS]
    assert test_iters == [12, 8]
    assert not list(trained.glob(".*.tmp")) and not (trained / ".lock").exists()

def _other_net(path):  # a whole checkpoint, but of another net (resnet14's weights)
    from resnet_study.models import get_model
    ck = load_checkpoint(path); ck["model"] = get_model("resnet14").state_dict(); torch.save(ck, path)

DAMAGE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:5000]), "cannot be read: cut short or not a checkpoint"),
    "empty": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "text": (lambda p: p.write_text("these are my notes\n"), "cannot be read"),
    "no keys": (lambda p: torch.save({"weights": torch.zeros(3)}, p), "is not a checkpoint of this program (no iteration, model"),
    "other net": (_other_net, "holds the weights of another net than resnet8"),
}

@pytest.mark.parametrize("kind", list(DAMAGE))
def test_resume_falls_back_on_the_previous_checkpoint(run, kind):
    damage, says = DAMAGE[kind]
    newest = run / "checkpoint.pth"
    damage(newest)
    damaged = newest.read_bytes()
    rc, out, err = resume(run)
    assert rc == 0, err
    assert f"warning: {newest} {says}" in one_line(err) and "kept as checkpoint.damaged.pth" in err
    assert "resuming from checkpoint.prev.pth (iteration 8)" in err
    assert "12 iterations" in out
    assert (run / "checkpoint.damaged.pth").read_bytes() == damaged  # set aside, not deleted
    assert [load_checkpoint(run / name)["iteration"] for name in CHECKPOINTS] == [12, 8]
    assert json.loads((run / "summary.json").read_text())["iterations"] == 12
    assert rows(run, 4) == list(range(2, 13, 2)) and rows(run, 6) == [6, 12]  # the rows after 8 dropped, then written once

def test_a_damaged_previous_checkpoint_is_not_needed(run):
    (run / "checkpoint.prev.pth").write_text("junk")
    rc, out, err = resume(run)
    assert rc == 0 and err == "" and "12 iterations" in out

@pytest.mark.parametrize("case", ["old folder: checkpoint.pth only", "killed between the renames: checkpoint.prev.pth only"])
def test_a_folder_with_one_checkpoint_resumes(run, case):
    if case.startswith("old"): os.replace(run / "checkpoint.prev.pth", run / "checkpoint.pth")  # at 8, as an older version left it
    else: (run / "checkpoint.pth").unlink()
    rc, out, err = call("train", "--resume", "--out", run, "--device", "cpu")  # not --quiet: it says where it resumes
    assert rc == 0, err
    assert f"resuming {run} at iteration 8 of 12" in out and ("from checkpoint.prev.pth" in out) == case.startswith("killed")
    assert rows(run, 4) == list(range(2, 13, 2))
    assert [load_checkpoint(run / name)["iteration"] for name in CHECKPOINTS] == [12, 8]

def without_rows(run):
    "The run's checkpoints as they were before a checkpoint kept a copy of metrics.csv's rows"
    for name in CHECKPOINTS:
        ck = load_checkpoint(run / name)
        del ck["logger"]["rows"]
        save_atomic(ck, run / name)

def test_a_checkpoint_ahead_of_metrics_is_not_used(run):
    "metrics.csv lost its last rows (restored from a copy, say): the checkpoint at 12 does not match it, the one at 8 does"
    without_rows(run)
    m = run / "metrics.csv"
    m.write_text("".join(l for l in m.read_text().splitlines(keepends=True) if l[0].isalpha() or int(l.split(",")[0]) <= 10))
    rc, out, err = resume(run)
    assert rc == 0, err
    assert "was written after the row of iteration 12 in metrics.csv, which ends at iteration 10" in one_line(err) and "iteration 8" in err
    assert rows(run, 4) == list(range(2, 13, 2))

def test_no_usable_checkpoint_changes_nothing_and_says_how_to_restart(run):
    (run / "checkpoint.pth").write_bytes(b"")
    (run / "checkpoint.prev.pth").write_bytes((run / "checkpoint.prev.pth").read_bytes()[:100])
    before = listing(run)
    rc, out, err = resume(run)
    assert rc == 2, err
    line = one_line(err)
    assert f"no usable checkpoint in {run}" in line and "checkpoint.pth is empty (0 bytes)" in line
    assert "checkpoint.prev.pth cannot be read" in line and "--force" in line and "Nothing was changed" in line
    assert listing(run) == before

def test_the_restart_hint_is_the_runs_own_command(run):
    cfg = json.loads((run / "config.json").read_text())
    cfg["command"] = ["/usr/bin/resnet-study", "train", "--arch", "resnet8", "--out", "runs/my run", "--bs", "16"]
    (run / "config.json").write_text(json.dumps(cfg))
    for name in CHECKPOINTS: (run / name).write_text("junk")
    rc, _, err = resume(run)
    # the recorded command, its --out this folder (config.json records folders by name only)
    assert rc == 2 and f"run: resnet-study train --arch resnet8 --out {shlex.quote(str(run))} --bs 16 --force" in one_line(err)

def test_metrics_lost_or_damaged_is_written_again_from_the_checkpoint(run, trained):
    "Each checkpoint keeps a copy of the rows written before it: a metrics.csv deleted, damaged or cut short is rebuilt"
    m = run / "metrics.csv"
    m.unlink()
    rc, _, err = resume(run)
    assert rc == 0 and f"{m} was missing; written again from the checkpoint's copy of its 8 rows" in one_line(err)
    assert m.read_bytes() == (trained / "metrics.csv").read_bytes()
    m.write_text("iter,epoch\n\x00\x00garbage\n")
    rc, _, err = resume(run)
    assert rc == 0 and f"{m} is damaged: line 2 has 1 values, not 2 (kept as metrics.damaged.csv)" in one_line(err)
    assert m.read_bytes() == (trained / "metrics.csv").read_bytes() and (run / "metrics.damaged.csv").exists()
    m.write_text("".join(l for l in m.read_text().splitlines(keepends=True) if l[0].isalpha() or int(l.split(",")[0]) <= 10))
    rc, out, err = resume(run)
    assert rc == 0 and "ended at iteration 10" in one_line(err) and m.read_bytes() == (trained / "metrics.csv").read_bytes()

def test_damaged_metrics_or_config_on_resume_is_named(run):
    "A checkpoint without a copy of the rows (written before copies were kept): a damaged metrics.csv is named"
    without_rows(run)
    m, c = run / "metrics.csv", run / "config.json"
    good = m.read_text()
    lines = good.splitlines(keepends=True)
    m.write_text("".join(lines[:3] + ["3,\x00\x00garbage\n"] + lines[3:]))
    before = listing(run)
    rc, _, err = resume(run)
    assert rc == 2 and f"{m} is damaged: line 4 has 2 values, not 8" in one_line(err) and "--force" in err
    assert listing(run) == before
    m.write_text(good)
    c.write_text(c.read_text()[:50])
    rc, _, err = resume(run)
    assert rc == 2 and f"{c} is damaged: not valid JSON" in one_line(err)

def test_eval_reads_the_newest_usable_checkpoint(run):
    rc, out, err = call("eval", "--run", run, "--device", "cpu")
    assert rc == 0 and "at iteration 12" in out and err == ""
    (run / "checkpoint.pth").write_text("junk")
    rc, out, err = call("eval", "--run", run, "--device", "cpu")
    assert rc == 0 and "at iteration 8" in out
    assert f"warning: {run / 'checkpoint.pth'} cannot be read" in one_line(err) and "using checkpoint.prev.pth" in err
    assert (run / "checkpoint.pth").read_text() == "junk"  # eval reads; it changes nothing
    (run / "checkpoint.prev.pth").write_bytes(b"")
    rc, out, err = call("eval", "--run", run, "--device", "cpu")
    assert rc == 2 and f"no usable checkpoint in {run}" in one_line(err) and "checkpoint.prev.pth is empty" in err
    (run / "config.json").write_text("{")
    rc, _, err = call("eval", "--run", run, "--device", "cpu")
    assert rc == 2 and f"{run / 'config.json'} is damaged" in one_line(err)

# --- report: a damaged run is named and left out ----------------------------------------------------------
HEADER = "iter,epoch,lr,train_loss,train_error,test_loss,test_error,images_per_second"  # metrics.csv's, as written
@pytest.mark.parametrize("file,damage,says", [
    ("summary.json", '{"arch": "resnet8", ', "not valid JSON (Expecting property name enclosed in double quotes"),
    ("config.json", "[1, 2]", "a JSON list, not an object"),
    ("metrics.csv", "iter,epoch\n1,2\n1,2,3,4\n", "line 3 has 4 values, not 2"),
    ("metrics.csv", HEADER + "\n2,0.1,0.1,2.3,80,,,900\n4,0.1,0.1,oops,80,,,900\n", "line 3 has 'oops' for train_loss, not a number"),
])
def test_report_names_a_damaged_run_and_goes_on(trained, tmp_path, file, damage, says):
    good, bad = (Path(shutil.copytree(trained, tmp_path / name)) for name in ("resnet8-s0", "resnet8-s1"))
    (bad / file).write_text(damage)
    rc, out, err = call("report", good, bad, "--out", tmp_path / "report")
    assert rc == 2
    assert one_line(err).startswith(f"resnet-study report: {bad / file} is damaged") and says in err and "left out" in err
    assert "resnet8-s0" in out and "resnet8-s1" not in out and (tmp_path / "report" / "figure6.png").exists()
    rc, out, err = call("report", bad)
    assert rc == 2 and out == "" and "nothing to report" in err.splitlines()[-1] and "Traceback" not in err

def test_report_of_a_damaged_summary_in_its_own_process(trained, tmp_path):
    bad = Path(shutil.copytree(trained, tmp_path / "run"))
    (bad / "summary.json").write_text('{"arch": "resnet8", ')
    r = run_cli("report", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{bad / 'summary.json'} is damaged: not valid JSON (Expecting property name" in r.stderr

# --- every number validated before anything is written -------------------------------------------------
def numeric_options():
    "(subcommand, option, range) of every numeric option of every subcommand, from the parser itself"
    import argparse
    subs = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    found = [(c, a.option_strings[0], a.type) for c, s in subs.items() for a in s._actions
             if a.option_strings and (a.type in (int, float) or hasattr(a.type, "range"))]
    unranged = [(c, o) for c, o, t in found if not hasattr(t, "range")]
    assert not unranged, f"numeric options that accept any value: {unranged}"
    return [(c, o, t.range) for c, o, t in found]

def test_the_options_table():
    got = {(c, o): str(r) for c, o, r in numeric_options()}
    assert got == {
        ("train", "--iters"): "an integer >= 1 and <= 60000000", ("train", "--subset"): "an integer >= 1",
        ("train", "--patience"): "an integer >= 1", ("train", "--min-delta"): "a finite number >= 0 and <= 1",
        ("train", "--size"): "an integer >= 32", ("train", "--workers"): "an integer >= 0",
        ("train", "--seed"): "an integer >= 0 and <= 4294967295", ("train", "--bs"): "an integer >= 1",
        ("train", "--lr"): "a finite number > 0", ("train", "--log-every"): "an integer >= 1",
        ("train", "--eval-every"): "an integer >= 1", ("train", "--ckpt-every"): "an integer >= 1",
        ("study", "--iters"): "an integer >= 1 and <= 60000000", ("study", "--seeds"): "an integer >= 0 and <= 4294967295",
        ("study", "--per-device"): "an integer >= 1"}

def _allowed(r, text: str) -> bool:
    try: return r.allows(r.kind(text))
    except ValueError: return False

def test_every_numeric_option_refuses_bad_values(tiny_data, tmp_path):
    base = {"train": ("train", "--arch", "resnet8", "--data", tiny_data, "--out"),
            "study": ("study", "degradation", "--data", tiny_data, "--out")}
    tried = 0
    for cmd, opt, r in numeric_options():
        for value in ("0", "-3", "nan", "inf", "word"):
            if _allowed(r, value): continue
            out = tmp_path / f"{cmd}{opt}{value}"
            rc, _, err = call(*base[cmd], out, opt, value)
            assert rc == 2, (cmd, opt, value, err)
            assert one_line(err) == f"resnet-study {cmd}: error: argument {opt}: invalid value '{value}': must be {r}\n"
            assert not out.exists()
            tried += 1
    assert tried == 15 * 5 - 4  # 0 is a fine --workers, --min-delta, --seed and --seeds

@pytest.mark.parametrize("argv,says", [
    (("--bs", "0"), "argument --bs: invalid value '0': must be an integer >= 1"),
    (("--lr", "-1"), "argument --lr: invalid value '-1': must be a finite number > 0"),
    (("--eval-every", "0"), "argument --eval-every: invalid value '0': must be an integer >= 1"),
])
def test_the_program_refuses_in_one_line(tiny_data, tmp_path, argv, says):
    r = run_cli("train", "--arch", "resnet8", "--data", str(tiny_data), "--out", str(tmp_path / "run"), *argv)
    assert r.returncode == 2 and r.stderr == f"resnet-study train: error: {says}\n" and not (tmp_path / "run").exists()

def test_other_mistakes_keep_the_usage(tmp_path):
    rc, _, err = call("train", "--arch", "resnet8")
    assert rc == 2 and err.startswith("usage: resnet-study train") and "required: --out" in err

def test_a_device_this_machine_lacks(tiny_data, tmp_path):
    for device, says in (("tpu", "--device 'tpu': not a device"), ("cuda:99", "--device cuda:99: this machine has")):
        for argv in (("train", "--arch", "resnet8", "--data", tiny_data, "--out", tmp_path / "r", "--device", device),
                     ("eval", "--run", tmp_path / "r", "--device", device)):
            rc, _, err = call(*argv)
            assert rc == 2 and says in one_line(err), err
    assert not (tmp_path / "r").exists()

def test_the_library_checks_the_same_table():
    for kw, says in ((dict(bs=0), "bs=0: must be an integer >= 1"), (dict(lr=float("nan")), "lr=nan"), (dict(lr=-1), "lr=-1"),
                     (dict(seed=-3), "seed=-3"), (dict(workers=-1), "workers=-1")):
        with pytest.raises(ValueError, match=says): TrainConfig("resnet8", **kw)
    for kw in (dict(iters=0), dict(log_every=0), dict(eval_every=0), dict(ckpt_every=-1), dict(subset=0)):
        with pytest.raises(ValueError, match=f"{next(iter(kw))}="): budget("quick", **kw)
    with pytest.raises(ValueError, match="patience=0"): budget("quick", dataset="imagenet", patience=0)
    with pytest.raises(ValueError, match="min_delta=inf"): budget("quick", dataset="imagenet", min_delta=float("inf"))
    assert set(RANGES) >= {"bs", "lr", "iters", "subset", "log_every", "eval_every", "ckpt_every", "patience", "min_delta",
                           "size", "workers", "seed"}

# --- a refused command leaves no folder, and removes only its own ------------------------------------------
def test_no_full_batch_leaves_no_folder(tiny_data, tmp_path):
    rc, _, err = call("train", "--arch", "resnet8", "--data", tiny_data, "--out", tmp_path / "new", "--subset", "20", "--iters", "2",
                      "--device", "cpu")
    assert rc == 2 and "no full batch of 128" in one_line(err) and not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()  # made by the user: kept
    rc, _, err = call("train", "--arch", "resnet8", "--data", tiny_data, "--out", tmp_path / "mine", "--subset", "20", "--iters", "2",
                      "--device", "cpu")
    assert rc == 2 and (tmp_path / "mine").is_dir()

def test_force_with_a_bad_setting_keeps_the_old_run(run, tiny_data):
    before = listing(run)
    rc, _, err = call("train", "--arch", "resnet8", "--data", tiny_data, "--out", run, "--subset", "20", "--iters", "2", "--force",
                      "--device", "cpu")
    assert rc == 2 and "no full batch" in one_line(err)
    assert listing(run) == before  # refused before --force emptied the folder

def test_a_later_refusal_removes_the_folder_it_made(tmp_path, monkeypatch):
    "A refusal found after the run folder got its first files (here: made up, inside `make_learner`) removes the folder"
    import resnet_study.runs as T  # `train_run` calls the `make_learner` it imported
    from resnet_study.testing import synthetic_cifar
    from resnet_study.runs import train_run
    real = T.make_learner
    def refuse(*a, **kw):
        real(*a, **kw)  # its logger has written metrics.csv's header
        raise ValueError("refused late")
    monkeypatch.setattr(T, "make_learner", refuse)
    cfg = TrainConfig("resnet8", bs=16, budget=budget("smoke", iters=2))
    with pytest.raises(ValueError, match="refused late"):
        train_run(cfg, tmp_path / "new", data=synthetic_cifar(64, 32), device="cpu", quiet=True)
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir(); (tmp_path / "old" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="refused late"):
        train_run(cfg, tmp_path / "old", data=synthetic_cifar(64, 32), device="cpu", quiet=True, force=True)
    assert (tmp_path / "old").is_dir()  # not made by this command: never removed

# --- two processes, one folder -------------------------------------------------------------------------
def test_a_second_resume_is_refused_with_the_holders_pid(run):
    lock = RunLock(run).acquire()  # this process trains into `run`, as far as the second one can tell
    try:
        r = run_cli("train", "--resume", "--out", str(run), "--device", "cpu", "--quiet")
    finally: lock.release()
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == (f"resnet-study train: error: {run} is being trained by another process (pid {os.getpid()}); "
                        "wait for it to end, or stop it, before you resume this run\n")
    assert not (run / "checkpoint.damaged.pth").exists() and json.loads((run / "summary.json").read_text())["iterations"] == 12
