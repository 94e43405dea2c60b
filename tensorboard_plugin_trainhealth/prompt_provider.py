"""Calls to TensorBoard's data server without its 40 ms stall.

TensorBoard's default data server (RustBoard, reached through
`GrpcDataProvider`) sends its answers over a TCP connection with Nagle's
algorithm on. When an answer leaves in more than one segment, the last one
waits for the client's ACK of the first, and the client, with nothing to
send, delays that ACK by up to 40 ms. A listing of three or more tags, or a
small read, then takes ~44 ms where the server needs well under one
(measured: `list_scalars` of 8 tags 44 ms, of 2 tags 0.3 ms).

Anything the client sends on the connection carries the ACK with it. So
while a call waits, `PromptProvider` makes a tiny call (`list_plugins`) on
the same channel a few times in the call's first 40 ms; after that the
kernel's delayed ACK would come anyway. Other providers are left alone.
"""

import threading
import time

from tensorboard.data import grpc_provider

# When, after a call began, to send a tiny call if it is still waiting: a
# small answer is out within a few ms, and by 40 ms the delayed ACK has
# gone out on its own.
_NUDGE_AFTER_S = (0.002, 0.004, 0.008, 0.016, 0.032)


def wrap(data_provider):
    """`data_provider`, wrapped in a `PromptProvider` where its calls can
    stall (the gRPC one); itself otherwise (None included)."""
    if isinstance(data_provider, grpc_provider.GrpcDataProvider):
        return PromptProvider(data_provider)
    return data_provider


class PromptProvider:
    """A data provider forwarding to `data_provider`; its listings and
    reads are nudged along (see the module's docstring)."""

    def __init__(self, data_provider):
        self._provider = data_provider

    def __getattr__(self, name):
        return getattr(self._provider, name)

    def list_scalars(self, ctx, **kwargs):
        return self._call(self._provider.list_scalars, ctx, kwargs)

    def list_tensors(self, ctx, **kwargs):
        return self._call(self._provider.list_tensors, ctx, kwargs)

    def read_scalars(self, ctx, **kwargs):
        return self._call(self._provider.read_scalars, ctx, kwargs)

    def read_tensors(self, ctx, **kwargs):
        return self._call(self._provider.read_tensors, ctx, kwargs)

    def _call(self, method, ctx, kwargs):
        done = threading.Event()
        threading.Thread(
            target=self._nudge,
            args=(ctx, kwargs.get("experiment_id", ""), done),
            name="trainhealth-nudge", daemon=True).start()
        try:
            return method(ctx, **kwargs)
        finally:
            done.set()

    def _nudge(self, ctx, experiment_id, done):
        started = time.monotonic()
        for after in _NUDGE_AFTER_S:
            if done.wait(max(0.0, started + after - time.monotonic())):
                return
            try:
                self._provider.list_plugins(ctx, experiment_id=experiment_id)
            except Exception:  # pylint: disable=broad-except
                # Only ever a help: the call itself reports its own errors.
                return
