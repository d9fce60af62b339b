"""The package's structure: every module imports on its own, no import cycle, no private name imported
across modules, and the paper's recipe numbers written only in the recipe table."""
import ast, json, re, subprocess, sys
from pathlib import Path
import pytest

PKG = Path(__file__).resolve().parent.parent / "resnet_study"
MODULES = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in ("__init__", "_modidx"))



def _imports(name: str) -> list[tuple[str, str]]:
    "(module, name) of every `from resnet_study.X import name` / `from .X import name` in module `name`, lazy ones too"
    out = []
    for node in ast.walk(ast.parse((PKG / f"{name}.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1: target = mod.split(".")[0]
            elif mod.startswith("resnet_study."): target = mod.split(".")[1]
            else: continue
            out += [(target, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name.split(".")[1], "") for a in node.names if a.name.startswith("resnet_study.")]
    return out


IMPORT_EACH = """
import importlib, sys, traceback
import torch, fastai.vision.all  # loaded once: what is checked is the order of the package's own imports
failed = []
for name in sys.argv[1:]:
    for m in [m for m in sys.modules if m == "resnet_study" or m.startswith("resnet_study.")]: del sys.modules[m]
    try: importlib.import_module(f"resnet_study.{name}")
    except Exception: failed.append(f"resnet_study.{name}: " + traceback.format_exc(limit=3))
print("\\n".join(failed)); sys.exit(1 if failed else 0)
"""

def test_every_module_imports_on_its_own():
    "Each module imported first into an interpreter with none of the package loaded (one interpreter: fastai loads once)"
    r = subprocess.run([sys.executable, "-c", IMPORT_EACH, *MODULES], capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


def test_no_import_cycle():
    graph = {m: {t for t, _ in _imports(m) if t in MODULES and t != m} for m in MODULES}
    state = {}
    def visit(m, path):
        if state.get(m) == "done": return
        assert state.get(m) != "open", f"import cycle: {' -> '.join(path + [m])}"
        state[m] = "open"
        for t in sorted(graph[m]): visit(t, path + [m])
        state[m] = "done"
    for m in MODULES: visit(m, [])


def test_no_private_name_imported_across_modules():
    private = [(m, t, n) for m in MODULES for t, n in _imports(m) if n.startswith("_")]
    assert private == []


def test_train_imports_nothing_from_runs_and_has_no_lazy_reexports():
    assert "runs" not in {t for t, _ in _imports("train")}
    top = ast.parse((PKG / "train.py").read_text()).body  # a module-level __getattr__ would re-export names lazily
    assert not [f.name for f in top if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"]


RECIPE_NUMBER = re.compile(r"(?<![\w.])(64[,_]?000|600[,_]?000|60e4|1e-4|0\.0001)(?![\w])")

@pytest.mark.parametrize("name", [m for m in MODULES if m != "recipes"])
def test_recipe_numbers_only_in_the_recipe_table(name):
    "64,000; 600,000; 1e-4 are the recipe table's (`resnet_study.recipes`), help texts and messages included"
    found = sorted({m.group(1) for m in RECIPE_NUMBER.finditer((PKG / f"{name}.py").read_text())})
    assert found == [], f"{name}.py writes {found}: read them from RECIPES"


RUNS = PKG.parent / "runs"

@pytest.mark.parametrize("f", sorted(RUNS.rglob("config.json")), ids=lambda f: str(f.parent.relative_to(RUNS)))
def test_committed_configs_name_no_path_of_the_machine_that_ran_them(f):
    "A committed run says which data (its name and SHA-256) and which command, never a folder of the machine it ran on"
    d = json.loads(f.read_text())
    assert d["config"]["data"] is None or not re.match(r"/|\.\./", d["config"]["data"]), "a path of the machine: keep only paths inside the working folder"
    assert isinstance(d.get("data"), dict) and d["data"]["name"], "no data record (the data's name and SHA-256)"
    command = d.get("command") or ["resnet-study"]
    assert command[0] == "resnet-study"
    assert not [a for a in command if re.match(r"(--[\w-]+=)?(/|\.\./)", a)], command


def _all_lines(src: str) -> set[int]:
    "Line numbers of nbdev's generated `__all__ = [...]` (its first line may pass 120 characters: nbdev wraps it)"
    lines, out = src.splitlines(), set()
    for i, l in enumerate(lines, 1):
        if l.startswith("__all__ = ") and i > 1 and lines[i - 2] == "# %% auto #0":
            out.add(i)
            while i < len(lines) and lines[i].startswith(" " * 11): i += 1; out.add(i)
    return out


def test_no_line_over_120_characters():
    "No line of the library over 120 characters (nbdev's generated `_modidx.py` and `__all__` aside)"
    long = []
    for p in sorted(PKG.glob("*.py")):
        if p.name == "_modidx.py": continue
        src = p.read_text(); skip = _all_lines(src)
        long += [f"{p.name}:{i} ({len(l)})" for i, l in enumerate(src.splitlines(), 1) if len(l) > 120 and i not in skip]
    assert not long, f"{len(long)} lines over 120 characters: " + ", ".join(long)
