"""No silently wrong result: each case here once ended with exit code 0 and a wrong number. A seed counts once, a recipe
is never mixed into another's mean, stale pixels are never served, a run of another recipe is never reused, a 16-bit
image is read whole, a resume refuses options it cannot honour, and a run that blew up is recorded as diverged."""
import contextlib, io, json, os, shutil, struct, time, zlib
from pathlib import Path
import numpy as np
import pytest, torch
from resnet_study.cli import main
from resnet_study.sources import load_cifar10
from resnet_study.testing import synthetic_cifar, write_image_folder

torch.set_num_threads(1)


def call(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()


def train(data, out, *extra):
    return call("train", "--arch", "resnet8", "--data", data, "--out", out, "--bs", "16", "--device", "cpu", "--quiet",
                "--iters", "6", "--eval-every", "6", *extra)


@pytest.fixture(scope="module")
def two_seeds(tiny_data, tmp_path_factory):
    "Two finished 6-iteration runs of resnet8, seeds 0 and 1: the report's inputs"
    root = tmp_path_factory.mktemp("seeds")
    for s in (0, 1):
        rc, _, err = train(tiny_data, root / f"resnet8-s{s}", "--seed", s)
        assert rc == 0, err
    return root


def table6_n(report: str, net: str) -> int:
    "The n column of `net`'s row in a report's Table 6"
    row = next(l for l in report.splitlines() if l.startswith(f"| {net} |"))
    return int(row.split("|")[6])


# 1. the same folder named three times is one seed, not three
def test_a_folder_given_three_times_counts_once(two_seeds, tmp_path):
    s0 = two_seeds / "resnet8-s0"
    rc, out, err = call("report", s0, s0, s0, "--out", tmp_path / "r")
    assert rc == 0, err
    assert table6_n(out, "resnet8") == 1


def test_a_copy_of_a_run_is_named_not_counted(two_seeds, tmp_path):
    twin = Path(shutil.copytree(two_seeds / "resnet8-s0", tmp_path / "twin"))
    rc, _, err = call("report", two_seeds / "resnet8-s0", twin, "--out", tmp_path / "r")
    assert rc == 2 and "are the same run twice (resnet8, seed 0" in err and err.count("\n") == 1


# 2. runs that differ in more than their seed are never one mean
def test_runs_of_another_recipe_are_not_seeds_of_one_net(two_seeds, tiny_data, tmp_path):
    rc, _, err = train(tiny_data, tmp_path / "hot", "--seed", 2, "--lr", "0.5")
    assert rc == 0, err
    rc, out, err = call("report", two_seeds / "resnet8-s0", tmp_path / "hot", "--out", tmp_path / "r")
    assert rc == 2 and err.count("\n") == 1
    assert "differ in more than their seed (lr 0.1 vs 0.5)" in err or "differ in more than their seed (lr 0.5 vs 0.1)" in err


# 3. a file rewritten in place changes the cache's key: the next load decodes again
@pytest.mark.parametrize("how", ["rewritten", "emptied"])
def test_the_data_cache_never_serves_stale_pixels(tmp_path, how):
    root = write_image_folder(tmp_path / "data", synthetic_cifar(20, 10, balanced=True))
    first = load_cifar10(root, cache_dir=tmp_path / "cache")
    f = sorted((root / "train").rglob("*.png"))[0]
    time.sleep(0.01)
    if how == "rewritten":  # the same name, other pixels, in place: the folder's own time does not change
        from resnet_study.testing import write_image
        write_image(f, torch.full((3, 32, 32), 7, dtype=torch.uint8))
        again = load_cifar10(root, cache_dir=tmp_path / "cache")
        assert not torch.equal(again.x_train, first.x_train) and (again.x_train == 7).all(dim=(1, 2, 3)).any()
    else:
        f.write_bytes(b"")
        with pytest.raises(Exception, match=f.name): load_cifar10(root, cache_dir=tmp_path / "cache")


# 4. a study over folders of another budget refuses them, one line each, and exits non-zero
def test_study_never_reuses_a_run_of_another_recipe(tiny_data, tmp_path):
    args = ("study", "degradation", "--seeds", "0", "--out", tmp_path / "st", "--data", tiny_data, "--device", "cpu")
    rc, _, err = call(*args, "--iters", "4")
    assert rc == 0, err
    before = (tmp_path / "st" / "plain20-s0" / "summary.json").read_text()
    rc, out, err = call(*args, "--iters", "12")
    assert rc == 2 and "holds a run of another recipe (iters 4 vs 12)" in err
    assert "12 iterations" not in out and (tmp_path / "st" / "plain20-s0" / "summary.json").read_text() == before


# 5. a 16-bit PNG is scaled to 8 bits, not cut to its low byte
def _png16(arr: np.ndarray) -> bytes:
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def test_a_16_bit_png_is_read_whole(tmp_path):
    root = write_image_folder(tmp_path / "data", synthetic_cifar(20, 10, balanced=True))
    f = sorted((root / "train").rglob("*.png"))[0]
    pixels = (np.random.default_rng(0).random((32, 32, 3)) * 65535).astype(np.uint16)
    f.write_bytes(_png16(pixels))
    data = load_cifar10(root, cache=False)
    i = sorted(p.relative_to(root / "train").as_posix() for p in (root / "train").rglob("*.png")).index(f.relative_to(root / "train").as_posix())
    want = np.round(pixels / 257).astype(np.uint8).transpose(2, 0, 1)
    assert np.abs(data.x_train[i].numpy().astype(int) - want).max() <= 1


# 6. a resume refuses an option it cannot honour
@pytest.mark.parametrize("option", [("--iters", "60"), ("--arch", "resnet20"), ("--lr", "0.5"), ("--bs", "8"),
                                    ("--seed", "3"), ("--subset", "20"), ("--no-bf16",)])
def test_resume_refuses_options_it_cannot_honour(two_seeds, tmp_path, option):
    run = Path(shutil.copytree(two_seeds / "resnet8-s0", tmp_path / "run"))
    before = sorted((p.name, p.read_bytes()) for p in run.iterdir() if p.is_file())
    rc, _, err = call("train", "--resume", "--out", run, "--device", "cpu", "--quiet", *option)
    assert rc == 2 and f"{option[0]}: a resumed run keeps the options it started with" in err and err.count("\n") == 1
    assert sorted((p.name, p.read_bytes()) for p in run.iterdir() if p.is_file()) == before


# 7. a loss that blows up is a diverged run, named by the report, not a finished one at chance
def test_a_blown_up_loss_is_recorded_as_diverged(tiny_data, tmp_path):
    rc, _, err = train(tiny_data, tmp_path / "lr50", "--lr", "50")
    assert rc == 1 and "the run diverged" in err
    assert json.loads((tmp_path / "lr50" / "summary.json").read_text())["status"] == "diverged"
    rc, out, _ = call("report", tmp_path / "lr50", "--out", tmp_path / "r")
    assert "0/1 runs finished (1 diverged: lr50)" in out


# --- errors that are one line, with nothing left half-written ------------------------------------------------------
def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_readme_of_a_folder_without_runs_is_refused(tmp_path):
    (tmp_path / "README.md").write_text("mine\n")
    rc, _, err = call("readme", "--root", tmp_path)
    assert rc == 2 and "has no finished runs under runs/cpu-*" in one_line(err)
    assert (tmp_path / "README.md").read_text() == "mine\n"


def test_out_naming_a_file_is_refused(tiny_data, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    rc, _, err = train(tiny_data, tmp_path / "notes.txt")
    assert rc == 2 and "is a file, not a run folder" in one_line(err) and (tmp_path / "notes.txt").read_text() == "mine"


def test_an_absurd_iteration_count_is_refused_before_anything_is_written(tiny_data, tmp_path):
    rc, _, err = call("train", "--arch", "resnet8", "--data", tiny_data, "--out", tmp_path / "r", "--iters", "99999999999999999999")
    assert rc == 2 and "--iters" in one_line(err) and not (tmp_path / "r").exists()


def test_devices_naming_nothing_is_refused(tmp_path):
    rc, _, err = call("study", "--devices", "", "--out", tmp_path / "st")
    assert rc == 2 and "--devices names no device" in one_line(err)


def test_a_killed_saves_temporary_files_are_cleaned_on_the_next_start(two_seeds, tmp_path):
    run = Path(shutil.copytree(two_seeds / "resnet8-s0", tmp_path / "run"))
    (run / "..checkpoint.pth.new.abc123.tmp").write_bytes(b"x" * 1000)
    (run / ".checkpoint.pth.new").write_bytes(b"x" * 1000)
    rc, _, err = call("train", "--resume", "--out", run, "--device", "cpu", "--quiet")
    assert rc == 0, err
    assert not list(run.glob(".*.tmp")) and not (run / ".checkpoint.pth.new").exists()


def _cli(*args):
    import subprocess, sys
    return subprocess.Popen([sys.executable, "-m", "resnet_study.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for(path: Path, seconds: float = 120):
    t0 = time.time()
    while not path.exists() and time.time() - t0 < seconds: time.sleep(0.2)
    assert path.exists(), f"{path} did not appear within {seconds} s"


def test_sigint_stops_a_run_in_one_line_after_a_checkpoint(tiny_data, tmp_path):
    import signal
    p = _cli("train", "--arch", "resnet8", "--data", tiny_data, "--out", tmp_path / "r", "--bs", "16", "--iters", "100000",
             "--device", "cpu", "--quiet")
    _wait_for(tmp_path / "r" / "sittings.jsonl")
    time.sleep(1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "stopped by SIGINT at iteration" in one_line(err)
    assert json.loads((tmp_path / "r" / "sittings.jsonl").read_text().splitlines()[-1])["ended"] == "stopped by SIGINT"


def test_sigterm_to_a_study_stops_its_workers_after_their_checkpoints(tiny_data, tmp_path):
    import signal, subprocess
    p = _cli("study", "degradation", "--seeds", "0", "--iters", "100000", "--out", tmp_path / "st", "--data", tiny_data,
             "--devices", "cpu", "--per-device", "2")
    for name in ("plain20-s0", "plain56-s0"): _wait_for(tmp_path / "st" / name / "sittings.jsonl", 180)
    time.sleep(1)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=180)
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "st")], capture_output=True, text=True).stdout.split()
    assert left == [], f"workers left running: {left}"
    for name in ("plain20-s0", "plain56-s0"):
        last = json.loads((tmp_path / "st" / name / "sittings.jsonl").read_text().splitlines()[-1])
        assert last["ended"] == "stopped by SIGTERM" and (tmp_path / "st" / name / "checkpoint.pth").exists()


# --- damaged or lost run files: rebuilt where they can be, named where they cannot --------------------------------
def test_study_writes_a_damaged_summary_again_from_the_checkpoint(tiny_data, tmp_path):
    st = tmp_path / "st"
    args = ("study", "residual", "--seeds", "0", "--iters", "2", "--out", st, "--data", tiny_data, "--no-report")
    rc, _, err = call(*args)
    assert rc == 0, err
    s = st / "resnet20-s0" / "summary.json"
    good = json.loads(s.read_text())
    s.write_text('{"arch": "resnet20", "test_err')
    rc, out, err = call(*args)
    assert rc == 0, err
    assert f"{s} is damaged: not valid JSON" in out and "kept as summary.damaged.json" in out
    again = json.loads(s.read_text())
    assert {k: again[k] for k in ("iterations", "train_error", "test_error")} == {k: good[k] for k in ("iterations", "train_error", "test_error")}
    assert (s.parent / "summary.damaged.json").exists()


def test_a_value_in_summary_json_that_is_not_a_number_names_the_file(two_seeds, tmp_path):
    run = Path(shutil.copytree(two_seeds / "resnet8-s0", tmp_path / "resnet8-s0"))
    s = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**s, "test_error": "abc"}))
    rc, _, err = call("report", run, two_seeds / "resnet8-s1", "--out", tmp_path / "r")
    assert rc == 2 and f"{run / 'summary.json'} is damaged: test_error is 'abc', not a number" in one_line(err)


def test_resuming_a_run_stopped_before_its_first_checkpoint_says_so(two_seeds, tmp_path):
    "No checkpoint, and the data's path not kept: said in one line, with the command that trains it again, no data read"
    run = Path(shutil.copytree(two_seeds / "resnet8-s0", tmp_path / "run"))
    for p in run.iterdir():
        if p.name not in ("config.json", "metrics.csv", "sittings.jsonl"): p.unlink()
    before = sorted(p.name for p in run.iterdir())
    rc, _, err = call("train", "--resume", "--out", run, "--device", "cpu", "--quiet")
    assert rc == 2 and "holds no checkpoint to resume from: the run stopped before its first one" in one_line(err)
    assert "Nothing was changed" in err and sorted(p.name for p in run.iterdir()) == before


def test_a_full_disk_is_one_line_and_leaves_no_half_written_file(tiny_data, tmp_path, monkeypatch):
    def full_disk(obj, f):  # what torch.save raised when a checkpoint filled a 1 MB tmpfs
        f.write(b"x" * 100)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    monkeypatch.setattr(torch, "save", full_disk)
    rc, _, err = train(tiny_data, tmp_path / "r")
    assert rc == 3 and "stopped part way" in one_line(err) and "free space on that disk" in err
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.startswith(".") and p.name != ".lock"]


def test_a_folder_that_may_not_be_written_is_one_line(tiny_data, tmp_path, monkeypatch):
    import errno
    real_mkdir = Path.mkdir
    def read_only(self, *a, **k):  # as a read-only disk answers (chmod would not stop root, who runs CI)
        if str(self).startswith(str(tmp_path / "ro")): raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *a, **k)
    monkeypatch.setattr(Path, "mkdir", read_only)
    rc, _, err = train(tiny_data, tmp_path / "ro" / "r")
    assert rc == 3 and f"Read-only file system: {tmp_path / 'ro' / 'r'}" in one_line(err) and "--out" in err
