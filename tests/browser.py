"""The explorer page in headless Chromium, for tests/test_explorer.py.

Two ways in:
- self_test(): Debian's `chromium --dump-dom` on explorer.html#selftest
  (benchmarks/chromium.py, which benchmarks/explorer_check.py uses too).
- browser(): Playwright (PyPI's `playwright`) driving that same system Chromium, for what
  needs a real window: sizes, keys, the address, axe-core. Never `playwright install`:
  the project's machines reach package registries only, and the system Chromium is enough.
"""

import contextlib
import os
from pathlib import Path

from benchmarks.chromium import CHROMIUM, CHROMIUM_FLAGS, NO_CHROMIUM, self_test  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
# axe-core, the accessibility checker, from npm: .ci/run installs it here.
AXE = Path(os.environ.get("AXE_CORE", REPO / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"))
NO_AXE = (f"needs axe-core at {AXE}: npm install --no-save --prefix .ci/node axe-core@4 "
          "(or set AXE_CORE to its axe.min.js)")


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
