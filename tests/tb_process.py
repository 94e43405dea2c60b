"""Runs a real `tensorboard` process for the smoke and browser tests.

TensorBoard is started with `--port 0`; the port it picked is read from the
line it prints ("TensorBoard x.y at http://host:port/"), so there is no race
for a free port.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

START_TIMEOUT_S = 60
_URL_LINE = re.compile(r"TensorBoard \S+ at (http://[^/\s]+)/")


class TensorBoardProcess:
    """One `tensorboard` serving `logdir`; use as a context manager."""

    def __init__(self, logdir, load_fast, extra_args=()):
        self.logdir = logdir
        self.load_fast = load_fast
        self.extra_args = list(extra_args)
        self.url = None
        self._process = None
        self._log = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._log = tempfile.NamedTemporaryFile(
            prefix="tensorboard_", suffix=".log", delete=False)
        command = [
            sys.executable, "-m", "tensorboard.main",
            "--logdir", self.logdir,
            "--host", "127.0.0.1",
            "--port", "0",
            "--load_fast", "true" if self.load_fast else "false",
            "--reload_interval", "2",
        ] + self.extra_args
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            match = _URL_LINE.search(self.log_text())
            if match:
                self.url = match.group(1)
                return
            if self._process.poll() is not None:
                raise RuntimeError("tensorboard exited early:\n" + self.log_text())
            time.sleep(0.2)
        raise RuntimeError("tensorboard did not start:\n" + self.log_text())

    @property
    def pid(self):
        """The tensorboard process's id (None before it started)."""
        return None if self._process is None else self._process.pid

    def log_text(self):
        if self._log is None:
            return ""
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        if self._process is not None and self._process.poll() is None:
            # Our own session: the process and the data server it spawned.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            with contextlib.suppress(OSError):
                os.unlink(self._log.name)
            self._log = None

    def get(self, path, headers=None):
        """(status, body bytes, headers) for a GET of `path`."""
        request = urllib.request.Request(self.url + path,
                                         headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def get_json(self, path):
        status, body, _ = self.get(path)
        if status != 200:
            raise AssertionError("%s answered %d: %r" % (path, status, body))
        return json.loads(body)

    def wait_for_plugin(self, plugin="trainhealth", timeout=60):
        """Polls the plugins listing until `plugin` is enabled (the data
        server and the multiplexer both load the logdir in the background)."""
        return wait_for(
            lambda: self.get_json("/data/plugins_listing")
            .get(plugin, {}).get("enabled"),
            timeout, "plugin %s enabled" % plugin)


def wait_for(condition, timeout, what="condition", interval=0.3):
    """Calls `condition` until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (OSError, AssertionError, ValueError) as e:
            last_error = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last error: %r)"
                         % (what, last_error))
