"""Regenerates the README's screenshots of the Train Health tab.

    python docs/take_screenshots.py            # trains the demo runs first
    python docs/take_screenshots.py --logdir demo_logs

Starts a real TensorBoard on the demo's logdir and photographs the tab in
headless Chromium (Debian's, at /usr/bin/chromium) with Playwright.
"""

import argparse
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests import tb_process  # noqa: E402

SHOTS = {"screenshot.png": "dead_relu", "screenshot_unscaled.png": "unscaled_inputs",
         "screenshot_overfitting.png": "overfitting"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", help="an existing demo logdir")
    parser.add_argument("--out", default=os.path.join(REPO, "docs"))
    args = parser.parse_args(argv)
    logdir = args.logdir
    if logdir is None:
        logdir = tempfile.mkdtemp(prefix="trainhealth_demo_")
        subprocess.run([sys.executable, os.path.join(REPO, "demo", "train_demo.py"),
                        "--logdir", logdir], check=True)

    from playwright.sync_api import sync_playwright

    with tb_process.TensorBoardProcess(logdir, load_fast=True) as tb, \
            sync_playwright() as playwright:
        tb.wait_for_plugin("trainhealth")
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        page.goto(tb.url + "/data/plugin_entry.html?name=trainhealth")
        page.locator(".th-heatmap").first.wait_for()
        for filename, run in SHOTS.items():
            page.locator("#th-run-picker").select_option(run)
            page.locator(".th-status-text", has_text=run).wait_for()
            page.locator(".th-heatmap").first.wait_for()
            page.wait_for_timeout(500)
            path = os.path.join(args.out, filename)
            page.screenshot(path=path, full_page=True)
            print("wrote", path)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
