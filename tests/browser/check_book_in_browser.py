"""Real-browser check of the rendered course (``make test-book``, after ``make book``).

Opens two pages of the built book from local files (``file://``) in headless
Debian Chromium driven by Playwright, with every network request blocked and
recorded, and checks that on each page

* the figures render (images decoded, non-zero size),
* the maths renders (MathML elements laid out, superscripts raised above the baseline),
* at least one widget renders in its saved last state (a slider, and an image
  widget such as a heatmap or a fit),
* nothing was requested from the network (the book works offline).

Screenshots go to ``screenshots/book/`` (gitignored). Exit status 0 = pass.
Usage: ``python tests/browser/check_book_in_browser.py [build/book]``
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: (page, must it contain maths?) -- 01 has the regression widgets, 02 the derivation's maths.
PAGES = [("01_continual_regression.html", False), ("02_permuted_mnist.html", True)]

MEASURE = """() => {
  const imgs = [...document.querySelectorAll('.jp-OutputArea-output img, .jp-RenderedImage img')];
  const shown = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0);
  const maths = [...document.querySelectorAll('math')];
  const laidOut = maths.filter(m => m.getBoundingClientRect().width > 0);
  const lineHeight = parseFloat(getComputedStyle(document.body).fontSize) || 14;
  // MathML layout, not plain text: a superscript sits above its base's baseline
  const raised = [...document.querySelectorAll('math msup')].filter(m => m.children.length == 2 &&
      m.children[1].getBoundingClientRect().bottom < m.children[0].getBoundingClientRect().bottom - 1);
  const sliders = [...document.querySelectorAll('.static-widget input[type=range]')]
      .filter(s => s.getBoundingClientRect().width > 0);
  const widgetImgs = [...document.querySelectorAll('.static-widget img')]
      .filter(i => i.complete && i.naturalWidth > 0);
  return {images: imgs.length, imagesShown: shown.length, maths: maths.length,
          mathsLaidOut: laidOut.length, raisedSuperscripts: raised.length,
          sliders: sliders.length, widgetImages: widgetImgs.length,
          errors: document.body.innerText.includes('[widget state not saved]')};
}"""


def check_page(context, book: Path, name: str, needs_maths: bool, shots: Path) -> list[str]:
    """Open one page; returns the list of problems (empty = pass)."""
    requested: list[str] = []
    page = context.new_page()
    page.route("**/*", lambda route: (route.continue_() if route.request.url.startswith("file:")
                                      else (requested.append(route.request.url), route.abort())))
    page.goto((book / name).resolve().as_uri(), wait_until="load")
    page.wait_for_timeout(500)
    m = page.evaluate(MEASURE)
    print(f"{name}: {m}")
    page.screenshot(path=str(shots / f"{Path(name).stem}_top.png"))
    problems = []
    if m["imagesShown"] < 2:
        problems.append(f"{name}: only {m['imagesShown']} of {m['images']} figures rendered")
    if needs_maths and (m["mathsLaidOut"] == 0 or m["raisedSuperscripts"] == 0):
        problems.append(f"{name}: maths not rendered ({m['mathsLaidOut']} of {m['maths']} formulas "
                        f"laid out, {m['raisedSuperscripts']} superscripts raised)")
    if m["sliders"] == 0 or m["widgetImages"] == 0:
        problems.append(f"{name}: widgets not rendered ({m['sliders']} sliders, "
                        f"{m['widgetImages']} widget images)")
    if m["errors"]:
        problems.append(f"{name}: a widget view had no saved state")
    if requested:
        problems.append(f"{name}: requested from the network: {requested[:5]}")
    for selector, label in (("math", "maths"), (".static-widget img", "widget")):
        element = page.query_selector(selector)
        if element is not None:
            element.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"{Path(name).stem}_{label}.png"))
    page.close()
    return problems


def main(argv: list[str]) -> int:
    book = Path(argv[0]) if argv else REPO_ROOT / "build" / "book"
    missing = [name for name, _ in PAGES if not (book / name).is_file()]
    if missing:
        print(f"missing pages in {book}: {missing}; run `make book` (or HNET_FAST=1 make book) first")
        return 1
    shots = REPO_ROOT / "screenshots" / "book"
    shots.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright
    problems = []
    with tempfile.TemporaryDirectory(prefix="hnet-book-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            for name, needs_maths in PAGES:
                problems += check_page(context, book, name, needs_maths, shots)
        finally:
            context.close()
    for problem in problems:
        print("FAIL", problem)
    print("book browser check:", "FAIL" if problems else "PASS", f"(screenshots in {shots})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
