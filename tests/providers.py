"""TensorBoard's two data providers over a logdir, for read-back tests.

`python` is the multiplexer-backed provider (`--load_fast=false`); `rust`
is the data server TensorBoard starts by default (`--load_fast=true`),
launched the way TensorBoard launches it, with the sampling our loader sets.
"""

import contextlib
import time

from tensorboard import context
from tensorboard.data import server_ingester
from tensorboard.util import grpc_util

from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import reader


def python_provider(logdir):
    return reader.open_logdir(str(logdir))


@contextlib.contextmanager
def rust_provider(logdir, timeout=60):
    ingester = server_ingester.SubprocessServerDataIngester(
        server_ingester.get_server_binary(),
        str(logdir),
        reload_interval=0,  # load once, like a finished run
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
        samples_per_plugin={metadata.PLUGIN_NAME: metadata.DEFAULT_SAMPLES_PER_TAG},
    )
    ingester.start()
    try:
        _wait_until_loaded(ingester.data_provider, timeout)
        yield ingester.data_provider
    finally:
        # The server was started with --die-after-stdin.
        ingester._stdin_handle.close()


def _wait_until_loaded(data_provider, timeout):
    ctx = context.RequestContext()
    deadline = time.time() + timeout
    previous = None
    while time.time() < deadline:
        listing = {}
        for lister in (data_provider.list_scalars, data_provider.list_tensors):
            for run, tags in lister(ctx, experiment_id="",
                                    plugin_name=metadata.PLUGIN_NAME).items():
                for tag, ts in tags.items():
                    listing[(run, tag)] = ts.max_step
        if listing and listing == previous:
            return
        previous = listing
        time.sleep(0.5)
    raise TimeoutError("data server did not finish loading %s" % data_provider)


def both(logdir):
    """Yields the Python provider, then the Rust one (cleaned up after)."""
    yield python_provider(logdir)
    with rust_provider(logdir) as data_provider:
        yield data_provider
