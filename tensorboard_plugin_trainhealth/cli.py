"""`trainhealth report LOGDIR`: diagnose the runs of a logdir from a shell.

    python -m tensorboard_plugin_trainhealth report logs/ [--run NAME]
        [--json] [--fail-on warning|critical]

Prints a table per run (or, with --json, exactly
``{"runs": {run: {"status": ..., "alerts": [...]}}}``). Exit status: 0, or 1
when an alert at or above --fail-on exists, or 2 for a usage error, a
missing logdir, an unknown run or a logdir without trainhealth data.
"""

import argparse
import json
import os
import sys

from tensorboard_plugin_trainhealth import diagnosis

EXIT_OK = 0
EXIT_ALERTS = 1
EXIT_USAGE = 2


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
        description="Print the diagnosis of every trainhealth run in "
                    "LOGDIR.")
    report.add_argument("logdir", metavar="LOGDIR")
    report.add_argument("--run", action="append", metavar="NAME",
                        help="only this run (repeatable); names as "
                             "TensorBoard shows them")
    report.add_argument("--json", action="store_true",
                        help="print JSON instead of a table")
    report.add_argument("--fail-on", choices=("warning", "critical"),
                        help="exit with status 1 when an alert this severe "
                             "or worse exists")
    return parser


def _read_runs(logdir, wanted):
    """{run: RunSeries} for the requested runs of `logdir`."""
    # Imported here: TensorBoard's loading stack is only needed to read.
    from tensorboard import context
    from tensorboard_plugin_trainhealth import reader

    if not os.path.isdir(logdir) and "://" not in logdir:
        raise _UsageError("logdir not found: %s" % logdir)
    provider = reader.open_logdir(logdir)
    ctx = context.RequestContext()
    runs = reader.trainhealth_runs(provider, ctx, "")
    if not runs:
        raise _UsageError("no trainhealth data in %s" % logdir)
    if wanted:
        unknown = [r for r in wanted if r not in runs]
        if unknown:
            raise _UsageError("unknown run %s; runs in %s: %s" % (
                ", ".join(map(repr, unknown)), logdir, ", ".join(runs)))
        runs = [r for r in runs if r in wanted]
    result = {}
    for run in runs:
        series = reader.read_run(provider, ctx, "", run)
        if series is not None:
            result[run] = series
    return result


def _table(run, status, alerts):
    lines = ["%s: %s (%d alert%s)" % (run, status.upper(), len(alerts),
                                      "" if len(alerts) == 1 else "s")]
    if not alerts:
        return lines
    rows = [("SEVERITY", "KIND", "LAYER", "STEPS", "MESSAGE")]
    for a in alerts:
        if a.first_step is None:
            steps = "-"
        elif a.last_step is None or a.last_step == a.first_step:
            steps = str(a.first_step)
        else:
            steps = "%d-%d" % (a.first_step, a.last_step)
        rows.append((a.severity, a.kind, a.layer or "-", steps, a.message))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append("  " + "  ".join(
            [c.ljust(w) for c, w in zip(r[:4], widths)] + [r[4]]))
    lines.append("  advice:")
    for a in alerts:
        lines.append("  - %s%s: %s" % (
            a.kind, " (%s)" % a.layer if a.layer else "", a.advice))
    return lines


def report(args, out=sys.stdout, err=sys.stderr):
    series_by_run = _read_runs(args.logdir, args.run)
    results = {}
    for run, series in series_by_run.items():
        for problem in series.problems:
            print("%s: %s" % (run, problem), file=err)
        alerts = diagnosis.diagnose(series)
        results[run] = (diagnosis.run_status(alerts), alerts)

    if args.json:
        document = {"runs": {
            run: {"status": status, "alerts": [a.to_dict() for a in alerts]}
            for run, (status, alerts) in results.items()}}
        out.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
    else:
        blocks = ["\n".join(_table(run, status, alerts))
                  for run, (status, alerts) in results.items()]
        out.write("\n\n".join(blocks) + "\n")

    if args.fail_on:
        floor = diagnosis.severity_rank(args.fail_on)
        if any(diagnosis.severity_rank(a.severity) >= floor
               for _, alerts in results.values() for a in alerts):
            return EXIT_ALERTS
    return EXIT_OK


def main(argv=None):
    args = _parser().parse_args(argv)  # exits 2 on a usage error
    # Reading may import TensorFlow (TensorBoard's file layer); keep its
    # start-up chatter out of a report unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return report(args)
    except _UsageError as e:
        print("trainhealth: error: %s" % e, file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
