"""Build the rendered course: a static website of the executed notebooks (``make book``).

Tool: nbconvert's HTML exporter (already a dependency through JupyterLab),
driven by this script. For every notebook in ``notebooks/``:

1. execute it top to bottom with nbclient, saving ipywidgets' widget state
   (``store_widget_state=True``); the executed copy goes to ``<out>/executed/``;
2. render the maths of the markdown cells to MathML on the server
   (``latex2mathml``), which browsers display natively: no MathJax, no CDN;
3. render every widget output as its last state, from the saved widget state:
   sliders, dropdowns, buttons and labels as static (disabled) HTML controls,
   image widgets (our heatmaps and fits) as images, output widgets with their
   captured outputs. No widget JavaScript is needed, so the page works from
   local files; the widgets are snapshots, not interactive;
4. export HTML with nbconvert's ``lab`` template (its CSS is inlined) and check
   that the page loads nothing from the network.

The index page is the README's course map, with links to the pages, and
states the build mode, the date and each notebook's run time.

Full mode by default; ``HNET_FAST=1`` for the quick build of CI.

Usage: ``python scripts/build_book.py [--out build/book] [notebooks...]``
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from latex2mathml.converter import convert as latex_to_mathml
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbconvert.filters.markdown import markdown2html

REPO_ROOT = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

# ----------------------------------------------------------------------------- maths

_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\d)")


def _mathml(tex: str, display: bool) -> str:
    try:
        out = latex_to_mathml(tex.strip(), display="block" if display else "inline")
    except Exception as err:  # keep the page readable if one formula cannot be converted
        print(f"  warning: could not convert ${tex}$ to MathML ({err}); shown as TeX")
        return f"<code>{html.escape(tex)}</code>"
    return out.replace("\n", " ")


def markdown_with_mathml(text: str) -> str:
    """Markdown source with ``$...$`` and ``$$...$$`` replaced by MathML (code left alone)."""
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):          # even parts are outside code
        part = _DISPLAY.sub(lambda m: "\n\n" + _mathml(m.group(1), True) + "\n\n", parts[i])
        parts[i] = _INLINE.sub(lambda m: _mathml(m.group(1), False), part)
    return "".join(parts)


# --------------------------------------------------------------------------- widgets


class WidgetRenderer:
    """Static HTML for widget views, from a notebook's saved widget state."""

    def __init__(self, state: dict):
        self.state = state

    def view(self, model_id: str) -> str:
        entry = self.state.get(model_id)
        if entry is None:
            return '<div class="static-widget missing">[widget state not saved]</div>'
        name = entry.get("model_name", "")
        s = dict(entry.get("state", {}))
        for buf in entry.get("buffers", []):          # binary values (image bytes)
            if len(buf.get("path", [])) == 1:
                s[buf["path"][0]] = ("base64", buf["data"])
        desc = html.escape(str(s.get("description", "") or ""))
        label = f'<label class="sw-desc">{desc}</label>' if desc else ""
        if name in ("VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel", "AccordionModel",
                    "TabModel", "StackModel"):
            direction = "row" if name == "HBoxModel" else "column"
            kids = "".join(self.view(c.removeprefix("IPY_MODEL_")) for c in s.get("children", []))
            return f'<div class="static-widget sw-box" style="flex-direction:{direction}">{kids}</div>'
        if name in ("IntSliderModel", "FloatSliderModel", "FloatLogSliderModel"):
            value = shown = s.get("value")
            if name == "FloatLogSliderModel" and isinstance(value, (int, float)) and value > 0:
                value = round(math.log(value, s.get("base", 10)), 6)    # min/max are exponents
            return (f'<div class="static-widget sw-row">{label}<input type="range" disabled '
                    f'min="{s.get("min")}" max="{s.get("max")}" step="{s.get("step") or "any"}" '
                    f'value="{value}"><span class="sw-value">{html.escape(_fmt(shown))}</span></div>')
        if name in ("IntRangeSliderModel", "FloatRangeSliderModel"):
            lo, hi = s.get("value", [None, None])
            return f'<div class="static-widget sw-row">{label}<span class="sw-value">{lo} – {hi}</span></div>'
        if name in ("DropdownModel", "SelectModel", "RadioButtonsModel", "ToggleButtonsModel",
                    "SelectionSliderModel"):
            labels, index = s.get("_options_labels", []), s.get("index")
            chosen = labels[index] if isinstance(index, int) and 0 <= index < len(labels) else ""
            opts = "".join(f"<option{' selected' if i == index else ''}>{html.escape(str(o))}</option>"
                           for i, o in enumerate(labels))
            return f'<div class="static-widget sw-row">{label}<select disabled>{opts}</select></div>' \
                if labels else f'<div class="static-widget sw-row">{label}{html.escape(str(chosen))}</div>'
        if name in ("CheckboxModel", "ToggleButtonModel"):
            checked = " checked" if s.get("value") else ""
            return f'<div class="static-widget sw-row"><input type="checkbox" disabled{checked}>{label}</div>'
        if name == "ButtonModel":
            return f'<div class="static-widget"><button disabled>{desc or "button"}</button></div>'
        if name in ("HTMLModel", "HTMLMathModel"):
            return f'<div class="static-widget sw-row">{label}<div>{s.get("value", "")}</div></div>'
        if name in ("LabelModel", "TextModel", "TextareaModel", "IntTextModel", "FloatTextModel",
                    "BoundedIntTextModel", "BoundedFloatTextModel"):
            return f'<div class="static-widget sw-row">{label}<span>{html.escape(_fmt(s.get("value", "")))}</span></div>'
        if name in ("IntProgressModel", "FloatProgressModel"):
            return (f'<div class="static-widget sw-row">{label}<progress value="{s.get("value", 0)}" '
                    f'max="{s.get("max", 100)}"></progress></div>')
        if name == "ImageModel":
            value = s.get("value")
            if isinstance(value, tuple):
                fmt = s.get("format", "png")
                mime = "image/svg+xml" if fmt == "svg+xml" else f"image/{fmt}"
                style = "".join(f"{k}:{v}px;" for k, v in (("width", s.get("width")),
                                ("height", s.get("height"))) if v not in (None, ""))
                return (f'<div class="static-widget"><img class="sw-image" alt="widget image" '
                        f'style="{style}" src="data:{mime};base64,{value[1]}"></div>')
            return '<div class="static-widget">[empty image]</div>'
        if name == "OutputModel":
            return f'<div class="static-widget sw-output">{self.outputs(s.get("outputs", []))}</div>'
        return f'<div class="static-widget">[{html.escape(name.removesuffix("Model"))}]</div>'

    def outputs(self, outputs: list) -> str:
        parts = []
        for out in outputs:
            if out.get("output_type") == "stream":
                parts.append(f"<pre>{html.escape(''.join(out.get('text', '')))}</pre>")
                continue
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                parts.append(self.view(data[WIDGET_VIEW]["model_id"]))
            elif "image/png" in data:
                parts.append(f'<img src="data:image/png;base64,{_join(data["image/png"])}">')
            elif "text/html" in data:
                parts.append(_join(data["text/html"]))
            elif "text/plain" in data:
                parts.append(f"<pre>{html.escape(_join(data['text/plain']))}</pre>")
        return "".join(parts)


def _join(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


WIDGET_CSS = """
.static-widget { margin: 2px 0; font-size: 13px; }
.sw-box { display: flex; gap: 6px; flex-wrap: wrap; align-items: flex-start; }
.sw-row { display: flex; gap: 8px; align-items: center; }
.sw-desc { min-width: 9em; }
.sw-value { font-family: monospace; }
.sw-image { max-width: 100%; }
.book-nav { font: 14px sans-serif; padding: 8px 16px; background: #f3f3f3; border-bottom: 1px solid #ccc; }
.book-nav a { margin-right: 1.2em; }
.book-note { font: 13px sans-serif; color: #555; padding: 4px 16px; }
math { font-size: 1.15em; }
math[display="block"] { margin: 0.6em 0; }
"""


# -------------------------------------------------------------------------- pipeline


def execute(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    """Run a notebook top to bottom (cwd: its folder) with widget state saved; (notebook, seconds)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def static_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy with MathML maths and widget views replaced by their static HTML."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    renderer = WidgetRenderer(state)
    widgets = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = markdown_with_mathml(cell.source)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                widgets += 1
                out["data"] = {"text/html": renderer.view(data[WIDGET_VIEW]["model_id"])}
    nb.metadata.pop("widgets", None)       # no widget manager script in the page
    nb.metadata["book_widget_views"] = widgets
    return nb


_REMOTE = re.compile(r"""<(?:script|link|img|iframe)[^>]*(?:src|href)\s*=\s*["']?(?:https?:)?//[^>]*>"""
                     r"""|import\(\s*["'](?:https?:)?//[^"']*|@import\s+url\(["']?https?://[^)]*""")


def remote_references(page: str) -> list[str]:
    """Scripts, styles, images and module imports in ``page`` that would load from the network."""
    return _REMOTE.findall(page)


def strip_remote_scripts(page: str) -> str:
    """Drop ``<script src=http...>`` and ``<link href=http...>`` tags (MathJax, require.js)."""
    page = re.sub(r"<script[^>]*src=[\"']https?://[^>]*>\s*</script>", "", page)
    page = re.sub(r"<link[^>]*href=[\"']https?://[^>]*>", "", page)
    # nbconvert's lab template: MathJax configuration and a mermaid loader importing from a CDN
    page = re.sub(r'<script type="text/x-mathjax-config">.*?</script>', "", page, flags=re.S)
    page = re.sub(r'<script type="module">(?:(?!</script>).)*?https?://.*?</script>', "", page,
                  flags=re.S)
    return page


def page_html(nb, title: str, nav: str, note: str) -> str:
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = strip_remote_scripts(body)
    body = body.replace("</head>", f"<style>{WIDGET_CSS}</style>\n</head>", 1)
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav + note, body, count=1)
    return body


def index_html(readme: str, pages: list[tuple[str, str]], note: str) -> str:
    """The README's course map (section "The course") as the index page."""
    match = re.search(r"^## The course\n(.*?)(?=^## )", readme, re.S | re.M)
    section = match.group(1) if match else readme
    for nb_name, page in pages:
        section = section.replace(f"`{nb_name}`", f"[{nb_name.removesuffix('.ipynb')}]({page})")
        section = section.replace(f"notebooks/{nb_name}", page)
    title = re.search(r"^# (.+)$", readme, re.M)
    title = title.group(1) if title else "Course"
    links = "".join(f'<li><a href="{page}">{html.escape(nb)}</a></li>' for nb, page in pages)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>body{{font:15px/1.5 sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}"
            f"table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}"
            f"{WIDGET_CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><h2>The course</h2>{markdown2html(section)}"
            f"<h2>Pages</h2><ul>{links}</ul><p class='book-note'>{note}</p></body></html>")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "book")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    fast = os.environ.get("HNET_FAST", "").strip().lower() not in ("", "0", "false", "no")
    mode = "fast mode (HNET_FAST=1)" if fast else "full mode"
    out = args.out
    (out / "executed").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pages, runtimes, executed = [], {}, {}
    for path in paths:
        print(f"executing {path.name} ({mode}) ...", flush=True)
        nb, seconds = execute(path, args.timeout)
        runtimes[path.name] = seconds
        nbformat.write(nb, out / "executed" / path.name)
        executed[path.name] = nb
        pages.append((path.name, path.stem + ".html"))
        print(f"  {seconds:.0f} s", flush=True)
    for i, (name, page) in enumerate(pages):
        prev = f'<a href="{pages[i - 1][1]}">← {pages[i - 1][0]}</a>' if i else ""
        nxt = f'<a href="{pages[i + 1][1]}">{pages[i + 1][0]} →</a>' if i + 1 < len(pages) else ""
        nav = f'<nav class="book-nav"><a href="index.html">Course map</a>{prev}{nxt}</nav>'
        note = (f'<p class="book-note">Executed in {mode} in {runtimes[name]:.0f} s. Widgets are '
                'shown in their last state (static; open the notebook in JupyterLab to use them).</p>')
        nb = static_copy(executed[name])
        (out / page).write_text(page_html(nb, Path(name).stem, nav, note), encoding="utf-8")
        print(f"wrote {out / page} ({nb.metadata['book_widget_views']} widget views)")
    total = time.perf_counter() - start
    times = ", ".join(f"{n} {s:.0f} s" for n, s in runtimes.items())
    note = (f"Built {time.strftime('%Y-%m-%d %H:%M')} in {mode}: {total:.0f} s in all ({times}). "
            "Every page works offline: maths is MathML, widgets are static snapshots.")
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    (out / "index.html").write_text(index_html(readme, pages, note), encoding="utf-8")
    remote = {p.name: remote_references(p.read_text(encoding="utf-8")) for p in out.glob("*.html")}
    remote = {k: v for k, v in remote.items() if v}
    if remote:
        print("pages that would load from the network:", json.dumps(remote, indent=1))
        return 1
    print(f"book: {out / 'index.html'} ({len(pages)} pages, {mode}, built in {total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
