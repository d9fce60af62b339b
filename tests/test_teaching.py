"""The teaching modules end to end: pictures follow the model, knobs run without a kernel, lesions and the solution by
construction are exact, and the screenshot tool refuses bad input (the exercises' checkers: test_exercises.py). Nothing
here needs the published weights: those tests skip without them."""
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from resnet_study.models import cifar_model
from resnet_study.pictures import draw_network, network_layout
from resnet_study.knobs import knob, init_signals, plot_init_signals, explore_runs
from resnet_study.lesions import block_names, deepen, remove_blocks, starts_as_shallow
from resnet_study.preact import preact_cifar_model

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent


def blocks_drawn(model):
    ax = draw_network(model).axes[0]
    plt.close(ax.figure)
    return len([p for p in ax.patches if p.get_gid() == "block"])


def test_a_changed_net_draws_a_changed_picture():
    assert blocks_drawn(cifar_model(20)) == 9
    assert blocks_drawn(cifar_model(32)) == 15
    assert network_layout(cifar_model(20, shortcut="C")).shortcut.eq("projection").all()


def test_knob_without_a_kernel_is_the_function():
    assert knob(lambda x=0: x + 1, x=[3, 4]) == 4
    assert knob(lambda x=0, y=0: x * y, fixed=dict(y=5), x=(2, 10)) == 10


def test_init_signals_with_and_without_bn():
    assert len(init_signals(20, bs=8)) == 19
    fig = plot_init_signals(20, bn=False, zero_gamma=True, bs=8)
    plt.close(fig)


def test_runs_explorer_on_the_committed_runs():
    fig, tab = explore_runs("cpu-400", nets=["plain20", "resnet20"], root=ROOT / "runs")
    plt.close(fig)
    assert list(tab.index) == ["plain20", "resnet20"]
    with pytest.raises(ValueError, match="no finished runs"):
        explore_runs("no-such-budget", root=ROOT / "runs")


def test_solution_by_construction_and_lesions_are_exact():
    torch.manual_seed(0)
    plain = cifar_model(20, residual=False).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(deepen(plain, 56).eval()(x), plain(x))
        assert remove_blocks(plain, "layer3.2")(x).shape == (4, 10)
    assert starts_as_shallow(20)
    with pytest.raises(ValueError, match="changes the shape"):
        remove_blocks(plain, "layer2.0")
    assert len(block_names(preact_cifar_model(20))) == 9


@pytest.mark.skipif(not (Path(os.environ.get("RESNET_STUDY_WEIGHTS", ROOT.parent / "shared" / "weights")) / "resnet20-12fca82f.th").exists()
                    or not os.environ.get("RESNET_STUDY_DATA"), reason="needs the published weights and $RESNET_STUDY_DATA")
def test_lesion_of_the_published_resnet20():
    from resnet_study.lesions import lesion
    weights = os.environ.get("RESNET_STUDY_WEIGHTS", ROOT.parent / "shared" / "weights")
    intact, cut = lesion(20, "", 200, weights=weights), lesion(20, "layer3.1", 200, weights=weights)
    assert 0 <= intact < cut <= 100


def test_screenshot_tool_refuses_unknown_notebooks():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "jupyterlab_screenshots.py"), "--notebooks", "nope.ipynb"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "no moves defined" in r.stderr


CHAPTERS = ["10_degradation", "11_residual_block", "12_shortcuts", "13_depth", "13a_warm_up", "14_layer_responses",
            "15_imagenet_recipe", "16_statistics", "17_after"]

def shape_problems(cells) -> list[str]:
    """Where a chapter breaks predict, do, explain: a result (a cell with output, other than a hidden or folded one)
    shown with no "Predict first" (or "Your turn") since the last "What it means", and a prediction never explained"""
    found, open_at, shown = [], None, False
    for i, c in enumerate(cells):
        s = "".join(c["source"])
        if c["cell_type"] == "markdown":
            if s.startswith("## Exercises"): break
            if "**Predict first" in s or s.startswith("## Your turn"):
                if open_at is not None and shown: found.append(f"cell {i} predicts before cell {open_at} is explained")
                if open_at is None or shown: open_at, shown = i, False
            if "**What it means.**" in s or "**What we conclude.**" in s: open_at = None
        elif c.get("outputs") and not s.startswith(("#| code-fold: true", "#| hide")):
            shown = True
            if open_at is None: found.append(f"cell {i} shows a result that no prediction precedes")
    if open_at is not None: found.append(f"cell {open_at}'s prediction is never explained")
    return found

def test_the_shape_check_finds_a_result_without_a_prediction():
    md = lambda s: dict(cell_type="markdown", source=s)
    out = lambda s: dict(cell_type="code", source=s, outputs=[{}])
    good = [md("**Predict first.** Which?"), out("plot()"), md("**What it means.** That."), out("#| code-fold: true")]
    assert shape_problems(good) == []
    assert shape_problems([md("intro"), out("plot()")]) == ["cell 1 shows a result that no prediction precedes"]
    unexplained = [md("**Predict first.** Which?"), out("plot()")]
    assert shape_problems(unexplained) == ["cell 0's prediction is never explained"]

@pytest.mark.parametrize("name", CHAPTERS)
def test_each_result_is_predicted_first_and_explained_after(name):
    import json
    cells = json.loads((ROOT / "nbs" / f"{name}.ipynb").read_text())["cells"]
    assert shape_problems(cells) == [], f"{name}: ask for a prediction before each result and explain it after"

@pytest.mark.parametrize("name", CHAPTERS)
def test_no_paragraph_appears_twice_in_a_chapter(name):
    "The prose and the generated text a chapter shows (its markdown outputs) say each thing once"
    import collections, json, re
    paragraphs = []
    for c in json.loads((ROOT / "nbs" / f"{name}.ipynb").read_text())["cells"]:
        texts = ["".join(c["source"])] if c["cell_type"] == "markdown" else []
        texts += ["".join(o["data"]["text/markdown"]) for o in c.get("outputs", [])
                  if "text/markdown" in o.get("data", {})]
        paragraphs += [" ".join(p.split()) for t in texts for p in re.split(r"\n\s*\n", t) if len(p) > 80]
    assert [p[:80] for p, k in collections.Counter(paragraphs).items() if k > 1] == []
