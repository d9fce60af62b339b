"""Several processes, as on several GPUs: `torchrun` with the gloo backend on the CPU. One run folder written
once, a SIGKILL and a resume that ends at the weights of the uninterrupted run, and clear usage errors."""
import json, os, signal, subprocess, sys, time
import pytest, torch

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

def torchrun_cmd(n, *args):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), "-m", "resnet_study.cli", *args]

def train_args(data, out, *extra):
    return ("train", "--arch", "resnet8", "--data", str(data), "--out", str(out), "--bs", "16", "--device", "cpu",
            "--quiet", *extra)

def rows(run):
    return [l.split(",") for l in (run / "metrics.csv").read_text().splitlines()[1:]]

def weights(run):
    return torch.load(run / "checkpoint.pth", map_location="cpu", weights_only=False)["model"]

def test_two_processes_one_run_then_kill_and_resume(tiny_data, tmp_path):
    args = ("--iters", "120", "--ckpt-every", "5", "--eval-every", "60", "--log-every", "5")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    r = subprocess.run(torchrun_cmd(2, *train_args(tiny_data, whole, *args)), capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("120 iterations") == 1  # the first process reports, the other stays quiet
    s, cfg = json.loads((whole / "summary.json").read_text()), json.loads((whole / "config.json").read_text())
    assert s["processes"] == cfg["processes"] == 2 and s["iterations"] == 120 and s["status"] == "done"
    assert [int(r[0]) for r in rows(whole) if r[4]] == list(range(5, 121, 5))  # every window once
    assert [int(r[0]) for r in rows(whole) if r[6]] == [60, 120]

    proc = subprocess.Popen(torchrun_cmd(2, *train_args(tiny_data, killed, *args)), env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, start = killed / "checkpoint.pth", time.time()
    while not ckpt.exists() and proc.poll() is None and time.time() < start + 600: time.sleep(0.02)
    if not ckpt.exists():  # say which of the three ways the wait ended, not just that a file is missing
        ended = proc.poll()
        if ended is None: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
        pytest.fail(f"no checkpoint after {time.time() - start:.0f} s: the run "
                    + ("was still going (a machine this loaded cannot time the kill; rerun when it is idle)" if ended is None
                       else f"exited with {ended} before writing one"))
    time.sleep(0.3)  # a few more iterations, so the kill lands between checkpoints
    os.killpg(proc.pid, signal.SIGKILL); proc.wait()  # the launcher and both workers at once
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert ckpt.exists() and not (killed / "summary.json").exists()

    r = subprocess.run(torchrun_cmd(2, "train", "--resume", "--out", str(killed), "--device", "cpu"),
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("resuming") == 1 and "120 iterations" in r.stdout
    assert [int(r[0]) for r in rows(killed) if r[4]] == list(range(5, 121, 5))
    a, b = weights(whole), weights(killed)
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) < 1e-5

def test_usage_errors_before_anything_starts(tiny_data, tmp_path, monkeypatch, capsys):
    from resnet_study.cli import main
    monkeypatch.setenv("WORLD_SIZE", "2"); monkeypatch.setenv("RANK", "0")  # as torchrun sets them
    assert main(list(train_args(tiny_data, tmp_path / "a", "--bs", "15", "--iters", "2"))) == 2
    assert "does not split evenly over 2 processes" in capsys.readouterr().err
    assert main(list(train_args(tiny_data, tmp_path / "b", "--sync-bn", "--iters", "2"))) == 2
    assert "--sync-bn needs GPUs" in capsys.readouterr().err
    assert main(["models"]) == 2 and "only `train` runs on several processes" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

def test_two_processes_imagenet_plateau(tmp_path):
    """An ImageNet net on two processes: the sharded folder loader, the plateau rule deciding the same falls in both.
    A small rate: two images a process make BN's statistics so noisy that 0.1 throws the loss past a thousand times a
    guess's within 3 iterations, which the run rightly records as diverged"""
    from resnet_study.testing import synthetic_image_tree
    tree, out = synthetic_image_tree(tmp_path / "tree"), tmp_path / "r18"
    r = subprocess.run(torchrun_cmd(2, "train", "--arch", "resnet18", "--data", str(tree), "--out", str(out), "--bs", "4",
                                    "--size", "32", "--workers", "0", "--iters", "6", "--eval-every", "2", "--patience", "1", "--lr", "0.001",
                                    "--device", "cpu", "--quiet"), capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["processes"] == 2 and s["iterations"] == 6
    falls = [it for it, _ in s["lr_reductions"]]
    assert r.stdout.count("reducing lr") == len(falls)  # said once, by the first process
    assert [int(l.split(",")[0]) for l in (out / "metrics.csv").read_text().splitlines()[1:] if l.split(",")[6]] == [2, 4, 6]
