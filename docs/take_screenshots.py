"""Regenerates the README's screenshots of the Train Health tab.

    python docs/take_screenshots.py            # trains the demo runs first
    python docs/take_screenshots.py --logdir demo_logs

Starts a real TensorBoard on the demo's logdir and photographs the tab in
headless Chromium (Debian's, at /usr/bin/chromium) with Playwright:

  screenshot.png             the dead_relu run, whole page
  screenshot_unscaled.png    the unscaled_inputs run, whole page
  screenshot_overfitting.png the overfitting run, whole page
  screenshot_compare.png     the demo's runs overlaid (run comparison)
  screenshot_zoom.png        dead_relu zoomed in, an alert's evidence shown
  screenshot_dark.png        the tab inside TensorBoard, dark theme
  screenshot_big_model.png   a 200-layer model (benchmarks' generator,
                             2,000 steps): healthy layers folded
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "benchmarks"))

from tests import tb_process  # noqa: E402

WHOLE_PAGES = {"screenshot.png": "dead_relu",
               "screenshot_unscaled.png": "unscaled_inputs",
               "screenshot_overfitting.png": "overfitting"}
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu",
               "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 900}


def show_run(frame, run):
    frame.locator(".th-run-name").filter(
        has_text=re.compile("^%s$" % re.escape(run))).click()
    frame.locator('.th-detail[data-run="%s"] .th-status-text' % run).wait_for()
    frame.locator(".th-heatmap canvas.th-heatmap-canvas").first.wait_for()


def settle(page):
    page.wait_for_timeout(600)


def clip_between(page, top_selector, bottom_selector, margin=8):
    """A clip rectangle of the page from one element's top to another's
    bottom, full width."""
    top = page.locator(top_selector).first.bounding_box()
    bottom = page.locator(bottom_selector).first.bounding_box()
    scroll = page.evaluate("window.scrollY")
    y0 = top["y"] + scroll - margin
    y1 = bottom["y"] + bottom["height"] + scroll + margin
    return {"x": 0, "y": max(0, y0), "width": VIEWPORT["width"],
            "height": y1 - max(0, y0)}


def drag(page, locator, start, end):
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end, y, steps=8)
    page.mouse.up()


def demo_shots(browser, tb, out):
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(tb.url + "/data/plugin_entry.html?name=trainhealth")
    page.locator(":root[data-rendered='true']").wait_for()
    for filename, run in WHOLE_PAGES.items():
        show_run(page, run)
        page.locator('[data-section="compare"] .th-chart').wait_for()
        settle(page)
        write(page.screenshot, out, filename, full_page=True)

    compare = page.locator('[data-section="compare"]')
    compare.scroll_into_view_if_needed()
    settle(page)
    write(compare.screenshot, out, "screenshot_compare.png")

    # Zoom into the first 150 steps of dead_relu and show an alert's
    # evidence (its layer outlined, its steps shaded, onset markers).
    show_run(page, "dead_relu")
    page.evaluate("window.scrollTo(0, 0)")
    chart = page.locator('.th-chart[data-chart="grad_norm_global"] .u-over')
    drag(page, chart, 0.0, 0.3)
    page.wait_for_function(
        "document.querySelector('.th-zoom-label').textContent !== "
        "'all steps'")
    page.locator(".th-alert").first.click()  # the run's primary alert
    settle(page)
    page.evaluate("window.scrollTo(0, 0)")
    settle(page)
    clip = clip_between(page, ".th-status",
                        '[data-section="heatmap:dead_fraction"]')
    write(page.screenshot, out, "screenshot_zoom.png", clip=clip,
          full_page=True)
    page.close()

    # Inside TensorBoard, in its dark theme.
    page = browser.new_page(viewport=VIEWPORT)
    page.emulate_media(color_scheme="dark")
    page.goto(tb.url + "/#trainhealth&p.trainhealth.run=unscaled_inputs")
    frame = page.frame_locator("iframe")
    frame.locator(":root[data-rendered='true']").wait_for()
    frame.locator(".th-heatmap canvas.th-heatmap-canvas").first.wait_for()
    # The learning-rate chart at the top, below the sticky toolbar.
    frame.locator('[data-section="learning_rate"]').evaluate(
        """node => {
            node.scrollIntoView({block: 'start'});
            const bar = document.querySelector('.th-toolbar');
            window.scrollBy(0, -bar.offsetHeight - 8);
        }""")
    settle(page)
    write(page.screenshot, out, "screenshot_dark.png")
    page.close()


def big_model_shot(browser, out):
    import generate_scale_logdir

    logdir = tempfile.mkdtemp(prefix="trainhealth_big_")
    generate_scale_logdir.write_run(os.path.join(logdir, "deep_200_layers"),
                                    200, 2000, seed=0)
    with tb_process.TensorBoardProcess(logdir, load_fast=True) as tb:
        tb.wait_for_plugin("trainhealth", timeout=120)
        tb_process.wait_for(
            lambda: tb.get_json("/data/plugin/trainhealth/run?"
                                "run=deep_200_layers")["signals"]
            ["grad_norm"]["records"] == 2000, 120, "big run loaded")
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(tb.url + "/data/plugin_entry.html?name=trainhealth")
        page.locator(":root[data-rendered='true']").wait_for()
        page.locator(".th-heatmap canvas.th-heatmap-canvas").first.wait_for()
        settle(page)
        clip = clip_between(page, ".th-header",
                            '[data-section="heatmap:grad_norm"]')
        write(page.screenshot, out, "screenshot_big_model.png", clip=clip,
              full_page=True)
        page.close()


def write(shoot, out, filename, **kwargs):
    path = os.path.join(out, filename)
    shoot(path=path, **kwargs)
    print("wrote", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", help="an existing demo logdir")
    parser.add_argument("--out", default=os.path.join(REPO, "docs"))
    parser.add_argument("--no-big-model", action="store_true",
                        help="skip the 200-layer screenshot")
    args = parser.parse_args(argv)
    logdir = args.logdir
    if logdir is None:
        logdir = tempfile.mkdtemp(prefix="trainhealth_demo_")
        subprocess.run([sys.executable, os.path.join(REPO, "demo", "train_demo.py"),
                        "--logdir", logdir], check=True)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=LAUNCH_ARGS)
        runs = [d for d in os.listdir(logdir)
                if os.path.isdir(os.path.join(logdir, d))]
        with tb_process.TensorBoardProcess(logdir, load_fast=True) as tb:
            tb.wait_for_plugin("trainhealth")
            tb_process.wait_for(
                lambda: len(tb.get_json("/data/plugin/trainhealth/runs")
                            ["runs"]) == len(runs), 120, "every run listed")
            demo_shots(browser, tb, args.out)
        if not args.no_big_model:
            big_model_shot(browser, args.out)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
