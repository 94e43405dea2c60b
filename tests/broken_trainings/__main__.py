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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.broken_trainings")
    parser.add_argument("--group", action="append")
    parser.add_argument("--program", action="append")
    parser.add_argument("--no-live", action="store_true",
                        help="skip the replay of the live tracker")
    args = parser.parse_args(argv)
    programs = [p for p in PROGRAMS.values()
                if (not args.group or p.group in args.group)
                and (not args.program or p.name in args.program)]
    warnings.simplefilter("ignore")
    results = []
    with tempfile.TemporaryDirectory() as root:
        print("%-34s %-26s %-22s %s" % ("program", "class", "verdict",
                                        "alerts >= warning (primary first)"))
        for program in programs:
            result = run_program(program, log_dir_for(root, program),
                                 live=not args.no_live)
            results.append(result)
            print(_line(result), flush=True)
    broken = [r for r in results if not r.program.healthy]
    controls = [r for r in results if r.program.healthy]
    ordinary = [r for r in controls if r.program.group == "architectures"]
    detected = sum(r.detected for r in broken)
    rooted = sum(r.root_is_primary for r in broken)
    warned = [r for r in controls if r.counted]
    print()
    print("detection: %d/%d broken programs raise their root cause (primary "
          "or consequence)" % (detected, len(broken)))
    print("primary is the root cause: %d/%d" % (rooted, len(broken)))
    print("false warnings: %d/%d healthy programs warned (%d alerts); "
          "ordinary architectures: %d/%d warned, %d critical" % (
              len(warned), len(controls), sum(len(r.counted) for r in warned),
              sum(bool(r.counted) for r in ordinary), len(ordinary),
              sum(any(a.severity == "critical" for a in r.counted)
                  for r in ordinary)))
    print("time: %.0fs" % sum(r.seconds for r in results))
    ok = rooted == len(broken) and not warned
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
