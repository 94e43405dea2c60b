"""The suite of buggy programs, their corrected versions and ordinary
healthy programs (tests/broken_trainings/): each broken program's root
cause is the primary alert; no healthy program gets a warning; every
alert's advice points the way its run's evidence does; what the live
tracker raised on a healthy run does not stay standing, and nothing the
callback raised live vanishes from the final report.

`python -m tests.broken_trainings` prints the same as a table with the
suite's figures.
"""

import pytest

from tests.broken_trainings import (
    PROGRAMS, all_advice_problems, live_problems, run_program)


def _run(name, tmp_path):
    return run_program(PROGRAMS[name], str(tmp_path / name))


def _problems(result):
    program = result.program
    problems = all_advice_problems(result) + live_problems(result)
    if program.check:
        problems += program.check(result)
    return problems


def _shown(result):
    return ["%s@%s %s" % (a.kind, a.severity, a.message)
            for a in result.counted]


@pytest.mark.parametrize("name", sorted(
    n for n, p in PROGRAMS.items() if not p.healthy))
def test_broken_program_names_its_root_cause_first(name, tmp_path):
    result = _run(name, tmp_path)
    assert result.root_is_primary, (result.program.root, _shown(result))
    assert result.primary.advice and result.primary.message
    assert _problems(result) == []


@pytest.mark.parametrize("name", sorted(
    n for n, p in PROGRAMS.items() if p.healthy))
def test_healthy_program_gets_no_warning(name, tmp_path):
    result = _run(name, tmp_path)
    assert result.counted == [], _shown(result)
    assert _problems(result) == []


def test_every_class_of_issue_15_has_two_programs_and_their_fixes():
    groups = {}
    for program in PROGRAMS.values():
        groups.setdefault(program.group, []).append(program)
    for number in range(1, 12):
        group = [g for g in groups if g.startswith("%d " % number)]
        assert len(group) == 1, number
        programs = groups[group[0]]
        assert len(programs) >= 2
        broken = [p.name for p in programs if not p.healthy]
        fixed = {p.fixes for p in programs if p.healthy}
        assert len(broken) >= 2, group
        for name in broken:  # each with its corrected version
            assert name in fixed, name
    assert len(groups["architectures"]) >= 5
    for program in PROGRAMS.values():
        if program.fixes:
            assert not PROGRAMS[program.fixes].healthy, program.name
