"""`trainhealth report LOGDIR`: diagnose the runs of a logdir from a shell
or a CI job.

    trainhealth report logs/ [--run NAME ...] [--fail-on warning|critical]
        [--format text|json|junit|github|markdown] [--json]

`--format json` (or `--json`) prints the report document (report.py):
``{"runs": {run: {"status": ..., "alerts": [...]}}}``, plus
``"unreadable": [...]`` when something could not be read. `junit` prints
one test case per run (a failure for a run with an alert at or above
`--fail-on`, critical when not given); `github` prints workflow commands
(`::error` / `::warning`); `markdown` a summary table for
`$GITHUB_STEP_SUMMARY` or a pull-request comment.

Every readable run is reported; a run (or event file) that cannot be read
is listed with the reason and costs nothing else. Exit status:

    0  every run read, no alert at or above --fail-on
    1  --fail-on: some run has an alert at or above it (the gate failed)
    2  usage error, unknown --run, logdir missing or unreadable, or no
       trainhealth data in it
    3  internal error (a bug: the traceback is printed)
    4  the report is incomplete: some run or event file could not be read
       (it is listed; every other run is reported) and the gate did not fail

Reading never imports TensorFlow or Keras when `trainhealth` runs as its
own program: TensorBoard is told to use its own file layer (see
`_read_without_tensorflow`).
"""

import argparse
import os
import sys
import traceback

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL_ERROR = 3
EXIT_INCOMPLETE = 4

_FORMATS = ("text", "json", "junit", "github", "markdown")


class _UsageError(Exception):
    pass


def _parser():
    parser = argparse.ArgumentParser(
        prog="trainhealth",
        description="Diagnose Keras trainings recorded by "
                    "TrainHealthCallback.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    report = commands.add_parser(
        "report", help="print the diagnosis of every run in a logdir",
        description="Print the diagnosis of every trainhealth run in LOGDIR.",
        epilog="exit status: 0 ok; 1 an alert at or above --fail-on; "
               "2 usage error or unreadable logdir; 3 internal error; "
               "4 some run could not be read (the others are reported)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("logdir", metavar="LOGDIR")
    report.add_argument("--run", action="append", metavar="NAME",
                        help="only this run (repeatable); names as "
                             "TensorBoard shows them")
    report.add_argument("--format", choices=_FORMATS, default=None,
                        help="output format (default: text)")
    report.add_argument("--json", action="store_true",
                        help="same as --format json")
    report.add_argument("--fail-on", choices=("warning", "critical"),
                        help="exit with status 1 when an alert this severe "
                             "or worse exists (junit: the runs that fail)")
    return parser


def build_document(logdir, wanted=None, err=None):
    """The report document (report.py) of `logdir`'s runs.

    Raises _UsageError for an unreadable logdir, an unknown run or a logdir
    without trainhealth data.
    """
    from tensorboard_plugin_trainhealth import diagnosis
    from tensorboard_plugin_trainhealth import report as report_lib
    from tensorboard_plugin_trainhealth import run_loading

    err = err or sys.stderr
    try:
        loader = run_loading.RunLoader(logdir)
    except run_loading.LogdirError as e:
        raise _UsageError(str(e)) from e
    with loader:
        try:
            names = loader.runs(wanted)
        except run_loading.UnknownRunError as e:
            raise _UsageError("%s in %s" % (e, logdir)) from e
        except run_loading.LogdirError as e:
            raise _UsageError(str(e)) from e
        entries = {}
        for run in names:
            try:
                series = loader.read(run)
                if series is None:
                    continue  # another tool's run (e.g. keras TensorBoard)
                for problem in series.problems:
                    print("%s: %s" % (run, problem), file=err)
                entries[run] = report_lib.run_entry(diagnosis.diagnose(series))
            except Exception as e:  # pylint: disable=broad-except
                # One bad run is listed, never the end of the report.
                loader.unreadable.append({
                    "run": run, "path": os.path.join(logdir, run),
                    "reason": "cannot be read or diagnosed (%s: %s)"
                              % (type(e).__name__, e)})
        if not entries and not loader.unreadable:
            raise _UsageError("no trainhealth data in %s" % logdir)
        return report_lib.document(entries, loader.unreadable)


def exit_status(doc, fail_on):
    """The exit status for a document (see the module docstring)."""
    from tensorboard_plugin_trainhealth import report as report_lib

    if fail_on and any(report_lib.at_or_above(entry["alerts"], fail_on)
                       for entry in doc["runs"].values()):
        return EXIT_GATE_FAILED
    if doc.get("unreadable"):
        return EXIT_INCOMPLETE
    return EXIT_OK


def report(args, out=None, err=None):
    from tensorboard_plugin_trainhealth import report_formats

    # Looked up at each call: a default bound at import time would keep
    # writing to whatever sys.stdout was then.
    out, err = out or sys.stdout, err or sys.stderr
    doc = build_document(args.logdir, args.run, err)
    fmt = "json" if args.json else (args.format or "text")
    out.write(report_formats.FORMATS[fmt](doc, args.fail_on, args.logdir))
    for u in doc.get("unreadable", ()):
        print("trainhealth: cannot read %s: %s"
              % (u.get("path"), u.get("reason")), file=err)
    return exit_status(doc, args.fail_on)


def _read_without_tensorflow(logdir):
    """Makes TensorBoard read with its own file layer, not TensorFlow's.

    TensorBoard's `tensorboard.compat.tf` imports TensorFlow (seconds) when
    it is installed, only to read files it reads as well without it. The
    marker module `tensorboard.compat.notf` is TensorBoard's own switch for
    its built-in stub. Only for a process of our own that has not imported
    TensorFlow, and for local logdirs: remote file systems (gs://) need
    TensorFlow's.
    """
    if "tensorflow" in sys.modules or "://" in logdir:
        return
    import types

    sys.modules.setdefault("tensorboard.compat.notf",
                           types.ModuleType("tensorboard.compat.notf"))


def main(argv=None):
    """Runs the command line `argv` (default: this process's own, which
    also makes it read without TensorFlow); returns the exit status."""
    args = _parser().parse_args(argv)  # exits 2 on a usage error
    if argv is None:
        _read_without_tensorflow(args.logdir)
    # Reading a remote logdir imports TensorFlow; keep its start-up chatter
    # out of a report unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return report(args)
    except _UsageError as e:
        print("trainhealth: error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # pylint: disable=broad-except
        traceback.print_exc()
        print("trainhealth: internal error (exit status %d); please report "
              "it with the traceback above" % EXIT_INTERNAL_ERROR,
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
