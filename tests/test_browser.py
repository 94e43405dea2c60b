"""The Train Health tab in a real browser against a real TensorBoard.

Chromium (Debian's, driven by Playwright) loads TensorBoard's own page and
the plugin's iframe entry, and checks what a user sees: the run picker, the
layer labels of the heatmaps, the colours drawn for known values, the alert
highlight, the reload hook, and that hostile names stay text. Every console
error and uncaught page error fails the test.

The last test trains the demo's runs and opens them in the tab.
"""

import os
import subprocess
import sys

import pytest

from tests import logdir_fixtures as fx
from tests import tb_process

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu",
               "--disable-background-networking"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_RUNS = ["dead_relu", "healthy", "loss_mismatch", "overfitting",
             "unscaled_inputs"]
TIMEOUT_MS = 30000

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="needs Chromium at %s" % CHROMIUM)

XSS_FLAGS = "() => [window.__thRunXss, window.__thLayerXss]"
VIRIDIS_HIGH = [253, 231, 37]  # the colour of 1.0 on a [0, 1] scale
VIRIDIS_LOW = [68, 1, 84]  # and of 0.0


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
def tensorboard(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("browser_logs"))
    fx.write_logdir(root)
    with tb_process.TensorBoardProcess(root, load_fast=False) as tb:
        tb.wait_for_plugin("trainhealth")
        yield tb


class PageErrors:
    """Console errors and uncaught exceptions of a page and its frames."""

    def __init__(self, page):
        self.errors = []
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
        self.errors.append("console: %s (%s)" % (message.text, url))


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


def heatmap_labels(frame, signal):
    return frame.locator(
        '.th-heatmap[data-signal="%s"] .th-heatmap-label' % signal
    ).all_text_contents()


def canvas_row_colour(frame, signal, row):
    """The RGB drawn in the middle of `row` of a heatmap's canvas."""
    return frame.locator(
        '.th-heatmap[data-signal="%s"] canvas.th-heatmap-canvas' % signal
    ).evaluate("""(canvas, row) => {
        const rows = canvas.parentElement.querySelectorAll(
            '.th-heatmap-label').length;
        const y = Math.floor((row + 0.5) * canvas.height / rows);
        const x = Math.floor(canvas.width / 2);
        const d = canvas.getContext('2d').getImageData(x, y, 1, 1).data;
        return [d[0], d[1], d[2]];
    }""", row)


def open_plugin_page(page, tb):
    page.goto(tb.url + "/data/plugin_entry.html?name=trainhealth")
    page.locator(".th-heatmap").first.wait_for()
    return page


def select_run(frame, run):
    frame.locator("#th-run-picker").select_option(run)
    frame.locator(".th-status-text", has_text=run).wait_for()
    frame.locator(".th-heatmap").first.wait_for()


def test_tab_inside_tensorboard(page, tensorboard):
    page, errors = page
    page.goto(tensorboard.url + "/#trainhealth")
    frame = page.frame_locator("iframe")
    frame.locator(".th-heatmap").first.wait_for()

    options = frame.locator("#th-run-picker option").all_text_contents()
    assert [o.split(" — ")[0] for o in options] == sorted(
        [fx.HOSTILE_RUN, "mlp"])
    assert all(" — " in o for o in options)  # each with its status

    # The first run is selected: its hostile layer name is a text label.
    assert heatmap_labels(frame, "dead_fraction") == [fx.HOSTILE_LAYER,
                                                      "dense_1"]
    plugin_frame = next(f for f in page.frames if "plugin_entry" in f.url)
    assert plugin_frame.evaluate(XSS_FLAGS) == [None, None]
    assert plugin_frame.evaluate("() => document.querySelectorAll('img').length") == 0

    # TensorBoard's reload button reaches the tab (experimental.DataReloaded)
    # and the selected run is kept.
    select_run(frame, "mlp")
    # A refresh fetches /runs, then the selected run's heatmaps (the last
    # being update_ratio); the 30 s poll cannot fire within this timeout.
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    with page.expect_response(lambda r: "signal=update_ratio" in r.url,
                              timeout=15000) as last:
        page.locator(".reload-button").click()
    assert any("/trainhealth/runs" in u for u in requests)
    assert "run=mlp" in last.value.url
    page.wait_for_timeout(300)
    assert frame.locator("#th-run-picker").input_value() == "mlp"
    assert heatmap_labels(frame, "dead_fraction") == ["dense", "dense_1"]
    assert errors.errors == []


def test_heatmaps_show_known_values(page, tensorboard):
    page, errors = page
    open_plugin_page(page, tensorboard)
    select_run(page, "mlp")
    assert heatmap_labels(page, "dead_fraction") == ["dense", "dense_1"]
    assert heatmap_labels(page, "saturation") == ["gate"]
    assert heatmap_labels(page, "grad_norm") == ["dense", "dense_1", "gate"]
    assert heatmap_labels(page, "update_ratio") == ["dense", "dense_1", "gate"]
    # dense is alive (0.0), dense_1 dead (1.0).
    assert canvas_row_colour(page, "dead_fraction", 0) == VIRIDIS_LOW
    assert canvas_row_colour(page, "dead_fraction", 1) == VIRIDIS_HIGH

    # Hover read-out over the dead layer.
    canvas = page.locator('.th-heatmap[data-signal="dead_fraction"] '
                         'canvas.th-heatmap-canvas')
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5,
                    box["y"] + box["height"] * 0.75)
    readout = page.locator('.th-heatmap[data-signal="dead_fraction"] '
                           '.th-readout')
    assert readout.text_content().startswith("dense_1 · step ")
    assert readout.text_content().endswith(": 1")

    # Charts: gradient norm with a non-finite marker, epochs with the gap.
    assert page.locator(".th-chart canvas").count() >= 3
    legend = " ".join(page.locator(".th-legend").all_text_contents())
    assert "non-finite" in legend and "val_loss" in legend and "gap" in legend
    assert errors.errors == []


def test_alert_click_highlights_the_layer(page, tensorboard):
    page, errors = page
    open_plugin_page(page, tensorboard)
    select_run(page, "mlp")
    alerts = page.locator(".th-alert[role=button]")
    layers = page.locator(".th-alert[role=button] .th-alert-layer")
    if alerts.count() == 0:
        pytest.skip("diagnosis raised no layer alert for the fixture run")
    layer = layers.first.text_content()
    alerts.first.click()
    highlighted = page.locator(".th-heatmap-label.th-highlight")
    assert highlighted.count() >= 1
    assert set(highlighted.all_text_contents()) == {layer}
    assert alerts.first.get_attribute("aria-pressed") == "true"
    page.locator(".th-alert[role=button]").first.click()  # toggles off
    assert page.locator(".th-heatmap-label.th-highlight").count() == 0
    assert errors.errors == []


def test_hostile_names_render_as_text(page, tensorboard):
    page, errors = page
    open_plugin_page(page, tensorboard)
    select_run(page, fx.HOSTILE_RUN)
    assert heatmap_labels(page, "dead_fraction") == [fx.HOSTILE_LAYER,
                                                     "dense_1"]
    assert page.locator(".th-status-text").text_content().strip().startswith(
        fx.HOSTILE_RUN)
    for alert_layer in page.locator(".th-alert-layer").all_text_contents():
        assert "<img" not in alert_layer or alert_layer == fx.HOSTILE_LAYER
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    page.wait_for_timeout(300)  # an onerror would have fired by now
    assert page.evaluate(XSS_FLAGS) == [None, None]
    assert errors.errors == []


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
        page.goto(tb.url + "/#trainhealth")
        frame = page.frame_locator("iframe")
        frame.locator(".th-heatmap").first.wait_for()
        options = frame.locator("#th-run-picker option").all_text_contents()
        assert [o.split(" — ")[0] for o in options] == sorted(DEMO_RUNS)
        select_run(frame, "dead_relu")
        assert heatmap_labels(frame, "dead_fraction") == [
            "hidden_1", "hidden_2", "hidden_3"]
        assert heatmap_labels(frame, "grad_norm") == [
            "hidden_1", "hidden_2", "hidden_3", "output"]
        alerts = frame.locator(".th-alert").all_text_contents()
        assert any("dead_relu" in a for a in alerts), alerts
    assert errors.errors == []
