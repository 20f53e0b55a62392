"""The explorer page in Debian's headless Chromium, kept off the network: how
benchmarks/explorer_check.py and the tests (tests/browser.py) open it.

self_test() runs `chromium --dump-dom` on explorer.html#selftest: the page runs its
networks on every embedded test image, clicks and keys its way through its panels and
writes the results into itself (convlab/explorer_page/selftest.js), which the dumped page
hands back. It needs only the chromium package, no Python browser driver.
"""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium")
NO_CHROMIUM = "needs Chromium: install Debian's `chromium` package (apt-get install chromium)"
# Headless, and kept off the network (the page must need none).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def self_test(page, profile_dir, chromium=CHROMIUM):
    """Open `page`#selftest in headless Chromium and return what the page wrote into itself:
    {"images", "cnn", "dnn" (probabilities per image), "cnnClasses", "dnnClasses", "forwardMs",
    "updateMs", "clicks", "keyboard"}."""
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--dump-dom",
                          f"{Path(page).absolute().as_uri()}#selftest"],
                         capture_output=True, text=True, timeout=300).stdout
    # The last match: the scripts' own text, dumped above it, may mention the element.
    found = re.findall(r'<pre id="selftest">(\{.*?\})</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"{page}#selftest wrote no results; the end of its page:\n{dom[-2000:]}")
    return json.loads(html.unescape(found[-1]))
