"""Run notebooks as a student's JupyterLab does (Run All, then save), and clean them as nbdev's save hook does.

    python tools/notebooks.py nbs/10_degradation.ipynb ...   # refresh the committed outputs, in place

The walkthrough's saved notebooks are exactly what this writes, so that reading the walkthrough in JupyterLab (with
`nbdev-install-hooks`, which cleans every notebook on save) leaves `git status` clean; tests/test_walkthrough.py checks it.
"""
from __future__ import annotations
import subprocess, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ["index", "10_degradation", "11_residual_block", "12_shortcuts", "13_depth", "14_layer_responses"]

def run_as_jupyter(path, dest=None, timeout: int = 600) -> float:
    "Execute every cell of `path` in its own folder (as Run All), save to `dest` (default: in place), clean as nbdev's hook; seconds"
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    took = time.perf_counter() - start
    dest = Path(dest or path)
    nbformat.write(nb, dest)
    subprocess.run([str(Path(sys.executable).parent / "nbdev-clean"), "--fname", str(dest)], cwd=ROOT, check=True)
    return took

if __name__ == "__main__":
    for p in sys.argv[1:] or [ROOT / "nbs" / f"{n}.ipynb" for n in WALKTHROUGH]:
        print(f"{p}: {run_as_jupyter(p):.0f} s", flush=True)
