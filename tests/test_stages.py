"""tests/run.sh runs every stage, whatever failed before, and sums them up."""

import os
import subprocess

STAGES = os.path.join(os.path.dirname(__file__), "stages.sh")


def _run(script):
    return subprocess.run(["bash", "-c", "source %s\n%s" % (STAGES, script)],
                          capture_output=True, text=True)


def test_a_failing_stage_does_not_stop_the_later_ones():
    result = _run("stage first echo '3 passed in 0.1s'\n"
                  "stage second bash -c 'echo \"1 failed, 2 passed in 1s\"; exit 1'\n"
                  "stage third echo '# pass 5'\n"
                  "finish_stages\n")
    assert result.returncode == 1
    out = result.stdout
    assert "== third" in out  # ran after the failure
    summary = out[out.index("== summary"):].splitlines()
    assert any("first" in line and "ok" in line and "3 passed" in line
               for line in summary), summary
    assert any("second" in line and "FAILED" in line and "1 failed, 2 passed"
               in line for line in summary), summary
    assert any("third" in line and "pass 5" in line for line in summary), summary
    assert "FAILED: at least one stage failed" in out


def test_all_stages_passing_exits_zero():
    result = _run("stage only true\nfinish_stages\n")
    assert result.returncode == 0, result.stdout
    assert "all stages passed" in result.stdout
