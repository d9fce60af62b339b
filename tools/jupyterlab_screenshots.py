"""Drive JupyterLab in headless Chromium: open the knobs notebooks and the chapters, run them, move each widget, save screenshots.

Needs the project's environment (jupyterlab, ipywidgets) for the server, Python's `playwright` package for the driver
(`pip install playwright`; no browser download: it drives Debian's `chromium`, `apt-get install chromium`), and, for
the lesion knob, the published weights and $RESNET_STUDY_DATA. The notebooks are run from copies (nbs/_shot_*.ipynb,
removed at the end), so nothing of yours is saved over; `#| slow` cells are skipped, as nbdev-test does.

    python tools/jupyterlab_screenshots.py --out /tmp/jupyterlab-screenshots

Writes one png per notebook (after running), one per widget move, and `timings.csv`: each move, the seconds the
redraw took in the kernel (the knob prints it) and the seconds until the browser showed it.
"""
from __future__ import annotations
import argparse, csv, os, re, secrets, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# notebook -> for each knob (in order of appearance), the moves: (control's description, new value)
MOVES = {
    "08a_knobs.ipynb": [
        [("depth", 110), ("residual", False), ("bn", False), ("bn", True), ("zero_gamma", True), ("residual", True),
         ("zero_gamma", False), ("bs", 8), ("depth", 1202)],
        [("budget", "cpu-400"), ("nets", "plain20 plain32 plain44 plain56"), ("budget", "cpu-3200"), ("seeds", "0")],
    ],
    "08b_lesions.ipynb": [
        [("remove", "layer2.0"), ("remove", "layer1.1 layer2.1 layer3.1"), ("depth", 56), ("remove", "layer2.3")],
    ],
    "13_depth.ipynb": [
        [("budget", "cpu-3200"), ("budget", "cpu-12800"), ("seeds", "0"),
         ("nets", "resnet20 resnet32 resnet44 resnet56")],
    ],
    "14_layer_responses.ipynb": [
        [("depth", 56), ("remove", "layer2.0"), ("depth", 20), ("remove", "layer2.1"), ("n_test", 1000)],
    ],
    # the other chapters have no knobs: after Run All, each figure is shot as JupyterLab shows it (readable at 100%?)
    **{f"{n}.ipynb": [] for n in ("10_degradation", "11_residual_block", "12_shortcuts", "13a_warm_up",
                                  "15_imagenet_recipe", "16_statistics", "17_after", "01_data", "02_training",
                                  "03_cli", "06_reference_weights", "07c_runner")},
}

def free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def start_lab(port: int, token: str, log, python: str = sys.executable) -> subprocess.Popen:
    "JupyterLab on `port`, serving nbs/, its app exposed to the page so that commands can be run from the script"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [python, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.token={token}",
           f"--ServerApp.root_dir={ROOT / 'nbs'}", "--LabApp.expose_app_in_browser=True", "--ServerApp.allow_root=True",
           # a workspace of its own: the user's stored one reopens the notebooks last open, and the lab then saves over them
           f"--LabApp.workspaces_dir={tempfile.mkdtemp(prefix='jupyterlab-workspaces-')}"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2); return proc
        except OSError: time.sleep(1)
    proc.terminate(); raise RuntimeError(f"JupyterLab did not start on port {port}: see its log")

RUN_CELLS = """async () => {
  const app = window.jupyterapp, nb = app.shell.currentWidget;
  await nb.sessionContext.ready;
  const cells = nb.content.widgets;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    const src = c.model.sharedModel.getSource();
    if (c.model.type !== 'code' || src.startsWith('#| slow') || src.includes('nbdev_export')) continue;  // no export from the copy
    nb.content.activeCellIndex = i;
    await app.commands.execute('notebook:run-cell');
    const outs = c.model.outputs.toJSON();
    if (outs.some(o => o.output_type === 'error')) return `error in cell ${i}: ` + outs.filter(o => o.output_type === 'error')[0].evalue;
  }
  return 'ok';
}"""

def control(knob, name: str):
    "The input element of the control named `name` in the interact `knob`"
    box = knob.locator(f".widget-inline-hbox:has(> label.widget-label:text-is('{name}')), "
                       f".widget-checkbox:has(span:text-is('{name}'))").first
    return box.locator("select, input").first

def shown(knob):
    "The output area of the cell that shows `knob`: its controls, and below them the views a move redraws"
    return knob.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' jp-Cell-outputArea ')][1]")

def output_state(knob) -> tuple:
    "What the knob said under its controls (a move's seconds, or an error), and the images its cell shows"
    said = knob.locator(".widget-output").first.inner_text()
    return said, tuple(i.get_attribute("src")[-64:] for i in shown(knob).locator("img").all())

def move(page, knob, name, value, timeout_s: float) -> tuple[float | None, float]:
    "Set control `name` to `value`, wait for the redraw; (seconds the knob printed, seconds until the page showed it)"
    before = output_state(knob)
    el, t0 = control(knob, name), time.perf_counter()
    tag, kind = el.evaluate("e => e.tagName"), el.get_attribute("type")
    if tag == "SELECT": el.select_option(label=str(value))
    elif kind == "checkbox":
        if el.is_checked() != bool(value): el.click()
    else: el.fill(str(value)); el.press("Enter")
    while time.perf_counter() - t0 < timeout_s:
        now = output_state(knob)
        # the seconds are said after the views are redrawn: a new line under the controls, and the move is done
        if now[0] != before[0] and ("redrawn in" in now[0] or "Error" in now[0]): break
        time.sleep(0.2)
    else: return None, time.perf_counter() - t0
    m = re.search(r"redrawn in ([\d.]+) s", now[0])
    return (float(m.group(1)) if m else None), time.perf_counter() - t0

def shoot(nb_name: str, moves: list, out: Path, port: int, token: str, browser, timeout_s: float) -> list[dict]:
    copy = ROOT / "nbs" / f"_shot_{nb_name}"
    shutil.copy(ROOT / "nbs" / nb_name, copy)
    rows, stem = [], nb_name.removesuffix(".ipynb")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/lab/tree/{copy.name}?token={token}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                               "window.jupyterapp.shell.currentWidget.sessionContext", timeout=120_000)
        t0 = time.perf_counter()
        status = page.evaluate(RUN_CELLS)
        print(f"{nb_name}: ran in {time.perf_counter() - t0:.0f} s: {status}", flush=True)
        no_news = page.get_by_role("button", name="No", exact=True)
        if no_news.count(): no_news.first.click()  # JupyterLab's question about news, over the notebook
        page.screenshot(path=out / f"{stem}-end.png")
        figures = page.locator(".jp-OutputArea-output img")
        for i in range(figures.count()):
            figures.nth(i).scroll_into_view_if_needed(); figures.nth(i).screenshot(path=out / f"{stem}-figure{i}.png")
        knobs = page.locator(".widget-interact")
        for k, knob_moves in enumerate(moves):
            if k >= knobs.count(): print(f"{nb_name}: knob {k} not shown (no weights or data?)"); break
            knob = knobs.nth(k)
            knob.scroll_into_view_if_needed(); shown(knob).screenshot(path=out / f"{stem}-knob{k}-0-start.png")
            for j, (name, value) in enumerate(knob_moves, 1):
                kernel_s, page_s = move(page, knob, name, value, timeout_s)
                knob.scroll_into_view_if_needed()
                shot = out / f"{stem}-knob{k}-{j}-{name}-{str(value).replace(' ', '_')}.png"
                shown(knob).screenshot(path=shot)
                rows.append(dict(notebook=nb_name, knob=k, move=f"{name}={value}", kernel_seconds=kernel_s,
                                 page_seconds=round(page_s, 2), screenshot=shot.name))
                print(rows[-1], flush=True)
        page.close()
    finally:
        copy.unlink(missing_ok=True)
        shutil.rmtree(ROOT / "nbs" / ".ipynb_checkpoints" / f"_shot_{stem}-checkpoint.ipynb", ignore_errors=True)
        (ROOT / "nbs" / ".ipynb_checkpoints" / f"_shot_{stem}-checkpoint.ipynb").unlink(missing_ok=True)
    return rows

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("/tmp/jupyterlab-screenshots"), help="folder for the screenshots (outside the repository)")
    p.add_argument("--notebooks", nargs="+", default=list(MOVES), help=f"notebooks in nbs/ with knobs (default: {' '.join(MOVES)})")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium", help="the browser (Debian's chromium)")
    p.add_argument("--python", default=sys.executable, help="the Python whose JupyterLab serves (default: this one; "
                   "give the project's if playwright lives in another environment)")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for one redraw")
    a = p.parse_args(argv)
    if unknown := [n for n in a.notebooks if n not in MOVES]: p.error(f"no moves defined for {unknown}; known: {list(MOVES)}")
    try: from playwright.sync_api import sync_playwright
    except ImportError: sys.exit("needs Python's playwright package: pip install playwright (the browser is Debian's chromium)")
    if not Path(a.chromium).exists(): sys.exit(f"no browser at {a.chromium}: apt-get install chromium, or give --chromium")
    a.out.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    with open(a.out / "jupyterlab.log", "w") as log:
        lab = start_lab(port, token, log, a.python)
        rows = []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=a.chromium, args=CHROMIUM_FLAGS)
                for nb in a.notebooks: rows += shoot(nb, MOVES[nb], a.out, port, token, browser, a.timeout)
                browser.close()
        finally:
            lab.terminate(); lab.wait(30)
    with open(a.out / "timings.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["notebook", "knob", "move", "kernel_seconds", "page_seconds", "screenshot"])
        w.writeheader(); w.writerows(rows)
    print(f"{len(rows)} moves; screenshots and timings.csv in {a.out}")

if __name__ == "__main__": main()
