"""Writes trainhealth summaries to TensorBoard event files.

Uses TensorBoard's own event-file writer, so writing needs neither
TensorFlow nor a TensorFlow graph: the callback works the same on every Keras
backend, and the values go to disk exactly as computed (as float32).

When TensorFlow is not already imported (the PyTorch monitor, Keras on JAX
or torch), files are written through TensorBoard's own file layer
(`tensorboard.compat.tensorflow_stub`: local paths, S3, fsspec URLs), so
that recording never imports TensorFlow just because it is installed.
"""

import itertools
import json
import os
import secrets
import socket
import sys
import time

import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.summary.writer import record_writer
from tensorboard.util import tensor_util

from tensorboard_plugin_trainhealth import metadata

# Our own suffix keeps our event file apart from the ones written by
# keras.callbacks.TensorBoard or tf.summary into the same directory.
FILENAME_SUFFIX = ".trainhealth.v1"
# The longest time between a writer's heartbeats while it writes.
HEARTBEAT_S = 2.0


class SummaryWriter:
    """Appends trainhealth records to an event file in `log_dir`.

    The metadata of a tag rides with its first record in this file, which is
    where TensorBoard reads it from.

    Each writer has an identity, `identity` = {"id", "pid", "host"} (the id
    is `writer_id`, or random), and leaves heartbeats under its own tag
    (`metadata.writer_tag`): with its first record, at most every
    `HEARTBEAT_S` while it writes, and when it is closed. From them the
    reader tells two writers that wrote one run at the same time. Example:

    ```python
    writer = SummaryWriter("logs/run1")
    writer.scalar(metadata.STEP_LOSS, step=0, value=0.7)
    facts = {"writer": writer.identity}
    writer.close()
    ```
    """

    def __init__(self, log_dir, flush_secs=10, writer_id=None):
        del flush_secs  # records reach the file at each flush
        _check_writable(log_dir)
        _wait_for_a_later_file_name(log_dir)
        self._writer = _EventFile(log_dir, FILENAME_SUFFIX)
        self._tags_with_metadata = set()
        self.identity = {"id": writer_id or secrets.token_hex(8),
                         "pid": os.getpid(), "host": socket.gethostname()}
        self._records = 0
        self._heartbeats = 0
        self._last_heartbeat = None
        self._closed = False

    @property
    def log_dir(self):
        return self._writer.log_dir

    def scalar(self, tag, step, value, description=""):
        self._add(
            tag,
            step,
            np.asarray(value, dtype=np.float32).reshape(()),
            lambda: metadata.create_summary_metadata(
                metadata.KIND_SCALAR, description=description
            ),
        )

    def plain_scalar(self, tag, step, value, description=""):
        """A scalar of TensorBoard's own scalars plugin (float32), which the
        Scalars and HParams dashboards read."""
        from tensorboard.plugins.scalar import metadata as scalar_metadata

        self._add(
            tag,
            step,
            np.asarray(value, dtype=np.float32).reshape(()),
            lambda: scalar_metadata.create_summary_metadata(
                display_name=tag, description=description),
        )

    def vector(self, tag, step, values, columns, description=""):
        """Writes one packed record: `values[i]` belongs to `columns[i]`."""
        values = np.asarray(values, dtype=np.float32).reshape(-1)
        if len(values) != len(columns):
            raise ValueError(
                "%s: %d values for %d columns" % (tag, len(values), len(columns))
            )
        self._add(
            tag,
            step,
            values,
            lambda: metadata.create_summary_metadata(
                metadata.KIND_VECTOR, columns=columns, description=description
            ),
        )

    def json(self, tag, step, document, description=""):
        text = json.dumps(document, allow_nan=True, sort_keys=True)
        self._add(
            tag,
            step,
            np.array(text.encode("utf-8"), dtype=np.object_),
            lambda: metadata.create_summary_metadata(
                metadata.KIND_JSON, description=description
            ),
        )

    def _add(self, tag, step, array, make_metadata):
        now = time.time()
        if (self._last_heartbeat is None
                or now - self._last_heartbeat >= HEARTBEAT_S):
            self._heartbeat(now)
        self._records += 1
        self._add_event(tag, step, array, make_metadata, now)

    def _heartbeat(self, now):
        """A heartbeat: the number of records written so far, at the
        writer's own step count (the records' steps may be epochs or go
        back; TensorBoard's data server drops a record whose step does
        not increase)."""
        self._last_heartbeat = now
        self._add_event(
            metadata.writer_tag(self.identity["id"]), self._heartbeats,
            np.asarray(self._records, dtype=np.float32).reshape(()),
            lambda: metadata.create_summary_metadata(
                metadata.KIND_SCALAR, writer=self.identity,
                description="when this writer wrote records"), now)
        self._heartbeats += 1

    def _add_event(self, tag, step, array, make_metadata, wall_time):
        value = summary_pb2.Summary.Value(
            tag=tag, tensor=tensor_util.make_tensor_proto(array)
        )
        first = tag not in self._tags_with_metadata
        if first:
            value.metadata.CopyFrom(make_metadata())
        event = event_pb2.Event(
            wall_time=wall_time,
            step=int(step),
            summary=summary_pb2.Summary(value=[value]),
        )
        self._writer.add_event(event)
        if first:
            self._tags_with_metadata.add(tag)

    def flush(self):
        self._writer.flush()

    def close(self):
        if not self._closed and self._records:
            self._heartbeat(time.time())  # when this writer ended
        self._closed = True
        self._writer.close()


def gfile():
    """The file layer: TensorFlow's when TensorFlow is imported (its own
    file systems, GCS included), else TensorBoard's stub."""
    if "tensorflow" in sys.modules:
        from tensorboard.compat import tf

        return tf.io.gfile
    from tensorboard.compat.tensorflow_stub.io import gfile as stub_gfile

    return stub_gfile


_file_counter = itertools.count()


class _EventFile:
    """One event file, named as TensorBoard's EventFileWriter names them
    (`events.out.tfevents.<seconds>.<host>.<pid>.<n><suffix>`); events are
    kept in memory until `flush` appends them in one write."""

    def __init__(self, log_dir, suffix):
        self.log_dir = log_dir
        name = "events.out.tfevents.%010d.%s.%s.%s%s" % (
            time.time(), socket.gethostname(), os.getpid(),
            next(_file_counter), suffix)
        self._file = gfile().GFile(os.path.join(log_dir, name), "wb")
        self._records = record_writer.RecordWriter(self)
        self._pending = []
        self.add_event(event_pb2.Event(
            wall_time=time.time(), file_version="brain.Event:2",
            source_metadata=event_pb2.SourceMetadata(
                writer="tensorboard_plugin_trainhealth")))
        self.flush()

    def add_event(self, event):
        self._records.write(event.SerializeToString())

    def write(self, data):  # RecordWriter writes framed records here
        self._pending.append(data)

    def flush(self):
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            self._file.write(data)
        self._file.flush()

    def close(self):
        self.flush()
        self._file.close()


def _check_writable(log_dir):
    """Creates `log_dir` and makes sure a file can be written there, so
    that a read-only directory is one clear error here rather than a
    failure in the event writer's background thread."""
    gfile().makedirs(log_dir)
    if "://" not in str(log_dir) and not os.access(log_dir, os.W_OK | os.X_OK):
        raise PermissionError("cannot write to %s" % log_dir)


def _wait_for_a_later_file_name(log_dir):
    """Waits, if need be, until a new event file's name sorts last.

    TensorBoard's Python loader (`--load_fast=false`, and our CLI) reads a
    run's event files in name order and skips a file created after one
    whose name sorts later. Names start with the second they were created
    in, then a per-process counter, which sorts "10" before "9": a second
    file opened in the same directory within the same second (a second
    `fit` right after a short first one) could be skipped. After the next
    second begins, the new name sorts after every file there.
    """
    now = time.time()
    prefix = "events.out.tfevents.%010d." % int(now)
    try:
        names = gfile().listdir(log_dir)
    except Exception:  # pylint: disable=broad-except
        return  # no directory yet (or unlistable): nothing to sort after
    if any(name.startswith(prefix) for name in names):
        time.sleep(max(0.0, int(now) + 1 - now) + 0.01)
