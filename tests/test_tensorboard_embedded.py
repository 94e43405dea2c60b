"""The tab in TensorBoard started from Python and from a notebook.

* `tensorboard.program.TensorBoard` (a known place where third-party
  plugins go missing, tensorflow/tensorboard#6109), in a process of its
  own, with the default plugin list and with an explicit one: the plugin
  is listed and the tab loads in headless Chromium.
* `examples/quickstart.ipynb`, executed in a real Jupyter kernel
  (nbclient): it trains a healthy and a broken model, prints their report,
  and starts TensorBoard with `%load_ext tensorboard` / `%tensorboard`;
  the tab's routes answer on the server the magic started.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests import logdir_fixtures as fx
from tests import tb_process
from tests.test_browser import CHROMIUM, browser, open_tab, page  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(REPO, "examples", "quickstart.ipynb")

# Serves a logdir with `program.TensorBoard` until stdin closes; prints
# the URL `launch()` returned.
SERVE = """
import sys
from tensorboard import default, program
from tensorboard_plugin_trainhealth.loader import TrainHealthLoader

plugins = None  # TensorBoard's default list: static and dynamic plugins
if sys.argv[2] == "explicit":
    plugins = default.get_static_plugins() + [TrainHealthLoader]
tb = program.TensorBoard(plugins=plugins)
tb.configure(argv=[None, "--logdir", sys.argv[1], "--host", "127.0.0.1",
                   "--port", "0", "--load_fast", "false"])
print("URL", tb.launch(), flush=True)
sys.stdin.read()
"""


class _Served:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get_json(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())


@contextlib.contextmanager
def program_tensorboard(logdir, plugins):
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, logdir, plugins], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        start_new_session=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("URL "), line
        yield _Served(line.split(" ", 1)[1].strip())
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("embedded"))
    fx.write_logdir(root)
    return root


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Chromium")
@pytest.mark.parametrize("plugins", ["default", "explicit"])
def test_program_tensorboard_serves_the_tab(logdir, page, plugins):  # noqa: F811
    page, errors = page
    with program_tensorboard(logdir, plugins) as tb:
        tb_process.wait_for(
            lambda: tb.get_json("/data/plugins_listing")
            .get("trainhealth", {}).get("enabled"), 60, "plugin enabled")
        frame = open_tab(page, tb)
        names = frame.locator(".th-run-name").all_text_contents()
        assert sorted(names) == sorted([fx.HOSTILE_RUN, "mlp"])
        assert frame.locator(".th-detail .th-status-text").text_content()
    assert errors.errors == []


def _kill_notebook_tensorboards(working_directory):
    """Stops any TensorBoard the notebook's magic started and left running:
    TensorBoard's own info files name each one's pid and, in its cache key,
    the directory it was started from."""
    import base64

    from tensorboard import manager

    for info in manager.get_all():
        key = json.loads(base64.b64decode(info.cache_key))
        if os.path.realpath(key.get("working_directory", "")) == \
                os.path.realpath(working_directory):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGTERM)


def test_quickstart_notebook_runs_and_shows_the_tab(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    # The kernel inherits this environment: this checkout's package, and
    # the `tensorboard` of this interpreter for the magic.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                  if p]))
    monkeypatch.setenv("TENSORBOARD_BINARY", os.path.join(
        os.path.dirname(sys.executable), "tensorboard"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(QUICKSTART, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}})
    try:
        # Cell by cell, so the kernel (and the TensorBoard its magic
        # started, which ends with the kernel) is still up for the checks.
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            check_quickstart_outputs(notebook)
            check_magic_tensorboard(notebook)
    finally:
        _kill_notebook_tensorboards(str(tmp_path))


def check_quickstart_outputs(notebook):
    outputs = [o for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs
                   if o.output_type == "stream")
    assert "broken: CRITICAL" in text and "healthy: OK (0 alerts)" in text
    assert re.search(r"critical\s+dead_relu\s+hidden", text)
    assert re.search(r"warning\s+unscaled_inputs", text)


def check_magic_tensorboard(notebook):
    """The magic displayed TensorBoard inline (an iframe on its port), and
    the tab's routes answer on that server."""
    [html] = [o["data"]["text/html"] for cell in notebook.cells
              for o in cell.get("outputs", [])
              if o.output_type == "display_data"
              and "text/html" in o.get("data", {})]
    assert "<iframe" in html
    port = int(re.search(r"const port = (\d+);", html).group(1))
    tb = _Served("http://localhost:%d" % port)
    tb_process.wait_for(
        lambda: tb.get_json("/data/plugins_listing")
        .get("trainhealth", {}).get("enabled"), 60, "plugin enabled")
    body = tb_process.wait_for(
        lambda: (lambda b: len(b["runs"]) == 2 and not b.get("pending")
                 and b)(tb.get_json("/data/plugin/trainhealth/runs")),
        60, "both runs diagnosed")
    assert json.dumps(body).count('"critical"') >= 1
    with urllib.request.urlopen(
            tb.url + "/data/plugin_entry.html?name=trainhealth",
            timeout=30) as r:
        assert r.status == 200
