"""Every broken training raises its alert; no healthy training raises any.

Real (tiny) Keras trainings from tests/broken_trainings.py, diagnosed from
the series the callback recorded. `python -m tests.broken_trainings` prints
the same as a table with the detection rate and false-alarm count.
"""

import pytest

from tests import broken_trainings


@pytest.mark.parametrize("name", sorted(broken_trainings.BROKEN))
def test_broken_training_raises_its_alert(name, tmp_path):
    alerts = broken_trainings.run_scenario(broken_trainings.BROKEN[name],
                                           str(tmp_path / name))
    expected = broken_trainings.EXPECTED_KIND[name]
    kinds = {a.kind for a in alerts}
    assert expected in kinds, "%s raised only %s" % (name, sorted(kinds))
    alert = next(a for a in alerts if a.kind == expected)
    assert alert.advice and alert.message


@pytest.mark.parametrize("name", sorted(broken_trainings.HEALTHY))
def test_healthy_training_raises_no_warning(name, tmp_path):
    alerts = broken_trainings.run_scenario(broken_trainings.HEALTHY[name],
                                           str(tmp_path / name))
    assert alerts == [], [a.message for a in alerts]
