"""Run notebooks as a student's JupyterLab does (Run All, then save through nbdev's save hook, as the project configures it).

    python tools/notebooks.py nbs/10_degradation.ipynb ...   # refresh the committed outputs, in place

The walkthrough's saved notebooks are exactly what this writes, so that reading the walkthrough in JupyterLab (with
`nbdev-install-hooks`, which cleans every notebook on save where pyproject.toml's `jupyter_hooks` is on) leaves
`git status` clean; tests/test_walkthrough.py checks it. The save is JupyterLab's own: the hook it calls
(`nbdev.clean.clean_jupyter`, which does nothing if the setting is off), then `nbformat.write`.
"""
from __future__ import annotations
import sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbdev.clean import clean_jupyter

ROOT = Path(__file__).resolve().parents[1]
# the chapters whose saved outputs are the same on every Run All (15 prints measured speeds, 16 times its streams)
WALKTHROUGH = ["index", "10_degradation", "11_residual_block", "12_shortcuts", "13_depth", "14_layer_responses",
               "17_after", "18_solutions"]

def run_as_jupyter(path, dest=None, timeout: int = 600) -> float:
    "Execute every cell of `path` in its own folder (as Run All), save to `dest` (default: in place) as JupyterLab does; seconds"
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    took = time.perf_counter() - start
    dest = Path(dest or path)
    model = dict(type="notebook", content=nb)
    clean_jupyter(path=str(path), model=model)  # the pre-save hook `nbdev-install-hooks` installs, with this project's settings
    nbformat.write(model["content"], dest)
    return took

if __name__ == "__main__":
    for p in sys.argv[1:] or [ROOT / "nbs" / f"{n}.ipynb" for n in WALKTHROUGH]:
        print(f"{p}: {run_as_jupyter(p):.0f} s", flush=True)
