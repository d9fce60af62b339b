"""Build the docs as a static site from the notebooks' saved outputs, where Quarto is missing (`nbdev-docs` needs it).

    python tools/static_docs.py --out _site        # then open _site/index.html in a browser

One HTML page per notebook of the sidebar (nbs/sidebar.yml), in its order, with a table of contents on the front page;
links between notebooks point at their pages, figures are embedded. `--check` only checks the links of a built site.
"""
from __future__ import annotations
import argparse, html, re, sys
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / "nbs"

def sidebar() -> list[tuple[str, list[str]]]:
    "(section, notebooks) as nbs/sidebar.yml lists them"
    sections = [("", [])]  # the front page stands before the first section
    for line in (NBS / "sidebar.yml").read_text().splitlines():
        if m := re.match(r"\s*- section: (.+)", line): sections.append((m.group(1).strip(), []))
        elif m := re.match(r"\s*- (\S+\.ipynb)", line): sections[-1][1].append(m.group(1))
    return [s for s in sections if s[1]]

def title(nb) -> str:
    "The notebook's first heading"
    for c in nb.cells:
        if c.cell_type == "markdown" and (m := re.search(r"^#\s+(.+)$", c.source, re.M)): return m.group(1).strip()
    return "untitled"

def page(path: Path, nav: str) -> str:
    "One notebook as an HTML page: its saved outputs, cells marked `#| hide` left out, links to notebooks made links to pages"
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if not re.match(r"#\|\s*(hide|default_exp)", c.source)]
    for c in nb.cells:  # Quarto's `#| echo: false`: the output without its code; other `#|` lines are for nbdev, not readers
        if c.cell_type == "code" and re.search(r"^#\|\s*echo:\s*false", c.source, re.M): c.metadata["tags"] = ["remove_input"]
        if c.cell_type == "code": c.source = "\n".join(l for l in c.source.splitlines() if not l.startswith("#|"))
    exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove_input"}), enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    body = re.sub(r'href="(?:\./)?([\w-]+)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)

def build(out: Path) -> list[Path]:
    "Every page of the sidebar into `out`, and index.html with the table of contents; the pages written"
    out.mkdir(parents=True, exist_ok=True)
    nav = '<nav style="padding:8px 16px;font-family:sans-serif"><a href="index.html">resnet_study: contents</a></nav>'
    toc, written = [], []
    for section, names in sidebar():
        items = []
        for name in names:
            src = NBS / name
            (out / src.with_suffix(".html").name).write_text(page(src, nav))
            written.append(out / src.with_suffix(".html").name)
            items.append(f'<li><a href="{src.stem}.html">{html.escape(title(nbformat.read(src, as_version=4)))}</a></li>')
        toc.append((f"<h2>{html.escape(section)}</h2>" if section else "") + "<ul>" + "".join(items) + "</ul>")
    contents = f'<div style="padding:0 16px;font-family:sans-serif">{"".join(toc)}</div>'
    front = out / "index.html"  # the front page (the index notebook) opens with the contents
    front.write_text(front.read_text().replace(nav, nav + contents, 1))
    return written

def broken_links(site: Path) -> list[str]:
    "Links from a page of `site` to another page of it (or an anchor) that is not there"
    bad = []
    for p in sorted(site.glob("*.html")):
        for href in re.findall(r'href="([^"#:]+\.html)(?:#[^"]*)?"', p.read_text()):
            if not (site / href).exists(): bad.append(f"{p.name} -> {href}")
    return bad

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "_site")
    ap.add_argument("--check", action="store_true", help="only check the links of the site in --out")
    a = ap.parse_args()
    if not a.check: print(f"{len(build(a.out))} pages -> {a.out / 'index.html'}")
    bad = broken_links(a.out)
    for b in bad: print(f"broken link: {b}", file=sys.stderr)
    sys.exit(1 if bad else 0)
