"""Reads a logdir's runs one at a time, for the CLI, so one bad run costs
only itself.

TensorBoard loads a logdir as one multiplexer: a FIFO named like an event
file blocks it forever, and a run that breaks the loader breaks every run.
Here a local logdir is walked first (TensorBoard's rule: a run is a
directory holding event files, named by its path under the logdir), and
each event file is checked: only regular, readable files are read; the rest
are listed as unreadable with the reason. Each run is then loaded on its
own, by `reader.open_logdir` over a private directory of links to that
run's good files, so TensorBoard's own loader still does the reading.
A remote logdir (``gs://...``) has no FIFOs; it is loaded whole, and each
run is still read and judged on its own.

    logdir = RunLoader("logs")          # raises LogdirError
    for run in logdir.runs(["run1"]):   # raises UnknownRunError
        series = logdir.read(run)       # a RunSeries, None, or raises
    logdir.unreadable                   # [{"run", "path", "reason"}]
"""

import os
import shutil
import stat
import tempfile


class LogdirError(Exception):
    """The logdir itself cannot be read (missing, not a directory, ...)."""


class UnknownRunError(Exception):
    def __init__(self, unknown, known):
        super().__init__("unknown run %s; runs: %s" % (
            ", ".join(map(repr, unknown)), ", ".join(known) or "none"))


def is_remote(logdir):
    return "://" in logdir


class RunLoader:
    """The runs of one logdir; see the module docstring."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.unreadable = []
        self._views = []
        if is_remote(logdir):
            self._run_files = None
            self._whole = None
        else:
            if not os.path.isdir(logdir):
                raise LogdirError("logdir not found: %s" % logdir
                                  if not os.path.exists(logdir)
                                  else "not a directory: %s" % logdir)
            if not os.access(logdir, os.R_OK | os.X_OK):
                raise LogdirError("logdir cannot be read: %s" % logdir)
            self._run_files = self._scan(logdir)

    # -- discovery -----------------------------------------------------------

    def _scan(self, logdir):
        """{run name: [event file paths]} of the regular, readable files."""
        from tensorboard.backend.event_processing import io_wrapper

        runs = {}

        def unreadable_dir(error):
            path = error.filename or logdir
            self._skip(path, error.strerror or str(error), directory=True)

        for dir_path, _, names in os.walk(logdir, onerror=unreadable_dir):
            good = []
            for name in sorted(names):
                path = os.path.join(dir_path, name)
                if not io_wrapper.IsSummaryEventsFile(path):
                    continue
                problem = _file_problem(path)
                if problem:
                    self._skip(path, problem)
                else:
                    good.append(path)
            if good:
                runs[self._run_name(dir_path)] = good
        return runs

    def _run_name(self, dir_path):
        rel = os.path.relpath(dir_path, self.logdir)
        return rel.replace(os.sep, "/") if rel != "." else "."

    def _skip(self, path, reason, directory=False):
        run = self._run_name(path if directory else os.path.dirname(path))
        self.unreadable.append({"run": run, "path": path, "reason": reason})

    def runs(self, wanted=None):
        """The run names to read: every run, or the `wanted` ones (which
        must exist). Names of runs without trainhealth data are included;
        `read` returns None for them."""
        if self._run_files is None:
            names = self._remote_runs()
        else:
            names = sorted(self._run_files)
        if not wanted:
            return names
        unknown = [r for r in wanted if r not in names]
        if unknown:
            raise UnknownRunError(unknown, self.trainhealth_runs(names))
        return [r for r in names if r in wanted]

    def trainhealth_runs(self, names=None):
        """The names of the runs that hold trainhealth data (reads them)."""
        found = []
        for run in names if names is not None else self.runs():
            try:
                if self._provider(run)[0] is not None:
                    found.append(run)
            except Exception:  # pylint: disable=broad-except
                continue  # listed as unreadable when it is read
        return found

    # -- reading -------------------------------------------------------------

    def read(self, run):
        """The run's `RunSeries`, or None when it holds no trainhealth data.
        Raises whatever reading it raised; the caller lists the run as
        unreadable and goes on."""
        from tensorboard import context
        from tensorboard_plugin_trainhealth import reader

        provider, name = self._provider(run)
        if provider is None:
            return None
        return reader.read_run(provider, context.RequestContext(), "", name)

    def _provider(self, run):
        """(data provider, its name for `run`), or (None, None) when the run
        has no trainhealth data."""
        from tensorboard import context
        from tensorboard_plugin_trainhealth import reader

        if self._run_files is None:
            provider = self._whole_logdir()
            name = run
        else:
            provider = reader.open_logdir(self._view(run))
            name = "."
        ctx = context.RequestContext()
        if name not in reader.trainhealth_runs(provider, ctx, ""):
            return None, None
        return provider, name

    def _view(self, run):
        """A directory of links to the run's good event files only."""
        files = self._run_files[run]
        view = tempfile.mkdtemp(prefix="trainhealth-run-")
        self._views.append(view)
        try:
            for path in files:
                os.symlink(os.path.abspath(path),
                           os.path.join(view, os.path.basename(path)))
        except OSError:
            # No symbolic links here (Windows without the privilege): read
            # the directory itself, unless it holds what must be skipped.
            run_dir = os.path.dirname(files[0])
            if any(os.path.dirname(u["path"]) == run_dir
                   for u in self.unreadable):
                raise
            return run_dir
        return view

    def _whole_logdir(self):
        from tensorboard_plugin_trainhealth import reader

        if self._whole is None:
            self._whole = reader.open_logdir(self.logdir)
        return self._whole

    def _remote_runs(self):
        from tensorboard import context
        from tensorboard_plugin_trainhealth import reader

        try:
            provider = self._whole_logdir()
        except Exception as e:  # pylint: disable=broad-except
            raise LogdirError("cannot read %s: %s" % (self.logdir, e)) from e
        return reader.trainhealth_runs(provider, context.RequestContext(), "")

    def close(self):
        for view in self._views:
            shutil.rmtree(view, ignore_errors=True)
        self._views = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _file_problem(path):
    """None for a regular, readable file; else why it is skipped."""
    try:
        info = os.stat(path)  # follows links: a link to a FIFO is a FIFO
    except OSError as e:
        return "cannot be read (%s)" % (e.strerror or e)
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (%s)" % _file_type(info.st_mode)
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def _file_type(mode):
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR,
                                                     "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a file"
