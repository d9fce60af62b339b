"""The docs without Quarto: `python tools/static_docs.py` builds a page per notebook of the sidebar, linked, figures
embedded, with the contents on the front page, and no link between its pages leads nowhere."""
import re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from static_docs import broken_links, build, sidebar


def test_the_static_site_builds_with_every_page_linked(tmp_path):
    pages = build(tmp_path)
    names = [n for _, ns in sidebar() for n in ns]
    assert {p.name for p in pages} == {Path(n).with_suffix(".html").name for n in names}
    assert broken_links(tmp_path) == []
    front = (tmp_path / "index.html").read_text()
    assert all(f'href="{Path(n).stem}.html"' in front for n in names)  # the contents link every page
    chapter = (tmp_path / "10_degradation.html").read_text()
    assert "data:image/png;base64" in chapter and 'href="18_solutions.html"' in chapter  # figures in, links to pages
    assert "#| hide" not in chapter and "nbdev_export" not in chapter
