"The README's numbers are the run files' numbers: its verdicts and cost tables are what the study registry computes from the committed runs."
from pathlib import Path
from resnet_study.analysis import finished_runs
from resnet_study.study import refresh_readme, claims_markdown, published_answers

ROOT = Path(__file__).resolve().parents[1]

def test_readme_tables_are_computed_from_the_runs():
    stale = refresh_readme(ROOT, check=True)
    assert not stale, f"README's generated {', '.join(stale)} tables are stale: `resnet-study readme` rewrites them"

def test_committed_report_is_computed_from_the_runs():
    "runs/cpu-3200/report/ (what `resnet-study report` wrote) says the same verdicts as the committed runs"
    got = (ROOT / "runs" / "cpu-3200" / "report" / "claims.md").read_text().strip()
    want = claims_markdown(finished_runs(ROOT / "runs" / "cpu-3200"), published_answers(ROOT / "runs" / "reference-weights"))
    assert got == want.strip(), "runs/cpu-3200/report is stale: resnet-study report runs/cpu-3200/* --out runs/cpu-3200/report"
