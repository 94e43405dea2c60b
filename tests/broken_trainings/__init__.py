"""A suite of buggy training programs, their corrected versions, and
ordinary healthy programs, for judging diagnosis.

    python -m tests.broken_trainings                # the whole suite
    python -m tests.broken_trainings --group "3 heads" --group legacy

prints, per program, the alerts that count toward the run's status, which
one is primary (first) and whether it names the root cause; then the
detection rate, the primary-is-root-cause rate and the false warnings on
healthy programs. tests/test_detection_suite.py runs the same programs
under pytest. One module per class of issue 15 (see common.py for how a
program is written and registered).
"""

from tests.broken_trainings import (  # noqa: F401 (registers the programs)
    advice, architectures, collapse, consequences, harmless, heads, labels,
    legacy, live, measured_heads, overfitting, recovering, vanishing)
from tests.broken_trainings.common import PROGRAMS  # noqa: F401
from tests.broken_trainings.suite import (  # noqa: F401
    all_advice_problems, live_problems, run_program)
