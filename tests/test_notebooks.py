"Notebooks a student can open, run and keep clean: kernel metadata, no author paths or library warnings in saved outputs, light files."
import json, re
from pathlib import Path
import pytest

NBS = sorted((Path(__file__).resolve().parents[1] / "nbs").glob("*.ipynb"))
PATHS = re.compile(r"/(?:work|root|home|Users)/[\w.-]+")  # a machine's own folders in an output

@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_notebook_is_clean(nb):
    d = json.loads(nb.read_text())
    assert d["metadata"].get("kernelspec", {}).get("name") == "python3", "no kernel metadata: JupyterLab would ask for one"
    assert nb.stat().st_size <= 400_000, f"{nb.name} is {nb.stat().st_size / 1e3:.0f} kB (at most 400): show fewer or smaller images"
    for c in d["cells"]:
        for o in c.get("outputs", []):
            text = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
            assert not PATHS.search(text), f"{nb.name}, cell {c.get('id')}: a machine path in the output: {PATHS.search(text)[0]}"
            if o.get("name") == "stderr": assert "Warning" not in text, f"{nb.name}, cell {c.get('id')}: a library warning in the output"
