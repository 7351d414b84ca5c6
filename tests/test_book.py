"""The pieces of scripts/build_book.py that make the book work offline (the full
build runs in CI as `HNET_FAST=1 make book`, its pages in tests/browser/check_book_in_browser.py)."""

import base64
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build_book", REPO / "scripts" / "build_book.py")
book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book)


def test_maths_becomes_mathml_but_code_is_left_alone():
    out = book.markdown_with_mathml("cost $O(N d^2)$ and `price $5$` and\n\n$$G = \\sum_i u_i u_i^\\top$$\n")
    assert out.count("<math") == 2 and 'display="block"' in out
    assert "`price $5$`" in out
    assert "$" not in out.replace("`price $5$`", "")


def test_widgets_render_as_their_last_state():
    png = base64.b64encode(b"\x89PNG fake").decode()
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_s", "IPY_MODEL_i", "IPY_MODEL_d"]}},
        "s": {"model_name": "FloatLogSliderModel", "state": {"description": "β", "value": 0.01,
                                                           "min": -3, "max": 1, "base": 10}},
        "i": {"model_name": "ImageModel", "state": {"format": "png"},
              "buffers": [{"path": ["value"], "encoding": "base64", "data": png}]},
        "d": {"model_name": "DropdownModel", "state": {"_options_labels": ["full", "chunked"], "index": 1}},
    }
    html = book.WidgetRenderer(state).view("box")
    assert 'type="range"' in html and 'value="-2.0"' in html and ">0.01<" in html
    assert f"data:image/png;base64,{png}" in html
    assert "<option selected>chunked</option>" in html
    assert "not saved" in book.WidgetRenderer({}).view("missing")


def test_remote_references_are_found_and_stripped():
    page = ('<script src="https://cdn.example/mathjax.js"></script>'
            '<script type="module">const m = await import("https://cdnjs.example/mermaid.mjs");</script>'
            '<script type="text/x-mathjax-config">MathJax.Hub.Config({})</script><p>ok</p>')
    assert len(book.remote_references(page)) == 2
    clean = book.strip_remote_scripts(page)
    assert book.remote_references(clean) == [] and "<p>ok</p>" in clean
