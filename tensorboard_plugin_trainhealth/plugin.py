"""The Train Health TensorBoard plugin: its HTTP routes and its assets.

Each route parses its query (query.py) and calls one method of the
`dashboard.Dashboard`, which answers from what the run store knows of the
runs (run_store.py); errors are TensorBoard's `errors.PublicError`s,
answered by TensorBoard itself. All data comes from
`context.data_provider`, so the plugin works the same on the Rust data
server (`--load_fast=true`) and the Python multiplexer
(`--load_fast=false`). The routes and their answers are documented in
docs/http_api.md, the caching and staleness design in docs/design.md.

The frontend is every `*.js` and `*.css` file of the static directories,
listed once when the plugin starts: a fixed table, so nothing a request
says ever reaches the file system.
"""

import logging
import os

from tensorboard import errors
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tensorboard_plugin_trainhealth import answers
from tensorboard_plugin_trainhealth import dashboard
from tensorboard_plugin_trainhealth import jsonsafe
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import prompt_provider
from tensorboard_plugin_trainhealth import query
from tensorboard_plugin_trainhealth import signals

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_REPO_FRONTEND = os.path.join(os.path.dirname(_PACKAGE_DIR), "frontend")
# Built packages carry the frontend, the charting library included, in
# static/ (see setup.py); an editable install serves the repository's
# frontend/ and the library from frontend/dist/ (built by `npm run build`).
STATIC_DIRS = (
    os.path.join(_PACKAGE_DIR, "static"),
    _REPO_FRONTEND,
    os.path.join(_REPO_FRONTEND, "dist"),
)
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}
# Built from npm's uplot package (frontend/build.mjs), not committed.
_BUILT = ("uplot.js", "uplot.css")

logger = logging.getLogger(__name__)


def frontend_files(directories=STATIC_DIRS):
    """{name: path} of every *.js and *.css file directly in `directories`
    (the first directory holding a name wins)."""
    files = {}
    for directory in directories:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue  # not there in this kind of install
        for name in names:
            path = os.path.join(directory, name)
            if (os.path.splitext(name)[1] in CONTENT_TYPES
                    and name not in files and os.path.isfile(path)):
                files[name] = path
    return files


class TrainHealthPlugin(base_plugin.TBPlugin):
    """Serves training-health diagnosis and per-layer matrices."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._dashboard = dashboard.Dashboard(
            prompt_provider.wrap(context.data_provider))
        self._assets = frontend_files()
        missing = [name for name in _BUILT if name not in self._assets]
        if missing:
            logger.warning(
                "Train Health: %s not installed; the tab cannot draw (a "
                "source checkout needs `npm ci && npm run build` in "
                "frontend/)", ", ".join(missing))

    def get_plugin_apps(self):
        apps = {
            "/runs": self._runs_route,
            "/run": self._run_route,
            "/heatmap": self._heatmap_route,
            "/catalogue": self._catalogue_route,
        }
        for name in self._assets:
            apps["/" + name] = self._asset_route(name)
        return apps

    def is_active(self):
        # TensorBoard already marks the plugin active when the data
        # provider's list_plugins() names "trainhealth"; anything more here
        # would read data on every plugins listing.
        return False

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name="Train Health")

    @wrappers.Request.application
    def _runs_route(self, request):
        ctx, experiment = _context(request)
        return answers.respond(request, self._dashboard.runs(
            ctx, experiment, query.runs_query(request.args)), etag=False)

    @wrappers.Request.application
    def _run_route(self, request):
        ctx, experiment = _context(request)
        return answers.respond(request, self._dashboard.run(
            ctx, experiment, query.run_query(request.args)))

    @wrappers.Request.application
    def _heatmap_route(self, request):
        ctx, experiment = _context(request)
        return answers.respond(request, self._dashboard.heatmap(
            ctx, experiment, query.heatmap_query(request.args)))

    @wrappers.Request.application
    def _catalogue_route(self, request):
        return answers.respond(request, answers.json_answer(
            jsonsafe.to_json(signals.CATALOGUE)), etag=False)

    def _asset_route(self, name):
        @wrappers.Request.application
        def serve(request):
            content, content_type = self.asset(name)
            return http_util.Respond(request, content, content_type)

        return serve

    def asset(self, name):
        """(bytes, content type) of one frontend file.

        Raises:
          errors.NotFoundError: unless `name` is a file of the frontend.
        """
        path = self._assets.get(name)
        if path is None:
            raise errors.NotFoundError("no such file")
        try:
            with open(path, "rb") as f:
                return f.read(), CONTENT_TYPES[os.path.splitext(name)[1]]
        except OSError:
            raise errors.NotFoundError(
                "frontend file %s is no longer installed" % name)


def _context(request):
    return (plugin_util.context(request.environ),
            plugin_util.experiment_id(request.environ))
