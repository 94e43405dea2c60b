"""The Train Health tab in a real browser against a real TensorBoard.

Chromium (Debian's, driven by Playwright, headless) loads TensorBoard's own
page and the plugin's iframe, and checks what a user sees and does: the run
picker (mouse and keyboard), its search and bounded list over a few
hundred runs, some still pending diagnosis, run comparison, the heatmaps'
tooltips and known colours, drag-to-zoom shared by every chart and
heatmap, alert evidence, the layer filter and folding, dark mode, state in
the URL, TensorBoard's reload with new data, empty, partial and error
states, and that hostile names stay text. Every console error and uncaught
page error fails a test.

One TensorBoard process (multiplexer, reloading every 2 s) and one browser
serve the module; the how-to, many-runs and demo tests start their own
TensorBoard. The last test trains the demo's runs and opens them in the tab.
"""

import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.parse

import pytest

from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth.writer import SummaryWriter

from tests import logdir_fixtures as fx
from tests import tb_process

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu",
               "--disable-background-networking"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_RUNS = ["dead_relu", "healthy", "loss_mismatch", "overfitting",
             "unscaled_inputs"]
RUNS = sorted([fx.HOSTILE_RUN, "broken", "live", "long", "mlp", "wide"])
LONG_STEPS = 3000  # more records than a screen shows: averaged until zoomed
TIMEOUT_MS = 30000

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="needs Chromium at %s" % CHROMIUM)

XSS_FLAGS = "() => [window.__thRunXss, window.__thLayerXss]"
VIRIDIS_HIGH = [253, 231, 37]  # the colour of 1.0 on a [0, 1] scale
VIRIDIS_LOW = [68, 1, 84]  # and of 0.0
STEP_VIEWS = ["grad_norm_global", "loss", "learning_rate", "epoch_loss"]
HEATMAP_SIGNALS = ["dead_fraction", "saturation", "grad_norm",
                   "update_ratio"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("browser_logs"))
    fx.write_logdir(root)
    fx.write_run(os.path.join(root, "live"))
    fx.write_wide_run(os.path.join(root, "wide"))
    fx.write_run(os.path.join(root, "long"), steps=LONG_STEPS)
    fx.write_broken_run(os.path.join(root, "broken"))
    return root


def wait_until_diagnosed(tb, count):
    """Until `count` runs are listed, and diagnosed (/runs diagnoses for a
    bounded time per request and answers "pending" for the runs it has
    not reached)."""
    tb.wait_for_plugin("trainhealth")
    tb_process.wait_for(
        lambda: (lambda body: len(body["runs"]) == count
                 and not body["pending"])(
            tb.get_json("/data/plugin/trainhealth/runs")),
        60, "all runs listed and diagnosed")


@pytest.fixture(scope="module")
def tensorboard(logdir):
    with tb_process.TensorBoardProcess(logdir, load_fast=False) as tb:
        wait_until_diagnosed(tb, len(RUNS))
        yield tb


class PageErrors:
    """Console errors and uncaught exceptions of a page and its frames."""

    def __init__(self, page):
        self.errors = []
        self.expected = []  # regexes of errors a test provokes on purpose
        page.on("console", self._on_console)
        page.on("pageerror", lambda e: self.errors.append("pageerror: %s" % e))

    def _on_console(self, message):
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        # A top-level plugin_entry.html page asks for a favicon TensorBoard
        # does not serve there; that request is the browser's, not ours.
        if url.endswith("/favicon.ico"):
            return
        text = "console: %s (%s)" % (message.text, url)
        if any(re.search(p, text) for p in self.expected):
            return
        self.errors.append(text)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = PageErrors(page)
    try:
        yield page, errors
    finally:
        context.close()


def css_string(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def open_tab(page, tb, state=None):
    """TensorBoard's page on our tab (optionally with p.trainhealth.*
    state in the hash); returns the plugin iframe's FrameLocator."""
    url = tb.url + "/#trainhealth"
    for key, value in (state or {}).items():
        url += "&%s=%s" % (urllib.parse.quote("p.trainhealth." + key),
                           urllib.parse.quote(value, safe=""))
    page.goto(url)
    frame = page.frame_locator("iframe")
    frame.locator(":root[data-rendered='true']").wait_for()
    frame.locator(".th-detail .th-status-text").wait_for()
    return frame


def open_plugin_page(page, tb):
    """The plugin's entry page on its own (no TensorBoard around it)."""
    page.goto(tb.url + "/data/plugin_entry.html?name=trainhealth")
    page.locator(":root[data-rendered='true']").wait_for()
    return page


def plugin_frame(page):
    return next(f for f in page.frames if "plugin_entry" in f.url)


def show_run(frame, run):
    frame.locator(".th-run-name").filter(
        has_text=re.compile("^%s$" % re.escape(run))).click()
    wait_for_run(frame, run)


def wait_for_run(frame, run):
    detail = frame.locator(".th-detail[data-run=%s]" % css_string(run))
    detail.locator(".th-status-text").wait_for()
    return detail


def heatmap_labels(frame, signal):
    return frame.locator(
        '.th-heatmap[data-signal="%s"] .th-heatmap-label' % signal
    ).all_text_contents()


def canvas_row_colour(frame, signal, row):
    """The RGB drawn in the middle of `row` of a heatmap's canvas."""
    return frame.locator(
        '.th-heatmap[data-signal="%s"] canvas.th-heatmap-canvas' % signal
    ).evaluate("""(canvas, row) => {
        const labels = canvas.closest('.th-heatmap')
            .querySelectorAll('.th-heatmap-label');
        const label = labels[row].getBoundingClientRect();
        const box = canvas.getBoundingClientRect();
        const ratio = canvas.width / box.width;
        const y = Math.floor((label.top + label.height / 2 - box.top) * ratio);
        const x = Math.floor(canvas.width / 2);
        const d = canvas.getContext('2d').getImageData(x, y, 1, 1).data;
        return [d[0], d[1], d[2]];
    }""", row)


def x_ranges(frame):
    """{chart id or heatmap signal: (x min, x max)} of the run's views."""
    out = {}
    views = frame.locator(".th-detail .th-chart, .th-detail .th-heatmap")
    for i in range(views.count()):
        view = views.nth(i)
        key = view.get_attribute("data-chart") or view.get_attribute(
            "data-signal")
        out[key] = (int(view.get_attribute("data-x-min")),
                    int(view.get_attribute("data-x-max")))
    return out


def drag(page, locator, start, end):
    """Drags across `locator` from fraction `start` to `end` of its width."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end, y, steps=8)
    page.mouse.up()


def hash_params(page):
    """The p.trainhealth.* keys of TensorBoard's URL hash."""
    fragment = urllib.parse.urlsplit(page.url).fragment
    out = {}
    for segment in fragment.split("&"):
        key, _, value = segment.partition("=")
        key = urllib.parse.unquote(key)
        if key.startswith("p.trainhealth."):
            out[key[len("p.trainhealth."):]] = urllib.parse.unquote(value)
    return out


def toolbar_bottom(frame):
    """Where the sticky toolbar ends, in the plugin page's viewport."""
    return frame.locator(".th-toolbar").evaluate(
        "n => n.getBoundingClientRect().bottom")


def wait_until(check, timeout=30, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s" % what)


# ---------------------------------------------------------------- tests


def test_tab_inside_tensorboard(page, tensorboard):
    page, errors = page
    frame = open_tab(page, tensorboard)

    names = frame.locator(".th-run-name").all_text_contents()
    assert names == RUNS
    badges = frame.locator(".th-run-item .th-badge").all_text_contents()
    assert len(badges) == len(RUNS)
    assert set(badges) <= {"ok", "warning", "critical", "unknown"}

    # The first run is shown: its hostile layer name is a text label.
    wait_for_run(frame, fx.HOSTILE_RUN)
    assert heatmap_labels(frame, "dead_fraction") == [fx.HOSTILE_LAYER,
                                                      "dense_1"]
    plugin = plugin_frame(page)
    assert plugin.evaluate(XSS_FLAGS) == [None, None]
    assert plugin.evaluate("() => document.querySelectorAll('img').length") == 0

    # TensorBoard's reload button reaches the tab (experimental.DataReloaded)
    # and the shown run is kept.
    show_run(frame, "mlp")
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    with page.expect_response(lambda r: "signal=update_ratio" in r.url,
                              timeout=15000) as last:
        page.locator(".reload-button").click()
    assert any("/trainhealth/runs" in u for u in requests)
    assert "run=mlp" in last.value.url
    page.wait_for_timeout(300)
    assert frame.locator(".th-run-name[aria-pressed=true]").text_content() == "mlp"
    assert heatmap_labels(frame, "dead_fraction") == ["dense", "dense_1"]
    assert errors.errors == []


def test_heatmaps_show_known_values_and_tooltips(page, tensorboard):
    page, errors = page
    frame = open_tab(page, tensorboard, {"run": "mlp"})
    wait_for_run(frame, "mlp")
    assert heatmap_labels(frame, "dead_fraction") == ["dense", "dense_1"]
    assert heatmap_labels(frame, "saturation") == ["gate"]
    assert heatmap_labels(frame, "grad_norm") == ["dense", "dense_1", "gate"]
    assert heatmap_labels(frame, "update_ratio") == ["dense", "dense_1",
                                                     "gate"]
    # dense is alive (0.0), dense_1 dead (1.0).
    assert canvas_row_colour(frame, "dead_fraction", 0) == VIRIDIS_LOW
    assert canvas_row_colour(frame, "dead_fraction", 1) == VIRIDIS_HIGH

    # Hovering a cell of the dead layer: layer, step and value.
    canvas = frame.locator('.th-heatmap[data-signal="dead_fraction"] '
                           'canvas.th-heatmap-canvas')
    label = frame.locator('.th-heatmap[data-signal="dead_fraction"] '
                          '.th-heatmap-label').nth(1)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    row = label.bounding_box()
    # Step 15 of 0..29: the cell under the middle of the plot.
    page.mouse.move(box["x"] + box["width"] * 15.5 / 30,
                    row["y"] + row["height"] / 2)
    tooltip = frame.locator(".th-tooltip")
    tooltip.wait_for(state="visible")
    assert tooltip.text_content().split("\n") == [
        "dense_1", "step 15", "dead fraction: 1"]
    page.mouse.move(box["x"] + box["width"] * 3.5 / 30,
                    box["y"] + 10 + 2)  # row 0 starts under the marker strip
    assert tooltip.text_content().split("\n")[:2] == ["dense", "step 3"]

    # Hovering a chart: the read-out of step and value, on every chart
    # of the run at once (a shared cursor).
    over = frame.locator('.th-chart[data-chart="grad_norm_global"] .u-over')
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 20 / 29, box["y"] + 20)
    readout = frame.locator('.th-chart[data-chart="grad_norm_global"] '
                            '.th-readout')
    assert readout.text_content() == "step 20: gradient norm 5"
    loss_readout = frame.locator('.th-chart[data-chart="loss"] .th-readout')
    assert loss_readout.text_content() == "step 20: loss 0.04762"

    # Charts: log axis for norms, NaN/Inf marked, epochs with the gap.
    legend = " ".join(frame.locator(".th-legend").all_text_contents())
    assert "NaN/Inf" in legend and "val_loss" in legend and "gap" in legend
    assert errors.errors == []


def test_drag_zoom_is_shared_and_kept_in_the_url(page, tensorboard):
    page, errors = page
    frame = open_tab(page, tensorboard, {"run": "mlp"})
    wait_for_run(frame, "mlp")
    before = x_ranges(frame)
    assert set(before) == set(STEP_VIEWS + HEATMAP_SIGNALS)
    assert set(before.values()) == {(0, 29)}

    drag(page, frame.locator('.th-chart[data-chart="grad_norm_global"] '
                             '.u-over'), 0.25, 0.6)
    zoomed = wait_until(
        lambda: (lambda r: r if r["loss"] != (0, 29) else None)(
            x_ranges(frame)), what="zoom")
    # Every chart and heatmap of the run follows the same range.
    assert len(set(zoomed.values())) == 1, zoomed
    lo, hi = zoomed["loss"]
    assert 5 <= lo <= 9 and 16 <= hi <= 20, zoomed
    assert frame.locator(".th-zoom-label").text_content().startswith(
        "steps %d–%d" % (lo, hi))
    # The zoom, the run and TensorBoard's own tab are in the URL.
    assert hash_params(page)["zoom"] == "%d,%d" % (lo, hi)
    assert hash_params(page)["run"] == "mlp"
    assert urllib.parse.urlsplit(page.url).fragment.startswith("trainhealth")

    # Dragging on a heatmap zooms too, within the zoomed range.
    drag(page, frame.locator('.th-heatmap[data-signal="grad_norm"] '
                             'canvas.th-heatmap-canvas'), 0.0, 0.5)
    inner = wait_until(
        lambda: (lambda r: r if r["loss"] != (lo, hi) else None)(
            x_ranges(frame)), what="second zoom")
    assert len(set(inner.values())) == 1
    assert lo <= inner["loss"][0] < inner["loss"][1] <= hi

    # A link reproduces the view: a fresh page on the same URL.
    url = page.url
    page2 = page.context.new_page()
    errors2 = PageErrors(page2)
    page2.goto(url)
    frame2 = page2.frame_locator("iframe")
    wait_for_run(frame2, "mlp")
    wait_until(lambda: x_ranges(frame2).get("loss") == inner["loss"],
               what="zoom restored from the URL")
    assert len(set(x_ranges(frame2).values())) == 1
    page2.close()

    # Double-click zooms out everywhere.
    frame.locator('.th-chart[data-chart="loss"] .u-over').dblclick()
    wait_until(lambda: set(x_ranges(frame).values()) == {(0, 29)},
               what="zoom reset")
    assert "zoom" not in hash_params(page)
    assert errors.errors == [] and errors2.errors == []


def test_zooming_in_fetches_full_resolution(page, tensorboard):
    page, errors = page
    frame = open_tab(page, tensorboard, {"run": "long"})
    wait_for_run(frame, "long")
    heatmap = frame.locator('.th-heatmap[data-signal="dead_fraction"]')
    chart = frame.locator('.th-detail .th-chart[data-chart="loss"]')
    # The whole run: 3000 records averaged to the screen's width.
    assert "3000 records averaged" in heatmap.locator(
        ".th-heatmap-legend").text_content()
    whole_points = int(chart.get_attribute("data-points"))
    assert whole_points < LONG_STEPS
    with page.expect_response(lambda r: "signal=update_ratio" in r.url
                              and "start_step=" in r.url) as zoomed:
        drag(page, chart.locator(".u-over"), 0.3, 0.45)
    assert "run=long" in zoomed.value.url
    lo, hi = wait_until(lambda: (lambda r: r if r["loss"] != (0, 2999)
                                 else None)(x_ranges(frame)),
                        what="zoom")["loss"]
    # Every record of the range, no averaging any more.
    wait_until(lambda: "averaged" not in heatmap.locator(
        ".th-heatmap-legend").text_content(), what="full resolution")
    assert int(chart.get_attribute("data-points")) == hi - lo + 1
    # Zooming out goes back to the whole run at once.
    chart.locator(".u-over").dblclick()
    wait_until(lambda: chart.get_attribute("data-points") ==
               str(whole_points), what="whole run again")
    assert errors.errors == []


def test_alert_click_shows_its_evidence(page, tensorboard):
    page, errors = page
    frame = open_tab(page, tensorboard, {"run": "mlp"})
    wait_for_run(frame, "mlp")
    alert = frame.locator('.th-alert[data-key^="dead_relu|dense_1|"]')
    alert.click()
    section = frame.locator('[data-section="heatmap:dead_fraction"]')
    wait_until(lambda: "th-evidence" in (section.get_attribute("class") or ""),
               what="evidence flashed")
    highlighted = frame.locator('.th-heatmap[data-signal="dead_fraction"] '
                                '.th-heatmap-label.th-highlight')
    assert highlighted.all_text_contents() == ["dense_1"]
    assert alert.get_attribute("aria-pressed") == "true"
    # Scrolled into view inside the iframe.
    top, bottom, height = plugin_frame(page).evaluate("""() => {
        const r = document.querySelector(
            '[data-section="heatmap:dead_fraction"]').getBoundingClientRect();
        return [r.top, r.bottom, window.innerHeight];
    }""")
    assert 0 <= top < height and bottom > 0
    # Below the sticky toolbar, which covers nothing it scrolled to.
    assert top >= toolbar_bottom(frame), (top, toolbar_bottom(frame))
    # The charts mark the alert's steps; the row is outlined on canvas.
    first, last = (alert.get_attribute("data-key").split("|")[2],
                   frame.locator(".th-alert-steps").first.text_content())
    chart = frame.locator('.th-chart[data-chart="grad_norm_global"]')
    assert chart.get_attribute("data-highlight").startswith(first + "-")

    # Keyboard: Enter on the same alert clears the highlight.
    alert.focus()
    page.keyboard.press("Enter")
    wait_until(lambda: highlighted.count() == 0, what="highlight cleared")
    assert alert.get_attribute("aria-pressed") == "false"
    assert chart.get_attribute("data-highlight") == ""

    # An alert without a layer shows a chart: the NaN alert of dense.
    nan = frame.locator('.th-alert[data-key^="non_finite|"]')
    nan.click()
    wait_until(lambda: frame.locator(".th-evidence").count() >= 1,
               what="evidence of the NaN alert")
    evidence = frame.locator(".th-evidence").first
    assert evidence.evaluate("n => n.getBoundingClientRect().top") >= \
        toolbar_bottom(frame)
    assert errors.errors == []


def test_run_picker_by_keyboard_and_comparison(page, tensorboard):
    page, errors = page
    frame = open_tab(page, tensorboard)
    wait_for_run(frame, RUNS[0])
    compare = frame.locator('[data-section="compare"]')
    # By default every run is ticked; runs without the signal are left out
    # of the chart (broken has a loss, wide too).
    legend = compare.locator(".th-legend-label")
    wait_until(lambda: legend.count() >= 4, what="compare legend")
    assert set(legend.all_text_contents()) <= set(RUNS)

    # Keyboard: from the first run's button, ArrowDown twice, Enter.
    frame.locator(".th-run-name").first.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    wait_for_run(frame, RUNS[2])
    assert frame.locator(".th-run-name[aria-pressed=true]").text_content() \
        == RUNS[2]
    assert hash_params(page)["run"] == RUNS[2]

    # Untick all but two runs (Space on the checkbox), overlay them.
    frame.get_by_role("button", name="none").click()
    wait_until(lambda: "Tick runs" in compare.text_content(),
               what="empty comparison")
    for run in ("live", "mlp"):
        box = frame.get_by_label("Compare %s" % run, exact=True)
        box.focus()
        page.keyboard.press("Space")
        assert box.is_checked()
    wait_until(lambda: legend.all_text_contents() == ["live", "mlp"],
               what="two runs overlaid")
    assert json.loads(hash_params(page)["runs"]) == ["live", "mlp"]
    # Each run in its colour.
    colours = compare.locator(".th-legend-item .th-swatch").evaluate_all(
        "items => items.map(i => getComputedStyle(i).borderTopColor)")
    assert len(set(colours)) == 2

    # Another signal: the validation gap per epoch.
    frame.get_by_label("Validation gap").check()
    frame.locator('.th-chart[data-chart="compare_gap"]').wait_for()
    assert hash_params(page)["signal"] == "gap"
    assert compare.locator(".th-legend-label").all_text_contents() == [
        "live", "mlp"]
    assert errors.errors == []


def test_layer_filter_and_folding(page, tensorboard):
    page, errors = page
    frame = open_tab(page, tensorboard, {"run": "wide"})
    wait_for_run(frame, "wide")
    heatmap = frame.locator('.th-heatmap[data-signal="dead_fraction"]')
    alerts = " ".join(frame.locator(".th-alert-layer").all_text_contents())
    # 40 layers: healthy ones are folded by default, the dead one shows.
    assert frame.locator("#th-collapse").is_checked()
    folds = heatmap.locator(".th-fold")
    assert "layer_17" in alerts  # dead for all 20 records
    assert heatmap_labels(frame, "dead_fraction") == ["layer_17"]
    assert folds.all_text_contents() == ["▸ 17 healthy layers",
                                         "▸ 22 healthy layers"]
    assert heatmap.get_attribute("data-folded") == "39"

    # A fold opens with the keyboard.
    folds.first.focus()
    page.keyboard.press("Enter")
    wait_until(lambda: len(heatmap_labels(frame, "dead_fraction")) >= 17,
               what="fold opened")

    # Without folding, the filter (a regular expression) picks layers.
    frame.locator("#th-collapse").uncheck()
    wait_until(lambda: len(heatmap_labels(frame, "dead_fraction")) == 40,
               what="all 40 layers")
    frame.get_by_label("Filter layers by name").fill("layer_0[0-4]")
    wait_until(lambda: heatmap_labels(frame, "dead_fraction") == [
        "layer_00", "layer_01", "layer_02", "layer_03", "layer_04"],
        what="filtered layers")
    assert heatmap_labels(frame, "grad_norm") == [
        "layer_00", "layer_01", "layer_02", "layer_03", "layer_04"]
    assert hash_params(page)["filter"] == "layer_0[0-4]"
    assert hash_params(page)["collapse"] == "0"
    assert errors.errors == []


def test_dark_mode_follows_tensorboard(page, tensorboard):
    page, errors = page
    frame = open_tab(page, tensorboard, {"run": "mlp"})
    plugin = plugin_frame(page)
    light = plugin.evaluate("getComputedStyle(document.body).backgroundColor")
    assert light == "rgb(255, 255, 255)"
    assert plugin.evaluate("document.documentElement.dataset.theme") == "light"

    # TensorBoard's own theme menu switches the tab too.
    page.get_by_label("Menu for changing light or dark theme").click()
    page.get_by_role("menuitem", name=re.compile("^Dark")).click()
    wait_until(lambda: page.evaluate(
        "document.body.classList.contains('dark-mode')"), what="TB dark")
    wait_until(lambda: plugin.evaluate(
        "document.documentElement.dataset.theme") == "dark", what="tab dark")
    assert plugin.evaluate(
        "getComputedStyle(document.body).backgroundColor") == "rgb(30, 30, 30)"
    # The charts redraw in the dark theme: light axis labels.
    axis = frame.locator('.th-chart[data-chart="loss"] canvas').evaluate(
        """canvas => {
            const d = canvas.getContext('2d').getImageData(
                0, 0, canvas.width, canvas.height).data;
            let light = 0;
            for (let i = 0; i < d.length; i += 4) {
                if (d[i + 3] > 200 && d[i] > 180 && d[i + 1] > 180 &&
                    d[i + 2] > 180) light++;
            }
            return light;
        }""")
    assert axis > 50

    page.get_by_label("Menu for changing light or dark theme").click()
    page.get_by_role("menuitem", name=re.compile("^Light")).click()
    wait_until(lambda: plugin.evaluate(
        "document.documentElement.dataset.theme") == "light",
        what="tab light again")
    assert errors.errors == []


def test_dark_mode_follows_the_system_outside_tensorboard(page, tensorboard):
    page, errors = page
    page.emulate_media(color_scheme="dark")
    open_plugin_page(page, tensorboard)
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.emulate_media(color_scheme="light")
    wait_until(lambda: page.evaluate(
        "document.documentElement.dataset.theme") == "light", what="light")
    assert errors.errors == []


def test_reload_shows_new_steps_and_keeps_the_view(page, tensorboard, logdir):
    page, errors = page
    frame = open_tab(page, tensorboard, {"run": "live",
                                         "runs": '["live","mlp"]'})
    wait_for_run(frame, "live")
    chart = frame.locator('.th-detail .th-chart[data-chart="grad_norm_global"]')
    assert chart.get_attribute("data-last-step") == "29"
    drag(page, chart.locator(".u-over"), 0.2, 0.7)
    zoom = wait_until(lambda: (lambda r: r if r["loss"] != (0, 29) else None)(
        x_ranges(frame)), what="zoom")["loss"]
    plugin = plugin_frame(page)
    plugin.evaluate("window.scrollTo(0, 400)")
    scroll = plugin.evaluate("document.scrollingElement.scrollTop")
    assert scroll > 300

    # The training goes on: steps 30..59 appear in a new event file.
    fx.write_run(os.path.join(logdir, "live"), start=30)

    def reloaded():
        page.locator(".reload-button").click()
        page.wait_for_timeout(1000)
        return chart.get_attribute("data-last-step") == "59"
    wait_until(reloaded, timeout=30, interval=0.5, what="new steps shown")

    # Same run, same comparison, same zoom, same scroll position.
    assert frame.locator(".th-run-name[aria-pressed=true]").text_content() \
        == "live"
    assert frame.locator(".th-compare:checked").count() == 2
    assert set(x_ranges(frame).values()) == {zoom}
    assert abs(plugin.evaluate("document.scrollingElement.scrollTop")
               - scroll) <= 2
    assert hash_params(page)["zoom"] == "%d,%d" % zoom
    # The alert of the dead layer now runs to the new last step.
    steps = frame.locator('.th-alert[data-key^="dead_relu|dense_1|"] '
                          '.th-alert-steps')
    assert steps.text_content() == "steps 0–59"
    # Zooming out shows everything, the new steps included.
    frame.locator('.th-chart[data-chart="loss"] .u-over').dblclick()
    wait_until(lambda: set(x_ranges(frame).values()) == {(0, 59)},
               what="whole run")
    heatmap = frame.locator('.th-heatmap[data-signal="dead_fraction"]')
    assert "59" in heatmap.locator(".th-heatmap-axis").text_content() or \
        heatmap.get_attribute("data-x-max") == "59"
    assert errors.errors == []


def test_partial_run_shows_what_there_is(page, tensorboard):
    page, errors = page
    frame = open_tab(page, tensorboard, {"run": "broken"})
    detail = wait_for_run(frame, "broken")
    detail.locator('.th-chart[data-chart="loss"]').wait_for()
    problems = detail.locator(".th-problems-box")
    problems.locator("summary").click()
    assert "newer trainhealth" in problems.text_content()
    missing = detail.locator(".th-missing").text_content()
    assert "dead-ReLU fraction" in missing and "gradient norms" in missing
    assert detail.locator(".th-heatmap").count() == 0
    assert errors.errors == []


def test_error_state_says_what_to_do_and_recovers(page, tensorboard):
    page, errors = page
    errors.expected.append(r"status of 500")
    page.route("**/data/plugin/trainhealth/runs",
               lambda route: route.fulfill(status=500, body="disk on fire",
                                           content_type="text/plain"))
    page.goto(tensorboard.url + "/data/plugin_entry.html?name=trainhealth")
    banner = page.locator(".th-error-box")
    banner.wait_for()
    assert "500: disk on fire" in banner.text_content()
    assert "retries" in banner.text_content()
    page.unroute("**/data/plugin/trainhealth/runs")
    banner.get_by_role("button", name="Retry now").click()
    page.locator(".th-detail .th-status-text").wait_for()
    assert page.locator(".th-error-box").count() == 0
    assert errors.errors == []


def test_hostile_names_render_as_text(page, tensorboard):
    page, errors = page
    open_plugin_page(page, tensorboard)
    wait_for_run(page, fx.HOSTILE_RUN)
    assert heatmap_labels(page, "dead_fraction") == [fx.HOSTILE_LAYER,
                                                     "dense_1"]
    assert page.locator(".th-status-text").text_content().strip().startswith(
        fx.HOSTILE_RUN)
    assert fx.HOSTILE_RUN in page.locator(".th-run-name").all_text_contents()
    for alert_layer in page.locator(".th-alert-layer").all_text_contents():
        assert "<img" not in alert_layer or fx.HOSTILE_LAYER in alert_layer
    # Hover text of the hostile layer's row is text too.
    canvas = page.locator('.th-heatmap[data-signal="dead_fraction"] canvas.th-heatmap-canvas')
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + 14)
    assert page.locator(".th-tooltip").text_content().startswith(
        fx.HOSTILE_LAYER)
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    page.wait_for_timeout(300)  # an onerror would have fired by now
    assert page.evaluate(XSS_FLAGS) == [None, None]
    assert errors.errors == []


# ---------------------------------------------------------------- hostile
# and unusual data, written with the project's own writer: each run is one
# way a run's data can be legitimate but odd, or junk.

ATTENTION_LAYERS = ["transformer_block_%d/multi_head_attention_%d" % (i, i)
                    for i in range(30)]
# Catastrophic backtracking for a backtracking regex engine: 2^40 steps on
# each of these names.
CRAFTED_FILTER = "([a-z_0-9/]+)+!"
FLOAT32_LR = 0.0010000000474974513  # 0.001 as float32 reads back


def _relu_columns(names):
    return [{"name": n, "class": "Dense", "activation": "relu", "units": 4}
            for n in names]


def _nested(depth):
    doc = "bottom"
    for _ in range(depth):
        doc = {"deeper": doc}
    return doc


def write_attention_run(run_dir):
    """30 layers named like a Transformer's, recorded at steps 0..9."""
    columns = _relu_columns(ATTENTION_LAYERS)
    writer = SummaryWriter(run_dir)
    try:
        for step in range(10):
            writer.scalar(metadata.STEP_LOSS, step, 1.0 / (1 + step))
            writer.vector(metadata.LAYER_DEAD_FRACTION, step,
                          [0.1] * len(columns), columns)
    finally:
        writer.close()


def write_metric_names_run(run_dir):
    """Epoch metrics named `constructor` (no validation counterpart, so no
    gap) and `__proto__` (with one), beside the loss."""
    writer = SummaryWriter(run_dir)
    try:
        for step in range(9):
            writer.scalar(metadata.STEP_LOSS, step, 1.0 / (1 + step))
        for epoch in range(3):
            for key in ("loss", "val_loss", "constructor", "__proto__",
                        "val___proto__"):
                writer.scalar(metadata.epoch_tag(key), epoch, 1.0 + epoch)
            writer.scalar(metadata.EPOCH_END_STEP, epoch, 3 * epoch + 2)
    finally:
        writer.close()


def write_junk_run(run_dir):
    """Facts nested 800 deep (beside a float32 learning rate), a layer
    named 5, and a NaN epoch-end step."""
    columns = _relu_columns([5, "ok_layer"])
    writer = SummaryWriter(run_dir)
    try:
        writer.json(metadata.RUN_FACTS, 0, {
            "deep": _nested(800),
            "optimizer": {"class": "Adam", "learning_rate": FLOAT32_LR}})
        for step in range(10):
            writer.scalar(metadata.STEP_LOSS, step, 1.0 / (1 + step))
            writer.vector(metadata.LAYER_DEAD_FRACTION, step, [0.1, 1.0],
                          columns)
        for epoch in range(3):
            writer.scalar(metadata.epoch_tag("loss"), epoch, 1.0 - 0.1 * epoch)
            writer.scalar(metadata.EPOCH_END_STEP, epoch,
                          math.nan if epoch == 1 else 3 * epoch + 3)
    finally:
        writer.close()


def write_unfinished_run(run_dir):
    """Records every 4 steps up to step 20 of a 30-step fit: its three
    epochs ended at steps 9, 19 and 29."""
    columns = _relu_columns(["dense"])
    writer = SummaryWriter(run_dir)
    try:
        for step in range(0, 21, 4):
            writer.scalar(metadata.STEP_LOSS, step, 1.0 / (1 + step))
            writer.vector(metadata.LAYER_DEAD_FRACTION, step, [0.2], columns)
        for epoch, loss in enumerate([1.0, 0.5, 0.25]):
            writer.scalar(metadata.epoch_tag("loss"), epoch, loss)
            writer.scalar(metadata.epoch_tag("val_loss"), epoch, loss + 0.1)
            writer.scalar(metadata.EPOCH_END_STEP, epoch, 10 * epoch + 9)
    finally:
        writer.close()


def write_facts_run(run_dir):
    """The facts of a two-output model (CONTRACTS.md B): a loss per output,
    what the outputs measured on the probe, the targets, and the layers the
    probe did not inspect."""
    writer = SummaryWriter(run_dir)
    try:
        writer.json(metadata.RUN_FACTS, 0, {
            "losses": [
                {"output": "cls", "name": "binary_crossentropy",
                 "from_logits": False, "weight": 0.5},
                {"output": "reg", "name": "mse", "from_logits": None,
                 "weight": None}],
            "outputs": [
                {"output": "cls", "layer": "cls", "class": "Dense",
                 "activation": "sigmoid", "units": 1,
                 "measured": {"min": 0.019999999552965164,
                              "max": 0.9800000190734863, "mean": 0.5,
                              "in_unit_interval": True,
                              "rows_sum_to_one": None,
                              "prediction_std": 0.11999999731779099,
                              "top_class_share": 0.5099999904632568}},
                {"output": "reg", "layer": "reg", "class": "Dense",
                 "activation": "linear", "units": 1, "measured": None}],
            "targets": [{"output": "cls", "dtype": "int64", "shape": [1],
                         "integer_valued": True, "min": 0, "max": 1,
                         "mean": 0.5, "std": 0.5, "distinct": 2,
                         "one_hot": False, "multi_hot": False,
                         "classes": {"0": 30, "1": 34}}],
            "probe": {"samples": 44, "requested": 64,
                      "inspected": ["dense", "cls", "reg"],
                      "not_inspected": [
                          {"layer": "block/attention",
                           "reason": "inside a custom layer"}]},
        })
        for step in range(5):
            writer.scalar(metadata.STEP_LOSS, step, 1.0 / (1 + step))
    finally:
        writer.close()


def serve_alerts(page, run, alerts):
    """The plugin's /run answers for `run`, with `alerts` in place of the
    diagnosis's (alert dicts as the server passes them on, junk included)."""
    def with_alerts(route):
        response = route.fetch()
        body = response.json()
        body["alerts"] = alerts
        route.fulfill(response=response, body=json.dumps(body))

    page.route(re.compile(r".*/data/plugin/trainhealth/run\?run=%s(&.*)?$"
                          % re.escape(run)), with_alerts)


ODD_RUNS = {"attention": write_attention_run,
            "metric_names": write_metric_names_run,
            "junk": write_junk_run, "unfinished": write_unfinished_run,
            "facts": write_facts_run}


@pytest.fixture(scope="module")
def odd_tb(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("odd_runs"))
    for name, write in ODD_RUNS.items():
        write(os.path.join(root, name))
    with tb_process.TensorBoardProcess(root, load_fast=False) as tb:
        wait_until_diagnosed(tb, len(ODD_RUNS))
        yield tb


def test_a_crafted_filter_link_does_not_hang_the_page(page, odd_tb):
    page, errors = page
    frame = open_tab(page, odd_tb, {"run": "attention",
                                    "filter": CRAFTED_FILTER,
                                    "collapse": "0"})
    wait_for_run(frame, "attention")
    assert heatmap_labels(frame, "dead_fraction") == [
        "no layer matches the filter"]
    # The page answers, and the filter is still a regular expression.
    box = frame.get_by_label("Filter layers by name")
    box.fill(r"multi_head_attention_1[0-2]$")
    wait_until(lambda: heatmap_labels(frame, "dead_fraction") == [
        ATTENTION_LAYERS[10], ATTENTION_LAYERS[11], ATTENTION_LAYERS[12]],
        what="regex filter")
    # The crafted pattern typed key by key: every prefix is matched too.
    box.fill("")
    box.press_sequentially(CRAFTED_FILTER, delay=5)
    wait_until(lambda: heatmap_labels(frame, "dead_fraction") == [
        "no layer matches the filter"], what="crafted filter typed")
    assert hash_params(page)["filter"] == CRAFTED_FILTER
    assert errors.errors == []


def test_metric_names_from_data_are_only_names(page, odd_tb):
    page, errors = page
    frame = open_tab(page, odd_tb, {"run": "metric_names"})
    detail = wait_for_run(frame, "metric_names")
    for key in ("constructor", "__proto__", "loss"):
        chart = detail.locator('.th-chart[data-chart="epoch_%s"]' % key)
        chart.wait_for()
        assert chart.get_attribute("data-points") == "3", key
    legend = detail.locator('.th-chart[data-chart="epoch___proto__"] '
                            '.th-legend-label').all_text_contents()
    assert legend[:2] == ["__proto__", "val___proto__"]
    assert "gap" in legend
    assert detail.locator('.th-chart[data-chart="epoch_constructor"] '
                          '.th-legend-label').all_text_contents() == [
                              "constructor"]
    assert errors.errors == []


def test_junk_in_a_run_is_reported_and_the_rest_shown(page, odd_tb):
    page, errors = page
    junk_alerts = [
        "not an alert", None,
        {"kind": "dead_relu", "severity": "__proto__",
         "layer": {"name": _nested(50)}, "first_step": "soon",
         "message": "junk fields", "consequences": "none", "evidence": 7},
        {"kind": "stalled_loss", "severity": "warning", "layer": None,
         "first_step": 2, "last_step": 9, "message": "a readable alert",
         "advice": "", "evidence": {}}]

    # The server lists what the run's data holds; the diagnosis of such
    # data is the server's business: here its answer carries junk alerts.
    serve_alerts(page, "junk", junk_alerts)
    frame = open_tab(page, odd_tb, {"run": "junk"})
    detail = wait_for_run(frame, "junk")
    # The charts and heatmaps are there.
    detail.locator('.th-chart[data-chart="loss"]').wait_for()
    assert detail.locator('.th-chart[data-chart="loss"]').get_attribute(
        "data-points") == "10"
    assert heatmap_labels(frame, "dead_fraction") == ["5", "ok_layer"]
    # The epoch chart: an epoch-end step is NaN, so epochs, to the last.
    epoch_chart = detail.locator('.th-chart[data-chart="epoch_loss"]')
    assert epoch_chart.get_attribute("data-x-label") == "epoch"
    assert (epoch_chart.get_attribute("data-x-min"),
            epoch_chart.get_attribute("data-x-max")) == ("0", "2")
    # What the tab could not read is reported, the rest shown.
    problems = detail.locator(".th-problems-box")
    problems.locator("summary").click()
    text = problems.text_content()
    assert "alert 1 is not an alert; not shown" in text
    assert "alert 2 is not an alert; not shown" in text
    assert "alert 3 (dead_relu): unreadable severity, layer, first_step" \
        in text
    kinds = detail.locator(".th-alert-head .th-alert-kind") \
        .all_text_contents()
    assert kinds == ["dead_relu", "stalled_loss"]
    # The facts: 800 levels deep cut short; float32 written as a person.
    detail.locator(".th-facts-box summary").click()
    rows = dict(zip(detail.locator(".th-facts th").all_text_contents(),
                    detail.locator(".th-facts td").all_text_contents()))
    assert rows["deep"] == "deeper (deeper (deeper …))"
    assert rows["optimizer"] == "Adam, learning_rate 0.001"
    assert errors.errors == []


def test_every_chart_reaches_the_end_of_the_fit(page, odd_tb):
    page, errors = page
    frame = open_tab(page, odd_tb, {"run": "unfinished"})
    wait_for_run(frame, "unfinished")
    ranges = x_ranges(frame)
    # Records stop at step 20; the fit's last epoch ended at step 29.
    assert set(ranges) == {"loss", "epoch_loss", "dead_fraction"}
    assert set(ranges.values()) == {(0, 29)}, ranges
    assert frame.locator('.th-detail .th-chart[data-chart="loss"]') \
        .get_attribute("data-x-label") == "step"
    # The comparison's validation gap: at the steps its epochs ended, on
    # the step axis like the other signals, and labelled so.
    frame.get_by_label("Validation gap").check()
    gap = frame.locator('.th-chart[data-chart="compare_gap"]')
    gap.wait_for()
    assert gap.get_attribute("data-x-label") == "step"
    assert gap.get_attribute("data-last-step") == "29"
    assert errors.errors == []


def test_new_run_facts_read_compactly(page, odd_tb):
    page, errors = page
    frame = open_tab(page, odd_tb, {"run": "facts"})
    detail = wait_for_run(frame, "facts")
    detail.locator(".th-facts-box summary").click()
    rows = {}
    for row in detail.locator(".th-facts tr").all():
        rows[row.locator("th").text_content()] = [
            row.locator(".th-fact-text").text_content()] + \
            row.locator("li").all_text_contents()
    assert rows["losses"] == ["2 losses", "cls: binary_crossentropy, "
                              "weight 0.5", "reg: mse"]
    assert rows["outputs"] == [
        "2 outputs",
        "cls: cls (Dense, sigmoid, 1 unit) · measured on the probe: "
        "0.02–0.98, mean 0.5, spread across samples 0.12, top class 51%, "
        "within [0, 1]",
        "reg: reg (Dense, linear, 1 unit)"]
    assert rows["targets"] == ["cls: int64 [1] · integer, 0–1, mean 0.5, "
                               "std 0.5, 2 distinct · classes 0: 30, 1: 34"]
    assert rows["probe"] == ["44 samples (of 64 asked for) · 3 layers "
                             "inspected · not inspected: 1 layer",
                             "block/attention: inside a custom layer"]
    assert errors.errors == []


def test_alerts_fold_their_consequences_and_show_resolved_ones(
        page, odd_tb):
    page, errors = page
    alerts = [
        {"kind": "learning_rate", "severity": "warning", "layer": None,
         "first_step": 0, "last_step": 3, "message": "rate too high",
         "advice": "lower it", "evidence": {}, "consequences": [],
         "resolved_step": 3, "recovered": True},
        {"kind": "non_finite", "severity": "critical", "layer": None,
         "first_step": 2, "last_step": 4, "message": "NaN in the loss",
         "advice": "check the inputs", "evidence": {"signal": "loss"},
         "consequences": [
             {"kind": "dead_relu", "layer": "dense", "first_step": 3,
              "message": "dense died after the NaN"}],
         "resolved_step": None, "recovered": False},
        {"kind": "stalled_loss", "severity": "warning", "layer": None,
         "first_step": 1, "last_step": 4, "message": "stalled",
         "advice": "", "evidence": {}, "consequences": [],
         "resolved_step": 2, "recovered": False},
    ]

    # Alert dicts as the diagnosis gives them (CONTRACTS.md A).
    serve_alerts(page, "facts", alerts)
    frame = open_tab(page, odd_tb, {"run": "facts"})
    detail = wait_for_run(frame, "facts")
    items = detail.locator(".th-alert")
    wait_until(lambda: items.count() == 3, what="three alerts")
    # The active alert first, then the resolved ones, muted.
    assert items.locator(".th-alert-head .th-alert-kind") \
        .all_text_contents() == ["non_finite", "learning_rate",
                                 "stalled_loss"]
    assert [items.nth(i).evaluate("n => n.classList.contains('th-resolved')")
            for i in range(3)] == [False, True, True]
    assert items.nth(1).locator(".th-alert-resolved").text_content() == \
        "resolved at step 3 · recovered"
    assert items.nth(2).locator(".th-alert-resolved").text_content() == \
        "resolved at step 2"
    assert "1 critical, 0 warning" not in detail.locator(
        ".th-status-text").text_content()
    assert detail.locator(".th-status-text").text_content().endswith(
        "1 critical · 2 resolved")
    # The consequence is inside its primary alert, folded, without advice
    # of its own; opening the fold does not choose the alert.
    fold = items.nth(0).locator(".th-consequences")
    assert fold.locator("summary").text_content() == \
        "Explains 1 further finding"
    fold.locator("summary").click()
    assert fold.locator("li").text_content() == (
        "dead_reludensestep 3dense died after the NaN")
    assert items.nth(0).get_attribute("aria-pressed") == "false"
    assert detail.locator(".th-alert-advice").all_text_contents() == [
        "check the inputs", "lower it"]
    # A resolved alert's marked steps end where its condition did.
    items.nth(2).click()
    chart = detail.locator('.th-chart[data-chart="loss"]')
    wait_until(lambda: chart.get_attribute("data-highlight") == "1-2",
               what="the resolved alert's steps marked")
    assert errors.errors == []


def test_alert_evidence_is_scrolled_below_the_sticky_toolbar(browser,
                                                            odd_tb):
    # A small window: the evidence is about as tall as the room left
    # under the toolbar.
    context = browser.new_context(viewport={"width": 1100, "height": 300})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = PageErrors(page)
    alerts = [
        {"kind": "stalled_loss", "severity": "warning", "layer": None,
         "first_step": 2, "last_step": 9, "message": "stalled",
         "advice": "", "evidence": {}},
        {"kind": "dead_relu", "severity": "critical",
         "layer": ATTENTION_LAYERS[29], "first_step": 0, "last_step": 9,
         "message": "dead", "advice": "", "evidence": {}}]

    serve_alerts(page, "attention", alerts)
    page.goto(odd_tb.url + "/data/plugin_entry.html?name=trainhealth"
              "#p.trainhealth.run=attention&p.trainhealth.collapse=0")
    page.locator(":root[data-rendered='true']").wait_for()
    wait_for_run(page, "attention")
    try:
        for key, focus in (
                ("stalled_loss||2", '.th-chart[data-chart="loss"]'),
                ("dead_relu|%s|0" % ATTENTION_LAYERS[29],
                 ".th-heatmap-label.th-highlight")):
            page.evaluate("window.scrollTo(0, 0)")
            page.locator('.th-alert[data-key="%s"]' % key).click()
            page.locator('[data-evidence="%s"]' % key).wait_for()
            page.wait_for_timeout(100)
            top, bottom = page.locator(focus).first.evaluate(
                "n => [n.getBoundingClientRect().top, "
                "n.getBoundingClientRect().bottom]")
            covered = toolbar_bottom(page)
            # All of it in view, none of it under the toolbar: the chart's
            # axis labels, the heatmap row of the alert's layer.
            assert top >= covered and bottom <= 300, (key, top, bottom,
                                                      covered)
            page.locator('.th-alert[data-key="%s"]' % key).click()
        assert errors.errors == []
    finally:
        context.close()


# A logdir of a few hundred runs: one-record runs in three folders, and two
# full runs (with heatmaps) to find with the search.
MANY_TINY_RUNS = 300
TARGET_RUNS = ["target/mlp_1", "target/mlp_2"]


@pytest.fixture(scope="module")
def many_runs_tb(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("many_runs_browser"))
    names = list(TARGET_RUNS)
    for i in range(MANY_TINY_RUNS):
        name = "exp_%s/trial_%03d" % ("abc"[i % 3], i)
        writer = SummaryWriter(os.path.join(root, *name.split("/")))
        try:
            writer.scalar(metadata.STEP_LOSS, 0, 1.0)
        finally:
            writer.close()
        names.append(name)
    for name in TARGET_RUNS:
        fx.write_run(os.path.join(root, *name.split("/")))
    with tb_process.TensorBoardProcess(root, load_fast=False) as tb:
        tb.wait_for_plugin("trainhealth")
        tb_process.wait_for(
            lambda: tb.get_json("/data/plugin/trainhealth/runs?limit=1")
            ["total"] == len(names), 60, "all runs listed")
        yield tb, sorted(names)


def test_run_search_with_hundreds_of_runs(page, many_runs_tb):
    page, errors = page
    tb, names = many_runs_tb
    total = len(names)

    # The first listing says no run is diagnosed yet: the list shows them
    # as pending and the tab asks again until they are.
    listings = []

    def all_pending(route):
        response = route.fetch()
        body = response.json()
        for entry in body["runs"]:
            entry.update(status="pending", alert_count=0, problems=[])
        body["pending"] = len(body["runs"])
        route.fulfill(response=response, body=json.dumps(body))

    page.on("request", lambda r: listings.append(r.url)
            if "/trainhealth/runs" in r.url else None)
    page.route("**/data/plugin/trainhealth/runs", all_pending, times=1)
    page.goto(tb.url + "/#trainhealth")
    frame = page.frame_locator("iframe")
    frame.locator(".th-run-item .th-badge-pending").first.wait_for()
    items = frame.locator(".th-run-item")
    wait_until(lambda: frame.locator(".th-badge-pending").count() == 0
               and items.count() == 100, timeout=30,
               what="the shown runs diagnosed")
    assert len(listings) >= 2
    wait_for_run(frame, names[0])

    # A bounded list with its count, and more on request.
    count = frame.locator(".th-run-count")
    assert count.text_content() == "Showing 100 of %d runs" % total
    assert frame.locator(".th-run-name").all_text_contents() == names[:100]
    frame.get_by_role("button", name="Show 100 more").click()
    wait_until(lambda: items.count() == 200, what="200 runs shown")
    assert count.text_content() == "Showing 200 of %d runs" % total
    assert frame.locator(".th-run-name").nth(100).evaluate(
        "node => node === document.activeElement")

    # The search: keyboard reachable and labelled, case-insensitive.
    search = frame.get_by_label("Search runs")
    search.fill("TARGET")
    wait_until(lambda: frame.locator(".th-run-name").all_text_contents()
               == TARGET_RUNS, what="only the matching runs")
    assert count.text_content() == (
        "Showing 2 of 2 runs matching “TARGET” (%d in all)" % total)
    # On from the search box to the list by keyboard; Enter shows a run.
    search.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    wait_for_run(frame, "target/mlp_2")
    assert heatmap_labels(frame, "dead_fraction") == ["dense", "dense_1"]
    assert canvas_row_colour(frame, "dead_fraction", 1) == VIRIDIS_HIGH
    assert hash_params(page)["search"] == "TARGET"
    assert hash_params(page)["run"] == "target/mlp_2"

    # A search that hides the shown run: it stays shown and selected.
    search.fill("trial_01")
    expected = [n for n in names if "trial_01" in n]
    assert len(expected) == 10
    wait_until(lambda: frame.locator(".th-run-name").all_text_contents()
               == expected, what="runs matching trial_01")
    assert count.text_content() == (
        "Showing 10 of 10 runs matching “trial_01” (%d in all)" % total)
    assert frame.locator(".th-detail").get_attribute("data-run") == \
        "target/mlp_2"
    assert frame.locator(".th-run-name[aria-pressed=true]").count() == 0
    assert hash_params(page)["run"] == "target/mlp_2"

    search.fill("no such run")
    wait_until(lambda: items.count() == 0, what="no match")
    assert count.text_content() == (
        "No run matches “no such run” (%d in all)" % total)
    search.fill("")
    wait_until(lambda: items.count() == 100, what="the first page again")
    assert "search" not in hash_params(page)
    assert frame.locator(".th-run-name[aria-pressed=true]").count() == 0

    # A link with a search reproduces the filtered list.
    page2 = page.context.new_page()
    errors2 = PageErrors(page2)
    frame2 = open_tab(page2, tb, {"search": "mlp_1", "run": "target/mlp_1"})
    wait_for_run(frame2, "target/mlp_1")
    assert frame2.locator(".th-run-name").all_text_contents() == [
        "target/mlp_1"]
    assert frame2.get_by_label("Search runs").input_value() == "mlp_1"
    page2.close()
    assert errors.errors == [] and errors2.errors == []


def test_how_to_without_trainhealth_data(page, tmp_path):
    page, errors = page
    fx.write_plain_logdir(str(tmp_path))
    with tb_process.TensorBoardProcess(str(tmp_path), load_fast=False) as tb:
        page.goto(tb.url + "/data/plugin_entry.html?name=trainhealth")
        howto = page.locator(".th-howto")
        howto.wait_for()
        text = howto.text_content()
        assert "pip install tensorboard-plugin-trainhealth" in text
        assert "TrainHealthCallback(" in text
        assert "tensorboard --logdir" in text
    assert errors.errors == []


@pytest.fixture(scope="module")
def demo_logdir(tmp_path_factory):
    """The demo's runs, trained for real (shortened to 3 epochs)."""
    logdir = tmp_path_factory.mktemp("demo_logs")
    subprocess.run([sys.executable, os.path.join(REPO, "demo", "train_demo.py"),
                    "--logdir", str(logdir), "--epochs", "3"],
                   check=True, cwd=REPO, timeout=300,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    return str(logdir)


def test_demo_logdir_in_the_tab(page, demo_logdir):
    page, errors = page
    with tb_process.TensorBoardProcess(demo_logdir, load_fast=True) as tb:
        tb.wait_for_plugin("trainhealth")
        tb_process.wait_for(
            lambda: len(tb.get_json("/data/plugin/trainhealth/runs")["runs"])
            == len(DEMO_RUNS), 60, "demo runs listed")
        frame = open_tab(page, tb)
        assert frame.locator(".th-run-name").all_text_contents() == sorted(
            DEMO_RUNS)
        show_run(frame, "dead_relu")
        assert heatmap_labels(frame, "dead_fraction") == [
            "hidden_1", "hidden_2", "hidden_3"]
        assert heatmap_labels(frame, "grad_norm") == [
            "hidden_1", "hidden_2", "hidden_3", "output"]
        alerts = frame.locator(".th-alert").all_text_contents()
        assert any("dead_relu" in a for a in alerts), alerts
        legend = frame.locator('[data-section="compare"] .th-legend-label')
        wait_until(lambda: legend.count() == len(DEMO_RUNS),
                   what="demo runs compared")
    assert errors.errors == []
