"""Real-browser check: notebook 01 runs in JupyterLab and its widgets render.

nbval executes notebooks in a kernel only; it cannot notice when the
ipywidgets front end in JupyterLab fails to draw a widget (e.g. a kernel /
front-end version mismatch shows "Error displaying widget"). This script:

1. copies ``notebooks/01_continual_regression.ipynb`` into a temporary
   folder (so JupyterLab's autosave never writes outputs into the repo),
2. starts ``jupyter lab`` on 127.0.0.1 with a random token and a free port
   (``HNET_FAST=1`` in its environment, so the notebook runs in seconds),
3. opens the notebook in headless Debian Chromium driven by Playwright,
   runs all cells and waits until every code cell has executed,
4. asserts that no cell raised, that sliders, a button, the MSE table and
   the embedding-space heatmap image are really rendered, and that no
   widget error text appears on the page or in the browser console,
5. drives every embedding probe (``widgets.EmbeddingProbe``) like a person:
   moves it with the keyboard on its first slider, chooses a straight-line
   path in its dropdown and presses its play button; after each action the
   probe's status line and image must change,
6. saves screenshots to ``screenshots/`` (gitignored) and always stops the
   server and the browser.

``--notebook notebooks/03_split_mnist.ipynb`` runs notebook 03 instead, with
its own expectations (``EXPECTATIONS``: no regression explorer, two probes);
its screenshots go to ``screenshots/03_split_mnist/``.

Run it with ``make test-browser`` (installs Chromium and Playwright first) or
``python tests/browser/run_notebook_in_browser.py``. Exit status 0 = pass.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO_ROOT / "notebooks" / "01_continual_regression.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Text that ipywidgets / JupyterLab show when a widget cannot be displayed.
WIDGET_ERRORS = ("Error displaying widget", "Failed to load model", "Could not create a view",
                 "Could not create a model", "Failed to create view", "Click to show javascript error",
                 "Model not found", "not found in module")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_lab_settings(settings_dir: Path) -> None:
    """JupyterLab user settings for a deterministic headless run.

    All cells stay in the DOM (no notebook windowing), and nothing tries to
    reach the internet (news and update checks off).
    """
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for rel, content in files.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


def start_lab(workdir: Path, port: int, token: str, log_path: Path) -> subprocess.Popen:
    """Start ``jupyter lab`` serving ``workdir`` in its own process group."""
    settings = workdir.parent / "lab-settings"
    write_lab_settings(settings)
    env = dict(os.environ, HNET_FAST="1", JUPYTER_CONFIG_DIR=str(workdir.parent / "jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(workdir.parent / "jupyter-runtime"))
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={workdir}",
        "--ServerApp.port_retries=0", "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={workdir.parent / 'workspaces'}",
        "--LabApp.extension_manager=readonly",  # never query PyPI for extensions
    ]
    if os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    log = open(log_path, "w")
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_process_group(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop the server we started and its kernels (its own process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def wait_for_server(port: int, token: str, proc: subprocess.Popen, timeout: float) -> None:
    """Poll the server's status API until it answers (or fail after ``timeout`` s)."""
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer on port {port} within {timeout:.0f} s")


# JavaScript run in the page (JupyterLab exposes its app as window.jupyterapp).
JS_KERNEL_READY = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""
JS_PROGRESS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const kernel = w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  let executed = 0, busy = 0;
  for (const [i, c] of cells.entries()) {
    const prompt = c.node.querySelector('.jp-InputPrompt');
    if (prompt && prompt.textContent.includes('*')) busy += 1;
    if (c.model.executionCount !== null) executed += 1;
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push(`code cell ${i}: ${o.ename}: ${o.evalue}`);
    }
  }
  return {status: kernel.status, total: cells.length, executed, busy, errors};
}"""
JS_RENDERED = """() => {
  const q = s => Array.from(document.querySelectorAll(s));
  const heat = q('.hnet-heatmap img, img.hnet-heatmap');
  const fits = q('.hnet-fits img, img.hnet-fits');
  return {
    widget_views: q('.jupyter-widgets').length,
    error_widgets: q('.jupyter-widgets-error-widget').length,
    sliders: q('.widget-slider').length,
    buttons: q('.widget-button, .jupyter-button').length,
    progress: q('.widget-hprogress, .widget-vprogress').length,
    heatmaps: heat.filter(i => i.complete && i.naturalWidth > 100 && i.naturalHeight > 50).length,
    fit_images: fits.filter(i => i.complete && i.naturalWidth > 100).length,
    mse_tables: q('.hnet-mse-table table').length,
    text: document.body.innerText,
  };
}"""


JS_EXPLORER_DONE = """(kind) => {
  const status = document.querySelector('.hnet-explorer .hnet-status');
  const text = status ? status.innerText.trim() : '';
  return text.startsWith('done in') && text.includes(`hnet_type=${kind}`);
}"""


def click_and_retrain(page, shots: Path, timeout: float) -> str:
    """Use the explorer like a person: switch the hypernetwork type, click Train.

    This sends the widget messages from the browser to the kernel (not from
    code), so it checks that the controls really drive the kernel side.
    Returns "" on success, else what went wrong.
    """
    explorer = page.locator(".hnet-explorer")
    if not explorer.count():
        return "no .hnet-explorer widget on the page"
    current = explorer.locator(".widget-toggle-button.mod-active").first.inner_text().strip()
    other = "full" if current == "chunked" else "chunked"
    explorer.locator(".widget-toggle-button", has_text=other).first.click()
    explorer.locator("button", has_text="Train").first.click()
    try:
        page.wait_for_function(JS_EXPLORER_DONE, arg=other, timeout=1000 * timeout, polling=1000)
    except Exception as exc:  # playwright's TimeoutError
        page.screenshot(path=str(shots / "01_click_timeout.png"))
        return f"clicking {other!r} and Train did not retrain within {timeout:.0f} s ({exc.__class__.__name__})"
    explorer.scroll_into_view_if_needed()
    explorer.screenshot(path=str(shots / "01_explorer_after_click.png"))
    return ""


JS_PROBE_STATE = """(sel) => {
  const probe = document.querySelectorAll('.hnet-probe')[sel];
  if (!probe) return null;
  const status = probe.querySelector('.hnet-probe-status');
  const img = probe.querySelector('.hnet-probe-image img, img.hnet-probe-image');
  return {status: status ? status.innerText.trim() : '', src: img ? img.getAttribute('src') : '',
          painted: !!img && img.complete && img.naturalWidth > 300};
}"""
JS_PROBE_CHANGED = """([sel, before, wanted]) => {
  const probe = document.querySelectorAll('.hnet-probe')[sel];
  if (!probe) return false;
  const status = probe.querySelector('.hnet-probe-status').innerText.trim();
  const img = probe.querySelector('.hnet-probe-image img, img.hnet-probe-image');
  return status !== before.status && img && img.getAttribute('src') !== before.src
         && new RegExp(wanted).test(status);
}"""


def drive_probe(page, shots: Path, timeout: float, index: int = 0) -> str:
    """Use the embedding probe like a person: move it, pick a path, press play.

    Moves the probe's first slider with the keyboard (focus its handle, press
    the arrow key), chooses a straight-line path in the dropdown (the first
    one that is not already selected) and
    clicks the play button; after each action the probe's status line and
    its image must change (the kernel answered and the panel was redrawn).
    Returns "" on success, else what went wrong.
    """
    probes = page.locator(".hnet-probe")
    if probes.count() <= index:
        return f"no .hnet-probe widget number {index + 1} on the page"
    probe = probes.nth(index)
    probe.scroll_into_view_if_needed()
    wait_ms = 1000 * min(timeout, 60)

    def act_and_wait(action, wanted: str, what: str) -> str:
        before = page.evaluate(JS_PROBE_STATE, index)
        action()
        try:
            page.wait_for_function(JS_PROBE_CHANGED, arg=[index, before, wanted], timeout=wait_ms,
                                   polling=250)
        except Exception as exc:  # playwright's TimeoutError
            page.screenshot(path=str(shots / f"probe{index}_{what.replace(' ', '_')}_timeout.png"))
            return f"{what}: the probe's status/image did not update ({exc.__class__.__name__})"
        return ""

    def settle() -> None:
        """Wait until the kernel has answered every queued change (status and image stay put)."""
        deadline, last, same = time.monotonic() + timeout, None, 0
        while time.monotonic() < deadline and same < 4:
            state = page.evaluate(JS_PROBE_STATE, index)
            same = same + 1 if state == last else 0
            last = state
            time.sleep(0.5)

    def move():
        handle = probe.locator(".hnet-probe-x .noUi-handle").first
        handle.focus()
        for _ in range(4):
            page.keyboard.press("ArrowRight")

    problem = act_and_wait(move, r"^probe at", "move the probe")
    if problem:
        return problem
    settle()  # each key press is one probe update; let the last one land
    probe.screenshot(path=str(shots / f"probe{index}_moved.png"))
    select = probe.locator("select").first
    labels = [o.replace("\xa0", " ").strip() for o in select.locator("option").all_inner_texts()]
    chosen = select.evaluate("el => el.selectedIndex")
    line = next((i for i, label in enumerate(labels)
                 if label.startswith("straight line") and i != chosen), None)  # a change
    if line is None:
        return f"the path dropdown offers no other straight line: {labels}"
    problem = act_and_wait(lambda: select.select_option(index=line), r"^path step 0 ", "choose a path")
    if problem:
        return problem
    play = probe.locator(".hnet-probe-play button").first
    problem = act_and_wait(play.click, r"^path step ([5-9]|[1-9][0-9]) ", "press play")
    if problem:
        return problem
    # while playing, each tick replaces the image: wait until one of them has finished loading
    try:
        page.wait_for_function(f"(sel) => ({JS_PROBE_STATE})(sel)?.painted", arg=index,
                               timeout=wait_ms, polling=100)
        painted = True
    except Exception:  # playwright's TimeoutError
        painted = False
    probe.screenshot(path=str(shots / f"probe{index}_playing.png"))
    state = page.evaluate(JS_PROBE_STATE, index)
    if not painted:
        return "the probe's image is not painted after play"
    if not state["status"].startswith("path step"):
        return f"while playing, the status line left the path: {state['status']!r}"
    return ""


def run_in_browser(url: str, shots: Path, timeout: float, expect: dict | None = None) -> dict:
    """Open ``url``, run all cells, check what rendered; returns the findings.

    ``expect`` says what the notebook must show (default: notebook 01's,
    see ``EXPECTATIONS``).
    """
    expect = EXPECTATIONS[NOTEBOOK.name] if expect is None else expect
    from playwright.sync_api import sync_playwright

    console_problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hnet-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 2000},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.on("console", lambda m: console_problems.append(m.text)
                    if any(e.lower() in m.text.lower() for e in WIDGET_ERRORS) else None)
            page.on("pageerror", lambda exc: console_problems.append(f"page error: {exc}"))
            page.goto(url, timeout=60_000)
            page.wait_for_function(JS_KERNEL_READY, timeout=120_000, polling=500)
            page.screenshot(path=str(shots / "01_opened.png"))
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

            deadline = time.monotonic() + timeout
            progress, idle_polls = None, 0
            while time.monotonic() < deadline:
                progress = page.evaluate(JS_PROGRESS)
                if progress["errors"]:
                    break
                done = progress["executed"] == progress["total"] and progress["busy"] == 0
                idle_polls = idle_polls + 1 if done and progress["status"] == "idle" else 0
                if idle_polls >= 3:
                    break
                time.sleep(1.0)
            else:
                page.screenshot(path=str(shots / "01_timeout.png"))
                raise TimeoutError(f"notebook did not finish within {timeout:.0f} s; last state: {progress}")

            time.sleep(2.0)  # let the last widget views and images paint
            rendered = page.evaluate(JS_RENDERED)
            page.screenshot(path=str(shots / "01_end.png"))
            for name, selector in (("explorer", ".hnet-explorer"), ("live_heatmap", ".hnet-heatmap >> nth=0"),
                                   ("explorer_heatmap", ".hnet-explorer .hnet-heatmap"),
                                   ("mse_table", ".hnet-mse-table")):
                loc = page.locator(selector).first
                if loc.count():
                    loc.scroll_into_view_if_needed()
                    loc.screenshot(path=str(shots / f"01_{name}.png"))
            clicked = click_and_retrain(page, shots, timeout) if expect["explorer_click"] else ""
            probed = [drive_probe(page, shots, timeout, index=i) for i in range(expect["probes"])]
            return {"progress": progress, "rendered": rendered, "console": console_problems,
                    "clicked": clicked, "probed": [p for p in probed if p], "expect": expect}
        finally:
            context.close()


#: What each notebook must render: minimum counts of ``JS_RENDERED``'s keys, whether the
#: regression explorer is clicked, and how many embedding probes are driven.
EXPECTATIONS = {
    "01_continual_regression.ipynb": {
        "rendered": {"widget_views": 1, "sliders": 3, "buttons": 1, "progress": 1,
                     "heatmaps": 1, "fit_images": 1, "mse_tables": 1},
        "explorer_click": True, "probes": 1},
    "03_split_mnist.ipynb": {
        "rendered": {"widget_views": 1, "sliders": 3, "buttons": 1, "progress": 1, "heatmaps": 1},
        "explorer_click": False, "probes": 2},
}


def check(findings: dict) -> list[str]:
    """Every failed expectation as a readable line (empty list = pass)."""
    failures = []
    progress, rendered = findings["progress"], findings["rendered"]
    failures += [f"cell raised: {e}" for e in progress["errors"]]
    if progress["executed"] != progress["total"]:
        failures.append(f"only {progress['executed']} of {progress['total']} code cells executed")
    expectations = findings.get("expect", EXPECTATIONS[NOTEBOOK.name])["rendered"]
    for key, minimum in expectations.items():
        if rendered[key] < minimum:
            failures.append(f"expected at least {minimum} rendered {key}, found {rendered[key]}")
    if rendered["error_widgets"]:
        failures.append(f"{rendered['error_widgets']} widget(s) failed to display (error placeholder shown)")
    for text in WIDGET_ERRORS:
        if text in rendered["text"]:
            failures.append(f"page shows {text!r}")
    failures += [f"browser console: {line}" for line in findings["console"]]
    if findings["clicked"]:
        failures.append(f"explorer click test: {findings['clicked']}")
    failures += [f"probe test: {p}" for p in findings.get("probed", [])]
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=240.0,
                        help="seconds allowed for running all cells (default 240)")
    parser.add_argument("--screenshots", type=Path, default=REPO_ROOT / "screenshots",
                        help="folder for the screenshots (default: <repo>/screenshots)")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK,
                        help="notebook to run (default: notebooks/01_continual_regression.ipynb)")
    args = parser.parse_args(argv)
    notebook = args.notebook.resolve()
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
                                " or run `make test-browser`, which does it")
    if not notebook.exists():
        raise FileNotFoundError(f"--notebook: file not found: {notebook}")
    expect = EXPECTATIONS.get(notebook.name, EXPECTATIONS[NOTEBOOK.name])
    if notebook.name != NOTEBOOK.name:  # other notebooks' screenshots go into a subfolder
        args.screenshots = args.screenshots / notebook.stem
    args.screenshots.mkdir(parents=True, exist_ok=True)

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hnet-browser-test-") as tmp:
        workdir = Path(tmp) / "notebooks"
        workdir.mkdir()
        shutil.copy(notebook, workdir / notebook.name)
        port, token = free_port(), secrets.token_hex(16)
        log_path = Path(tmp) / "jupyter-lab.log"
        server = start_lab(workdir, port, token, log_path)
        try:
            wait_for_server(port, token, server, timeout=90)
            url = f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}"
            findings = run_in_browser(url, args.screenshots, timeout=args.timeout, expect=expect)
        except Exception:
            print("---- jupyter lab log (tail) ----\n" + log_path.read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            stop_process_group(server)

    failures = check(findings)
    summary = {k: v for k, v in findings["rendered"].items() if k != "text"}
    print(f"cells executed: {findings['progress']['executed']}/{findings['progress']['total']}; "
          f"rendered: {summary}; {time.monotonic() - start:.1f} s; screenshots in {args.screenshots}")
    if failures:
        print("BROWSER TEST FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
