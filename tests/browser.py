"""Opening the explorer page in headless Chromium, for tests/test_explorer.py and
benchmarks/explorer_check.py (which adds this folder to sys.path).

Two ways in:
- self_test(): Debian's `chromium --dump-dom` on explorer.html#selftest. The page runs its
  networks on every embedded test image, clicks one pixel per feature-map layer and writes
  the results into itself (explorer.js, selfTest). Needs only the chromium package.
- browser(): Playwright (PyPI's `playwright`) driving that same system Chromium, for what
  needs a real window: sizes, keys, the address, axe-core. Never `playwright install`:
  the project's machines reach package registries only, and the system Chromium is enough.
"""

import contextlib
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")
NO_CHROMIUM = "needs Chromium: install Debian's `chromium` package (apt-get install chromium)"
# How the project's checks open the page: headless, and kept off the network (the page must need none).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# axe-core, the accessibility checker, from npm: .ci/run installs it here.
AXE = Path(os.environ.get("AXE_CORE", REPO / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"))
NO_AXE = (f"needs axe-core at {AXE}: npm install --no-save --prefix .ci/node axe-core@4 "
          "(or set AXE_CORE to its axe.min.js)")


def self_test(page, chromium, profile_dir):
    """Open `page`#selftest in headless Chromium and return what the page wrote into itself:
    {"images", "cnn", "dnn" (probabilities per image), "cnnClasses", "dnnClasses", "forwardMs",
    "updateMs", "clicks"}."""
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--dump-dom",
                          f"{Path(page).absolute().as_uri()}#selftest"],
                         capture_output=True, text=True, timeout=300).stdout
    # The last match: the script's own text, dumped above it, may mention the element.
    found = re.findall(r'<pre id="selftest">(\{.*?\})</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"{page}#selftest wrote no results; the end of its page:\n{dom[-2000:]}")
    return json.loads(html.unescape(found[-1]))


def playwright_missing():
    """Why Playwright cannot drive Chromium here, or None."""
    if CHROMIUM is None:
        return NO_CHROMIUM
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs Playwright: pip install -r requirements-test.txt (it drives the system chromium)"
    return None


@contextlib.contextmanager
def browser():
    """A headless Chromium driven by Playwright: the system's, with the project's flags."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(chromium, page_file, width, height, hash=""):
    """A new tab of `width` x `height` CSS pixels on page_file#hash, its console errors collected
    in tab.errors."""
    tab = chromium.new_page(viewport={"width": width, "height": height})
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    tab.goto(Path(page_file).absolute().as_uri() + (f"#{hash}" if hash else ""))
    tab.wait_for_function("window.explorerReady === true")
    return tab


def axe_violations(tab):
    """axe-core's violations on the tab's page, as [(impact, id, number of nodes, first target)]."""
    tab.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = tab.evaluate("axe.run(document).then(r => r.violations.map(v => "
                         "[v.impact, v.id, v.nodes.length, v.nodes[0].target.join(' ')]))")
    return [tuple(v) for v in found]
