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
