"""The plugin served through TensorBoard's own WSGI app, for werkzeug tests."""

from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tensorboard_plugin_trainhealth import loader
from tensorboard_plugin_trainhealth import reader


def make_client(logdir, provider=None):
    """(werkzeug client, plugin) over `logdir`, read with the Python provider
    (`--load_fast=false`) unless another provider is given."""
    provider = provider or reader.open_logdir(logdir)
    context = base_plugin.TBContext(logdir=logdir, data_provider=provider)
    plugin = loader.TrainHealthLoader().load(context)
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    return werkzeug_test.Client(app, wrappers.Response), plugin
