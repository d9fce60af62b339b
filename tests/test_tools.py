"The session tools for the study's long runs: a queue that starts only what can end in time, and the landing of finished runs."
import json, os, subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_background_runs_skips_finished_runs_and_those_that_cannot_end_in_time(tmp_path):
    out = tmp_path / "cpu-12800"
    (out / "resnet20-s0").mkdir(parents=True)
    (out / "resnet20-s0" / "summary.json").write_text(json.dumps({"images_per_second": 1000.0}))
    env = {**os.environ, "RESNET_STUDY_DATA": str(tmp_path / "unused.tgz"), "UNTIL": "00:00"}  # midnight: already past
    r = subprocess.run(["bash", str(ROOT / "tools" / "background_runs.sh"), "999", str(out), "resnet20-s0", "resnet56-s0"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "resnet20-s0: finished already" in r.stdout
    # ResNet-56 priced from ResNet-20's rate scaled by depth (no committed runs at 999 iterations): 999 * 128 / (1000 * 20 / 56) s
    assert "resnet56-s0: not started, about 5 min would end after 00:00" in r.stdout
    assert not (out / "resnet56-s0").exists()

def test_background_runs_prices_from_committed_runs_with_a_margin(tmp_path):
    "No run finished on this machine yet: the committed runs' rates (other machines) price it, with a quarter more time"
    import re
    rates = [json.loads(f.read_text())["images_per_second"] * int(re.search(r"\d+", f.parent.name).group()) / 110
             for f in (ROOT / "runs" / "cpu-400").glob("*/summary.json")]
    minutes = round(1.25 * 400 * 128 / (sum(rates) / len(rates))) // 60
    env = {**os.environ, "RESNET_STUDY_DATA": str(tmp_path / "unused.tgz"), "UNTIL": "00:00"}
    r = subprocess.run(["bash", str(ROOT / "tools" / "background_runs.sh"), "400", str(tmp_path / "cpu-400"), "resnet110-s0"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and f"resnet110-s0: not started, about {minutes} min would end after 00:00" in r.stdout, r.stdout + r.stderr

def test_land_runs_refuses_an_unfinished_run_and_lands_nothing(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "resnet20-s0").mkdir(parents=True)
    (src / "resnet20-s0" / "summary.json").write_text("{}")
    (src / "resnet20-s1").mkdir()
    (src / "resnet20-s1" / "config.json").write_text("{}")
    r = subprocess.run(["bash", str(ROOT / "tools" / "land_runs.sh"), str(src), str(dest), "resnet20-s0", "resnet20-s1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "resnet20-s1: not finished (no summary.json); nothing landed" in r.stderr
    assert not dest.exists()

def test_land_runs_reads_relative_paths_from_the_callers_directory(tmp_path):
    (tmp_path / "src" / "resnet20-s0").mkdir(parents=True)
    r = subprocess.run(["bash", str(ROOT / "tools" / "land_runs.sh"), "src", "dest", "resnet20-s0"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    # the run is found where the caller meant (not under the repository), so the refusal names that directory
    assert r.returncode == 1 and f"{tmp_path}/src/resnet20-s0: not finished" in r.stderr
    assert not (tmp_path / "dest").exists() and not (ROOT / "dest").exists()
