"""The plugin itself (plugin.py, loader.py): loading, routes, assets.

Logdirs are written with the project's SummaryWriter (tests/logdir_fixtures)
and read by TensorBoard's multiplexer-backed data provider, the same one
`--load_fast=false` uses; requests go through `TensorBoardWSGI` with
werkzeug's test client, so routing, middleware and error handling are
TensorBoard's. The routes' answers are tested by module:
test_plugin_bodies.py (/run, /heatmap), test_plugin_runs.py (/runs),
test_plugin_store.py (reads and staleness), test_plugin_answers.py (gzip,
ETag, 304), test_plugin_query.py (bad parameters).
"""

import json
import os
import re

import pytest
from tensorboard import errors
from tensorboard import program
from tensorboard.backend.event_processing import data_ingester
from tensorboard.plugins import base_plugin
from tensorboard.plugins.core import core_plugin

from tensorboard_plugin_trainhealth import loader
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import plugin as plugin_lib
from tensorboard_plugin_trainhealth import signals

from tests import logdir_fixtures as fx
from tests import wsgi_client
from tests.wsgi_client import PREFIX, get_json, run_url

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRONTEND = os.path.join(REPO, "frontend")


# ---------------------------------------------------------------- loading


def test_fix_flags_raises_the_sample_limit_for_trainhealth(tmp_path):
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader,
                                      loader.TrainHealthLoader])
    tb.configure(("tensorboard", "--logdir", str(tmp_path)))
    assert tb.flags.samples_per_plugin == {
        "trainhealth": metadata.DEFAULT_SAMPLES_PER_TAG}


def test_fix_flags_keeps_the_users_choice(tmp_path):
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader,
                                      loader.TrainHealthLoader])
    tb.configure(("tensorboard", "--logdir", str(tmp_path),
                  "--samples_per_plugin", "trainhealth=50,images=3"))
    assert tb.flags.samples_per_plugin == {"trainhealth": 50, "images": 3}


def test_fix_flags_handles_missing_flag():
    class Flags:
        samples_per_plugin = None
    flags = Flags()
    loader.TrainHealthLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {
        "trainhealth": metadata.DEFAULT_SAMPLES_PER_TAG}


def test_tensorboards_own_ingester_keeps_every_step(plugin_logdir):
    # Built exactly as `tensorboard --load_fast=false` builds it, after
    # fix_flags: without our sample limit TensorBoard keeps 10 records of
    # an unknown plugin's tensors; the run has 30.
    root, written = plugin_logdir
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader,
                                      loader.TrainHealthLoader])
    tb.configure(("tensorboard", "--logdir", root, "--load_fast", "false"))
    ingester = data_ingester.LocalDataIngester(tb.flags)
    ingester.deprecated_multiplexer.AddRunsFromDirectory(root)
    ingester.deprecated_multiplexer.Reload()
    client, _ = wsgi_client.make_client(root, ingester.data_provider)
    body = get_json(client, run_url("/heatmap", "mlp",
                                    signal="dead_fraction"))
    assert body["steps"] == list(range(written["mlp"]["steps"]))


def test_plugin_metadata():
    context = base_plugin.TBContext(data_provider=None)
    plugin = plugin_lib.TrainHealthPlugin(context)
    assert plugin.plugin_name == "trainhealth"
    assert plugin.frontend_metadata() == base_plugin.FrontendMetadata(
        es_module_path="/index.js", tab_name="Train Health")
    assert plugin.is_active() is False  # TensorBoard's list_plugins decides


def test_plugins_listing_enables_the_tab(plugin_logdir):
    client, _ = wsgi_client.make_client(plugin_logdir[0])
    listing = json.loads(client.get("/data/plugins_listing").get_data())
    entry = listing["trainhealth"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "Train Health"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME", "module_path": PREFIX + "/index.js"}


def test_plugins_listing_without_data(tmp_path):
    fx.write_plain_logdir(str(tmp_path))
    client, _ = wsgi_client.make_client(str(tmp_path))
    listing = json.loads(client.get("/data/plugins_listing").get_data())
    assert listing["trainhealth"]["enabled"] is False
    assert get_json(client, "/runs") == {"runs": [], "problems": [],
                                         "total": 0, "offset": 0,
                                         "limit": None, "pending": 0}


def test_no_data_provider_answers_without_runs():
    plugin = plugin_lib.TrainHealthPlugin(
        base_plugin.TBContext(data_provider=None))
    from tensorboard.backend import application
    from werkzeug import test as werkzeug_test
    from werkzeug import wrappers

    client = werkzeug_test.Client(application.TensorBoardWSGI([plugin]),
                                  wrappers.Response)
    body = get_json(client, "/runs")
    assert body["runs"] == [] and body["problems"] == ["no data provider"]
    assert client.get(PREFIX + "/run?run=a").status_code == 404


# ---------------------------------------------------------------- catalogue


def test_catalogue_route_serves_the_signal_catalogue(plugin_client):
    body = get_json(plugin_client, "/catalogue")
    assert [h["signal"] for h in body["heatmaps"]] == [
        h["signal"] for h in signals.HEATMAPS]
    assert body["evidence"]["dead_relu"]["heatmap"] == "dead_fraction"
    assert body == json.loads(json.dumps(signals.CATALOGUE))


def test_the_plugin_keeps_no_signal_list_of_its_own():
    # The catalogue is the one list: the plugin's modules name no signal.
    package = os.path.dirname(plugin_lib.__file__)
    for name in ("plugin.py", "dashboard.py", "run_store.py", "bodies.py",
                 "shaping.py", "query.py", "answers.py"):
        with open(os.path.join(package, name), encoding="utf-8") as f:
            text = f.read()
        for entry in signals.HEATMAPS:
            assert '"%s"' % entry["signal"] not in text, (name, entry)


# ---------------------------------------------------------------- assets


def _frontend_modules():
    names = set()
    for directory in (FRONTEND, os.path.join(FRONTEND, "dist")):
        if os.path.isdir(directory):
            names |= {n for n in os.listdir(directory)
                      if n.endswith((".js", ".css"))}
    return names


def test_every_frontend_file_is_served():
    """Every *.js and *.css of frontend/ (and its built dist/) has a route:
    the table is the directory listing, so no list needs keeping."""
    plugin = plugin_lib.TrainHealthPlugin(
        base_plugin.TBContext(data_provider=None))
    routes = set(plugin.get_plugin_apps())
    modules = _frontend_modules()
    assert "index.js" in modules and "uplot.js" in modules
    assert {"/" + n for n in modules} <= routes
    assert {r for r in routes if r.endswith((".js", ".css"))} == {
        "/" + n for n in modules}


def test_every_module_index_js_asks_for_is_served(plugin_client):
    with open(os.path.join(FRONTEND, "index.js"), encoding="utf-8") as f:
        text = f.read()
    asked = set(re.findall(r'"\./([\w.-]+\.js)"', text))
    asked |= set(re.findall(r'"([\w.-]+\.css)"', text))
    assert "app.js" in asked and "style.css" in asked
    for name in asked:
        response = plugin_client.get(PREFIX + "/" + name)
        assert response.status_code == 200, name


@pytest.mark.parametrize("name,content_type,needle", [
    ("index.js", "text/javascript", "export async function render"),
    ("app.js", "text/javascript", "class App"),
    ("model.js", "text/javascript", "import.meta.url"),
    ("dom.js", "text/javascript", "textContent"),
    ("detail.js", "text/javascript", "class DetailView"),
    ("charts.js", "text/javascript", 'from "./uplot.js"'),
    ("heatmap.js", "text/javascript", "class HeatmapView"),
    ("chartdata.js", "text/javascript", "export function layoutRows"),
    ("colors.js", "text/javascript", "export function viridis"),
    ("urlstate.js", "text/javascript", "p.trainhealth."),
    ("runfilter.js", "text/javascript", "export function filterRuns"),
    ("style.css", "text/css", ".th-dark"),
    # The charting library, built from npm (frontend/dist or static/).
    ("uplot.js", "text/javascript", "export { uPlot as default }"),
    ("uplot.css", "text/css", ".uplot"),
])
def test_assets_are_served(plugin_client, name, content_type, needle):
    response = plugin_client.get(PREFIX + "/" + name)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert needle in response.get_data(as_text=True)


def test_every_served_module_has_its_content_type(plugin_client):
    for name in _frontend_modules():
        response = plugin_client.get(PREFIX + "/" + name)
        assert response.status_code == 200, name
        expected = "text/css" if name.endswith(".css") else "text/javascript"
        assert response.headers["Content-Type"].startswith(expected), name


def test_plugin_entry_imports_index_js(plugin_client):
    response = plugin_client.get("/data/plugin_entry.html?name=trainhealth")
    assert response.status_code == 200
    assert 'import("./index.js")' in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/../../setup.py",
    "/%2e%2e/%2e%2e/setup.py",
    "/..%2f..%2fsetup.py",
    "/..%5c..%5csetup.py",
    "/..\\..\\setup.py",
    "/index.js/../../../setup.py",
    "/static/../plugin.py",
    "/plugin.py",
    "/%2e%2e%2fplugin.py",
    "/index.js%00.py",
    "/node_modules/uplot/package.json",
    "/build.mjs",
    "/package.json",
])
def test_path_traversal_is_blocked(plugin_client, path):
    response = plugin_client.get(PREFIX + path)
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "setuptools" not in body and "TrainHealthPlugin" not in body
    assert '"name"' not in body


@pytest.mark.parametrize("name", [
    "../setup.py", "..\\setup.py", "/etc/passwd", "", ".", "static",
    "index.js/..", "../tensorboard_plugin_trainhealth/plugin.py",
    "build.mjs", "package.json", "dist",
])
def test_asset_serves_only_frontend_files(name):
    plugin = plugin_lib.TrainHealthPlugin(
        base_plugin.TBContext(data_provider=None))
    with pytest.raises(errors.NotFoundError):
        plugin.asset(name)


def test_frontend_files_lists_only_scripts_and_stylesheets(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "x.js").write_text("first")
    (second / "x.js").write_text("second")
    (second / "y.css").write_text("")
    (second / "z.mjs").write_text("")
    (second / "sub").mkdir()
    (second / "sub" / "w.js").write_text("")
    files = plugin_lib.frontend_files([str(first), str(second),
                                       str(tmp_path / "missing")])
    assert files == {"x.js": str(first / "x.js"),
                     "y.css": str(second / "y.css")}


# ---------------------------------------------------------------- hostile


def test_hostile_names_are_returned_as_data(plugin_client):
    raw = plugin_client.get(PREFIX + "/runs").get_data(as_text=True)
    runs = wsgi_client.strict_json(raw)["runs"]
    assert fx.HOSTILE_RUN in [r["run"] for r in runs]
    body = get_json(plugin_client, run_url("/run", fx.HOSTILE_RUN))
    assert body["run"] == fx.HOSTILE_RUN
    assert body["layers"][0]["name"] == fx.HOSTILE_LAYER
    heatmap = get_json(plugin_client, run_url("/heatmap", fx.HOSTILE_RUN,
                                              signal="dead_fraction"))
    assert [r["name"] for r in heatmap["rows"]] == [fx.HOSTILE_LAYER,
                                                    "dense_1"]
    response = plugin_client.get(PREFIX + run_url("/run", fx.HOSTILE_RUN))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
