"""A queue of run reads and the threads reading them, for the run store.

Reads are asked for by key (experiment, run) and the listing of the data
they are to read; the reading threads (at most `workers`) take the most
recently asked first (the run on screen before runs only listed). Asking
again for a read already queued or under way for the same data returns
it; asking for newer data supersedes a read still queued (its waiters are
released at once). Threads exist while there is something to read.
"""

import collections
import threading
import time


class ReadTask:
    """One read: of `key` as `listed` says, for `ctx`.

    `whole`: read every record (else a bounded sample). `for_listing`: the
    read only judges the run for /runs (the store keeps it as its least
    recently used run). `asked`: when it was first asked for (the lane's
    clock). `done` is set when it is over: read, failed, or superseded.
    """

    def __init__(self, key, listed, ctx, whole, for_listing, asked):
        self.key = key
        self.listed = listed
        self.ctx = ctx
        self.whole = whole
        self.for_listing = for_listing
        self.asked = asked
        self.done = threading.Event()


class ReadLane:
    """Runs `read(task)` for the tasks asked, in at most `workers` threads
    named `name`."""

    def __init__(self, name, read, clock=time.monotonic, workers=1):
        self._name = name
        self._read = read
        self._clock = clock
        self._workers = workers
        self._lock = threading.Lock()
        self._queue = collections.OrderedDict()  # key -> ReadTask
        self._under_way = []
        self._threads = 0

    def ask(self, key, listed, ctx, whole=False, for_listing=False):
        """The task reading `key` as `listed` says: the one queued or under
        way for the same data, or a new one."""
        fingerprint = listed.fingerprint
        with self._lock:
            for current in self._under_way:
                if (current.key == key
                        and current.listed.fingerprint == fingerprint):
                    return current
            queued = self._queue.get(key)
            if queued is not None and queued.listed.fingerprint == fingerprint:
                self._queue.move_to_end(key)
                return queued
            if queued is not None:
                queued.done.set()  # superseded: its waiters need not wait
            task = ReadTask(key, listed, ctx, whole, for_listing,
                            self._clock())
            self._queue[key] = task
            if self._threads < min(self._workers, len(self._queue)
                                   + len(self._under_way)):
                self._threads += 1
                threading.Thread(target=self._work, name=self._name,
                                 daemon=True).start()
            return task

    def under_way(self):
        """The tasks being read."""
        with self._lock:
            return list(self._under_way)

    def queued(self):
        """The tasks waiting, the next to be read last."""
        with self._lock:
            return list(self._queue.values())

    def _work(self):
        task = None
        while True:
            with self._lock:
                if task is not None:
                    self._under_way.remove(task)
                if not self._queue:
                    self._threads -= 1
                    return
                _, task = self._queue.popitem(last=True)
                self._under_way.append(task)
            try:
                self._read(task)
            except Exception:  # pylint: disable=broad-except
                pass  # what was read before is served meanwhile; asked again later
            finally:
                task.done.set()
