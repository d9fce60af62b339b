"The front page's numbers are the run files' numbers: its verdicts are what the study registry computes from the committed runs, and README.md is made from the front page (nbs/index.ipynb)."
from pathlib import Path
from resnet_study.analysis import finished_runs
from resnet_study.report import refresh_readme, claims_markdown, published_answers

ROOT = Path(__file__).resolve().parents[1]

def test_readme_tables_are_computed_from_the_runs():
    stale = refresh_readme(ROOT, check=True)
    assert not stale, f"stale: {', '.join(stale)}; `resnet-study readme` rewrites the front page's verdicts and README.md"

def test_committed_report_is_computed_from_the_runs():
    "runs/cpu-3200/report/ (what `resnet-study report` wrote) says the same verdicts as the committed runs"
    got = (ROOT / "runs" / "cpu-3200" / "report" / "claims.md").read_text().strip()
    want = claims_markdown(finished_runs(ROOT / "runs" / "cpu-3200"), published_answers(ROOT / "runs" / "reference-weights"))
    assert got == want.strip(), "runs/cpu-3200/report is stale: resnet-study report runs/cpu-3200/* --out runs/cpu-3200/report"


def test_the_front_page_is_short_and_its_first_commands_are_the_contract():
    "README.md, made from nbs/index.ipynb, stays short, and its first code block is the set-up, main job and tests CI runs"
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 8 * 1024, f"README.md is {len(readme.encode()):,} bytes: move detail to the docs pages"
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [l.split("  #")[0].strip() for l in block.splitlines() if l.strip() and not l.startswith("#")]
    assert commands[0] == 'pip install -e ".[dev]"' and commands[2] == "nbdev-test && pytest", commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[0] in ci and commands[2] in ci
