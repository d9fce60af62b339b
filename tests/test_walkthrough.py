"""Run All on every chapter and on the library's notebooks, as JupyterLab with nbdev's save hook would: it finishes, and
the saved notebook is the committed one. The chapters and the library notebooks a reader opens from them (the knobs, the
lesions, the exercises) run every time; the other library notebooks, four minutes more, run with `pytest -m library`."""
import filecmp, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbformat
from notebooks import LEFT_OUT, LIBRARY, WALKTHROUGH, merge_streams, run_as_jupyter, save_as_jupyter

READER_OPENS = ["08a_knobs", "08b_lesions", "08c_exercises"]  # the chapters send a reader to these
NOTEBOOKS = WALKTHROUGH + READER_OPENS + [pytest.param(n, marks=pytest.mark.library) for n in LIBRARY if n not in READER_OPENS]

@pytest.mark.parametrize("name", NOTEBOOKS)
def test_run_all_leaves_the_notebook_as_committed(name, tmp_path):
    src = ROOT / "nbs" / f"{name}.ipynb"
    dest = tmp_path / src.name
    run_as_jupyter(src, dest, timeout=600)  # each cell within 10 minutes; off, the chapters' training switch trains nothing
    assert filecmp.cmp(src, dest, shallow=False), (
        f"Run All and save changes {src.name}: refresh its outputs with `python tools/notebooks.py {src.relative_to(ROOT)}`")

@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "nbs").glob("*.ipynb")))
def test_a_save_without_a_change_leaves_the_notebook_as_committed(name, tmp_path):
    "Opening any notebook in JupyterLab and saving it (nbdev's hook on, as pyproject.toml sets it) changes no byte"
    src = ROOT / "nbs" / f"{name}.ipynb"
    save_as_jupyter(nbformat.read(src, as_version=4), src, tmp_path / src.name)
    assert filecmp.cmp(src, tmp_path / src.name, shallow=False), f"a save in JupyterLab changes {src.name}: nbdev-clean it"

def test_every_notebook_is_run_or_said_why_not():
    "A new notebook joins WALKTHROUGH or LIBRARY, or tools/notebooks.py's LEFT_OUT with the reason"
    assert {p.stem for p in (ROOT / "nbs").glob("*.ipynb")} == set(WALKTHROUGH) | set(LIBRARY) | set(LEFT_OUT)
    assert set(READER_OPENS) <= set(LIBRARY)

def test_streams_are_joined_as_jupyterlab_joins_them():
    out = lambda name, text: dict(output_type="stream", name=name, text=text)
    got = merge_streams([out("stdout", "a\n"), out("stdout", "b\n"), out("stderr", "w\n"), out("stdout", "10%\r"),
                         out("stdout", "100%\n")])
    assert got == [out("stdout", "a\nb\n"), out("stderr", "w\n"), out("stdout", "100%\n")]
