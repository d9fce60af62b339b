"""Predictions come before the runs they judge: no row of a budget folder's PREDICTIONS.md changed after the first of its
runs started (the file's git log against the start the runs record in sittings.jsonl, else config.json)."""
import json, subprocess
from datetime import datetime, timezone
from pathlib import Path
import pytest
from resnet_study.analysis import run_group
from resnet_study.runfolder import read_sittings
from resnet_study.judges import PREDICTIONS, parse_predictions, read_predictions

ROOT = Path(__file__).resolve().parent.parent


def git(root, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def run_start(d: Path) -> datetime | None:
    "When a run's first sitting started (sittings.jsonl), else config.json's `started` (written in UTC here), else None"
    if s := read_sittings(d): return datetime.fromisoformat(s[0]["started"])
    started = json.loads((d / "config.json").read_text()).get("started")
    return datetime.strptime(started, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc) if started else None


def late_changes(root: Path, f: Path) -> list[str]:
    "Each change to the predictions in `f` made after the first run they judge started, in words ([]: none)"
    rel = f.relative_to(root).as_posix()
    nets = {n for p in read_predictions(f.parent) for n in (p.lower, p.higher)}
    starts = [run_start(d) for d in f.parent.iterdir() if (d / "config.json").exists() and run_group(d) in nets]
    starts = [s for s in starts if s]
    if not starts: return []
    first = min(starts)
    log = git(root, "log", "--format=%H %ct", "--", rel).stdout.split()  # newest first
    commits = [(h, datetime.fromtimestamp(int(t), timezone.utc)) for h, t in zip(log[::2], log[1::2])]
    before = [h for h, t in commits if t <= first]
    if not before: return [f"{rel} was first committed after its first run started ({first:%Y-%m-%d %H:%M} UTC)"]
    fixed = parse_predictions(git(root, "show", f"{before[0]}:{rel}").stdout)
    late = [f"{rel} changed its predictions in {h[:7]} ({t:%Y-%m-%d %H:%M} UTC), after its first run started "
            f"({first:%Y-%m-%d %H:%M} UTC)" for h, t in commits
            if t > first and parse_predictions(git(root, "show", f"{h}:{rel}").stdout) != fixed]
    if read_predictions(f.parent) != fixed: late.append(f"{rel}: the working copy changed its predictions")
    return late


def _is_full_checkout(root) -> bool:
    inside = git(root, "rev-parse", "--is-inside-work-tree").stdout.strip() == "true"
    return inside and git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "false"


@pytest.mark.parametrize("f", sorted(ROOT.glob(f"runs/*/{PREDICTIONS}")), ids=lambda f: f.parent.name)
def test_no_prediction_changed_after_its_first_run_started(f):
    if not _is_full_checkout(ROOT): pytest.skip("needs the repository's whole git history")
    assert late_changes(ROOT, f) == []


ROW = "| C4 | resnet56 | resnet20 | test_error | {} | every ResNet-56 seed at least {} points below |\n"

def _commit(repo, when, msg):
    env = dict(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t", PATH="/usr/bin:/bin")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", msg], cwd=repo, check=True, env=env)


def test_the_check_fails_on_a_prediction_changed_after_its_first_run(tmp_path):
    repo, folder = tmp_path, tmp_path / "runs" / "cpu-100"
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    folder.mkdir(parents=True)
    (folder / PREDICTIONS).write_text("# Predictions\n\n" + ROW.format(0.5, 0.5))
    _commit(repo, "2026-01-01T10:00:00+00:00", "predictions")
    run = folder / "resnet56-s0"; run.mkdir()
    (run / "config.json").write_text(json.dumps(dict(config=dict(arch="resnet56", shortcut="A", budget=dict(iters=100)))))
    (run / "sittings.jsonl").write_text(json.dumps(dict(sitting=1, started="2026-01-01T11:00:00+00:00")) + "\n")
    (folder / PREDICTIONS).write_text("# Predictions, with more prose\n\n" + ROW.format(0.5, 0.5))
    _commit(repo, "2026-01-01T12:00:00+00:00", "prose only: allowed")
    assert late_changes(repo, folder / PREDICTIONS) == []
    (folder / PREDICTIONS).write_text("# Predictions\n\n" + ROW.format(0.2, 0.2))
    _commit(repo, "2026-01-01T13:00:00+00:00", "a smaller margin once the runs were seen")
    late = late_changes(repo, folder / PREDICTIONS)
    assert "changed its predictions in" in late[0] and "after its first run started (2026-01-01 11:00 UTC)" in late[0]
    assert late[1].endswith("the working copy changed its predictions")  # the file as it stands carries the change too
