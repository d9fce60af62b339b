"Run All on every walkthrough chapter, as JupyterLab with nbdev's save hook would: it finishes, and the saved notebook is the committed one."
import filecmp, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from notebooks import WALKTHROUGH, run_as_jupyter

@pytest.mark.parametrize("name", WALKTHROUGH)
def test_run_all_leaves_the_notebook_as_committed(name, tmp_path):
    src = ROOT / "nbs" / f"{name}.ipynb"
    dest = tmp_path / src.name
    run_as_jupyter(src, dest, timeout=600)  # each cell within 10 minutes; off, the chapters' training switch trains nothing
    assert filecmp.cmp(src, dest, shallow=False), (
        f"Run All and save changes {src.name}: refresh its outputs with `python tools/notebooks.py {src.relative_to(ROOT)}`")
