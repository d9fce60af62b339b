"""Run notebooks as a student's JupyterLab does (Run All, then save through nbdev's save hook, as the project configures it).

    python tools/notebooks.py nbs/10_degradation.ipynb ...   # refresh the committed outputs, in place
    python tools/notebooks.py                                # every notebook of WALKTHROUGH and LIBRARY

The saved chapters and library notebooks are exactly what this writes, so that reading the walkthrough in JupyterLab (with
`nbdev-install-hooks`, which cleans every notebook on save where pyproject.toml's `jupyter_hooks` is on) leaves
`git status` clean; tests/test_walkthrough.py checks it. The save is JupyterLab's own: its output area joins the pieces
of a stream the kernel sent one after another (`merge_streams`), it keeps no widget state (the widgets extension's
default), then the hook it calls (`nbdev.clean.clean_jupyter`, which does nothing if the setting is off) and
`nbformat.write`.
"""
from __future__ import annotations
import asyncio, copy, re, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbdev.clean import clean_jupyter

ROOT = Path(__file__).resolve().parents[1]
# every chapter: its saved outputs are the same on every Run All
WALKTHROUGH = ["index", "10_degradation", "11_residual_block", "12_shortcuts", "13_depth", "13a_warm_up",
               "14_layer_responses", "15_imagenet_recipe", "16_statistics", "17_after", "18_solutions"]
# the library's notebooks whose saved outputs are not the same on every Run All, with why: none at present
LEFT_OUT: dict[str, str] = {}
LIBRARY = ["00_models", "00a_files", "00b_preact", "01_data", "01a_sources", "01b_datasets", "01c_imagenet_data",
           "02_training", "02a_runs", "02b_recipes", "02c_distributed", "02d_schedules", "02e_callbacks",
           "02f_runfolder", "03_cli", "04_analysis", "05_signals", "06_reference_weights", "07_judges", "07_study",
           "07a_walkthrough", "07b_report", "07c_runner", "08_pictures", "08a_knobs", "08b_lesions", "08c_exercises",
           "09_testing", "09a_performance"]

def _overwrite(text: str) -> str:
    "What JupyterLab shows of a stream's text: a backspace removes the character before it, a carriage return rewrites its line"
    while re.search(r"[^\n]\x08", text): text = re.sub(r"[^\n]\x08", "", text, count=1)
    text = re.sub(r"\r+\n", "\n", text)
    lines = []
    for line in text.split("\n"):
        shown = ""
        for part in line.split("\r"): shown = part + shown[len(part):]  # the new text over the old, the rest of the old stays
        lines.append(shown)
    return "\n".join(lines)

def merge_streams(outputs: list) -> list:
    "`outputs` as JupyterLab keeps them: consecutive streams of one name (stdout, stderr) joined, overwrites applied"
    merged = []
    for o in outputs:
        last = merged[-1] if merged else {}
        if o.get("output_type") == "stream" and last.get("output_type") == "stream" and last["name"] == o["name"]:
            last["text"] = last["text"] + o["text"]
        else: merged.append(o)
    for o in merged:
        if o.get("output_type") == "stream": o["text"] = _overwrite(o["text"])
    return merged

class Stalled(RuntimeError): "A Run All that stopped moving: no cell finished and no output came for a while"

async def _watched(client, quiet: float):
    "`client.async_execute()`, cancelled (its kernel shut down) if no cell finishes and no output comes for `quiet` seconds"
    last = [time.monotonic()]
    seen = client.on_cell_executed
    def moved(**kw): last[0] = time.monotonic(); return seen(**kw) if seen else None
    client.on_cell_executed = moved
    output = client.output
    def out(*a, **kw): last[0] = time.monotonic(); return output(*a, **kw)
    client.output = out
    task = asyncio.ensure_future(client.async_execute())
    while not task.done():
        await asyncio.wait([task], timeout=5)
        stalled = client.kc is not None and time.monotonic() - last[0] > quiet
        if not task.done() and stalled:
            task.cancel()  # nbclient shuts its kernel down on the way out, and says so as a dead kernel
            try: await task
            except BaseException: pass
            raise Stalled(f"no cell finished for {quiet} s")
    return task.result()

def run_as_jupyter(path, dest=None, timeout: int = 600, quiet: float = 300) -> float:
    "Execute every cell of `path` in its own folder (as Run All), save to `dest` (default: in place) as JupyterLab does; seconds"
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    for attempt in (1, 2):
        ran = copy.deepcopy(nb)
        client = NotebookClient(ran, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
        # now and then the client waits forever on a kernel that has gone idle (seen with ipykernel 7, as in nbclient's
        # issue 312), past every timeout of its own: a Run All that goes quiet for `quiet` seconds is started again, once
        try:
            asyncio.run(_watched(client, quiet))
            break
        except Stalled:
            if attempt == 2: raise
            print(f"{path.name}: Run All went quiet for {quiet} s (no cell finished, no output); started again", file=sys.stderr)
    took = time.perf_counter() - start
    save_as_jupyter(ran, path, dest)
    return took

def save_as_jupyter(nb, path, dest=None):
    "Save the notebook `nb`, opened from `path`, to `dest` (default: `path`) as JupyterLab with nbdev's save hook does"
    nb.metadata.pop("widgets", None)  # JupyterLab saves no widget state unless asked to (the widgets extension's `saveState`)
    for cell in nb.cells:  # the kernel sends a stream in pieces as it flushes; JupyterLab's output area joins them
        if cell.get("outputs"): cell.outputs = merge_streams(cell.outputs)
    model = dict(type="notebook", content=nb)
    clean_jupyter(path=str(path), model=model)  # the pre-save hook `nbdev-install-hooks` installs, with this project's settings
    nbformat.write(model["content"], Path(dest or path))

if __name__ == "__main__":
    for p in sys.argv[1:] or [ROOT / "nbs" / f"{n}.ipynb" for n in WALKTHROUGH + LIBRARY]:
        print(f"{p}: {run_as_jupyter(p):.0f} s", flush=True)
