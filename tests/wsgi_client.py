"""The plugin served through TensorBoard's own WSGI app, for werkzeug tests."""

import json
import urllib.parse

from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tensorboard_plugin_trainhealth import loader
from tensorboard_plugin_trainhealth import reader

PREFIX = "/data/plugin/trainhealth"


def make_client(logdir, provider=None):
    """(werkzeug client, plugin) over `logdir`, read with the Python provider
    (`--load_fast=false`) unless another provider is given."""
    provider = provider or reader.open_logdir(logdir)
    context = base_plugin.TBContext(logdir=logdir, data_provider=provider)
    plugin = loader.TrainHealthLoader().load(context)
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    return werkzeug_test.Client(app, wrappers.Response), plugin


def strict_json(body):
    """Parses JSON that must not contain bare NaN/Infinity literals."""
    def reject(name):
        raise AssertionError("bare %s in JSON" % name)
    return json.loads(body, parse_constant=reject)


def get_json(client, path):
    """The JSON body of a GET of the plugin's `path`, which must be 200."""
    response = client.get(PREFIX + path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    return strict_json(response.get_data(as_text=True))


def run_url(route, run, **params):
    return "%s?%s" % (route, urllib.parse.urlencode(dict(run=run, **params)))
