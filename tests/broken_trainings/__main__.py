"""python -m tests.broken_trainings [--group G]... [--program P]...

Prints one line per program and the suite's figures (see __init__.py):
the alerts that count (primary first, consequences in brackets), what the
live tracker would have printed (live[...]: +raised ^escalated =resolved
-withdrawn, at epoch N), and any advice or live alert that points the
wrong way (!!).
Exit status 0 when every broken program is detected with its root cause
as primary and no healthy program gets a warning, else 1.
"""

import argparse
import dataclasses
import sys
import tempfile
import warnings

from tests.broken_trainings import PROGRAMS
from tests.broken_trainings.suite import (
    all_advice_problems, describe, live_problems, log_dir_for, run_program)


def _line(result):
    p = result.program
    alerts = result.counted
    shown = " ".join(describe(a) for a in alerts) or "-"
    if p.healthy:
        verdict = "ok" if not alerts else "FALSE WARNING"
    elif result.root_is_primary:
        verdict = "root"
    elif result.detected:
        verdict = "detected, not primary"
    else:
        verdict = "MISSED"
    extra = all_advice_problems(result) + live_problems(result)
    if p.check:
        extra += p.check(result)
    return "%-34s %-26s %-22s %s%s%s  (%.1fs)" % (
        p.name, p.group, verdict, shown, _live(result),
        ("   !! " + "; ".join(extra)) if extra else "", result.seconds)


_MARKS = {"raised": "+", "escalated": "^", "resolved": "=", "withdrawn": "-"}


def _live(result):
    """The live tracker's events: +raised ^escalated =resolved -withdrawn,
    each with the epoch it came at."""
    if not result.live:
        return ""
    return "   live[%s]" % " ".join(
        "%s%s@%d" % (_MARKS[e.event], e.alert.kind, epoch)
        for epoch, e in result.live)


@dataclasses.dataclass
class Summary:
    """What the figures need of one program's result."""

    name: str
    group: str
    healthy: bool
    detected: bool
    rooted: bool
    counted: int
    critical: bool
    line: str
    seconds: float


def _details(result):
    """The counted alerts' messages, advice and consequences."""
    lines = []
    for a in result.counted:
        lines.append("    [%s] %s: %s" % (a.severity, a.kind, a.message))
        for c in getattr(a, "consequences", []):
            lines.append("        explains %s: %s" % (c.kind, c.message))
        lines.append("        advice: %s" % a.advice)
    return "\n".join([""] + lines) if lines else ""


def _summarize(task):
    name, root, live, verbose = task
    warnings.simplefilter("ignore")
    result = run_program(PROGRAMS[name], log_dir_for(root, PROGRAMS[name]),
                         live=live)
    line = _line(result) + (_details(result) if verbose else "")
    return Summary(name, result.program.group, result.program.healthy,
                   result.detected, result.root_is_primary,
                   len(result.counted),
                   any(a.severity == "critical" for a in result.counted),
                   line, result.seconds)


def _figures(summaries):
    broken = [s for s in summaries if not s.healthy]
    controls = [s for s in summaries if s.healthy]
    ordinary = [s for s in controls if s.group == "architectures"]
    warned = [s for s in controls if s.counted]
    print()
    print("detection: %d/%d broken programs raise their root cause (primary "
          "or consequence)" % (sum(s.detected for s in broken), len(broken)))
    print("primary is the root cause: %d/%d"
          % (sum(s.rooted for s in broken), len(broken)))
    print("false warnings: %d/%d healthy programs warned (%d alerts); "
          "ordinary architectures: %d/%d warned, %d critical" % (
              len(warned), len(controls), sum(s.counted for s in warned),
              sum(bool(s.counted) for s in ordinary), len(ordinary),
              sum(s.critical for s in ordinary)))
    print("time: %.0fs of training and diagnosis"
          % sum(s.seconds for s in summaries))
    return all(s.rooted for s in broken) and not warned


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.broken_trainings")
    parser.add_argument("--group", action="append")
    parser.add_argument("--program", action="append")
    parser.add_argument("--no-live", action="store_true",
                        help="skip the replay of the live tracker")
    parser.add_argument("--verbose", action="store_true",
                        help="print each counted alert's message, advice "
                             "and consequences")
    args = parser.parse_args(argv)
    names = [p.name for p in PROGRAMS.values()
             if (not args.group or p.group in args.group)
             and (not args.program or p.name in args.program)]
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as root:
        print("%-34s %-26s %-22s %s" % ("program", "class", "verdict",
                                        "alerts >= warning (primary first)"))
        summaries = []
        for name in names:
            summaries.append(_summarize((name, root, not args.no_live,
                                         args.verbose)))
            print(summaries[-1].line, flush=True)
    return 0 if _figures(summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
