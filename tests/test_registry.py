"""A shortcut option and a depth are one entry each: added to the models' tables (`SHORTCUT_OPTIONS`, `CIFAR_DEPTHS`) in a
copy of the package, the study's experiments and claims, the figures' colours and the chapters take them up unasked."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_one_entry_adds_an_option_and_a_depth(tmp_path):
    pkg = Path(shutil.copytree(ROOT / "resnet_study", tmp_path / "resnet_study", ignore=shutil.ignore_patterns("__pycache__")))
    models = pkg / "models.py"
    text = models.read_text()
    depths = "CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)"
    option = '    "C": _projection,'
    assert depths in text and option in text, "the models' tables moved: update this test"
    text = text.replace(depths, "CIFAR_DEPTHS = (20, 32, 44, 56, 74, 110, 1202)")  # the one entry for a depth (6n+2, n = 12)
    text = text.replace(option, option + '\n    "D": _projection,')  # the one entry for an option (a stand-in: C again)
    models.write_text(text)
    probe = """
import json
from resnet_study.study import CLAIMS, EXPERIMENTS, Net, study_runs
from resnet_study.analysis import net_color
runs = [name for name, *_ in study_runs(["all"], seeds=[0])]
print(json.dumps(dict(runs=runs, c4=list(CLAIMS["C4"].nets), c4_text=CLAIMS["C4"].text, c7=list(CLAIMS["C7"].nets),
                      claims=list(CLAIMS), shortcuts=list(EXPERIMENTS["shortcuts"].nets),
                      colours=len({net_color(f"resnet{d}", f"resnet{d}") for d in (20, 32, 44, 56, 74, 110, 1202)}),
                      title=Net.parse("resnet74").title)))
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"resnet74-s0", "plain74-s0", "resnet20-D-s0"} <= set(got["runs"])
    assert got["c4"] == ["resnet20", "resnet32", "resnet44", "resnet56", "resnet74", "resnet110"]
    assert got["c4_text"] == "deeper ResNets test better, 20 to 110 layers"
    assert "C3c" in got["claims"] and got["shortcuts"] == ["resnet20-B", "resnet20-C", "resnet20-D"]
    assert got["colours"] == 7 and got["title"] == "ResNet-74"


def test_the_chapters_read_depths_and_options_from_the_models():
    "No chapter keeps a list of its own of the study's depths or shortcut options: they read the models' tables"
    lists = re.compile(r"\(20, 32, 44, 56|\[20, 32, 44, 56|\(\"A\", \"B\", \"C\"\)|\[\"A\", \"B\", \"C\"\]")
    for nb in sorted((ROOT / "nbs").glob("1[0-8]_*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        found = [l for c in code for l in c.splitlines() if lists.search(l) and not l.lstrip().startswith(("#", "test_eq", "assert"))]
        assert not found, f"{nb.name} keeps its own list: {found}"
