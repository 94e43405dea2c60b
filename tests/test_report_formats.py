"""The report's output formats, parsed back with real parsers.

The renderers are pure functions of the report document, so these tests
feed them documents with known alerts: today's alert dicts, dicts with the
keys of CONTRACTS.md A (consequences folded into their primary alert,
resolved and recovered alerts), and hostile names that try to break out of
XML, a workflow command or a Markdown table.
"""

import json
import re

import pytest
from junitparser import Error, Failure, JUnitXml
from markdown_it import MarkdownIt

from tensorboard_plugin_trainhealth import report as report_lib
from tensorboard_plugin_trainhealth.report_formats import FORMATS

# A primary alert whose findings came from it, a resolved warning, a
# recovered critical (does not count), and an alert as an older diagnosis
# wrote it (no message, consequences, resolved_step or recovered).
PRIMARY = {
    "kind": "non_finite", "severity": "critical", "layer": None,
    "first_step": 7, "last_step": 90, "evidence": {"signal": "inputs"},
    "advice": "Clean the NaN inputs.", "message": "NaN in the inputs at step 7",
    "consequences": [
        {"kind": "dead_relu", "layer": "dense_1", "first_step": 9,
         "message": "dense_1 went dead"},
        {"kind": "exploding_gradients", "layer": None, "first_step": 8,
         "message": "gradients exploded"}],
    "resolved_step": None, "recovered": False}
RESOLVED = {
    "kind": "saturation", "severity": "warning", "layer": "gate",
    "first_step": 10, "last_step": 30, "evidence": {}, "advice": "a",
    "message": "gate saturated", "consequences": [], "resolved_step": 31,
    "recovered": False}
RECOVERED = {
    "kind": "exploding_gradients", "severity": "critical", "layer": "conv",
    "first_step": 3, "last_step": 5, "evidence": {}, "advice": "clip",
    "message": "a spike", "consequences": [], "resolved_step": 6,
    "recovered": True}
OLD = {"kind": "stalled_loss", "severity": "warning", "layer": None,
       "first_step": 50, "last_step": 99, "evidence": {}, "advice": "b"}

HOSTILE = "<img src=x onerror=alert(1)>|a,b:c%0A\n::error::x\x00\x1b]]>&amp;"


def doc_of(**runs):
    unreadable = runs.pop("_unreadable", ())
    return report_lib.document(
        {run: report_lib.run_entry(alerts) for run, alerts in runs.items()},
        unreadable)


def test_status_follows_recovered_and_old_dicts():
    assert report_lib.run_entry([RECOVERED])["status"] == "ok"
    assert report_lib.run_entry([RESOLVED, RECOVERED])["status"] == "warning"
    assert report_lib.run_entry([OLD, PRIMARY])["status"] == "critical"
    assert report_lib.counts([PRIMARY, RESOLVED, RECOVERED, OLD]) == {
        "critical": 1, "warning": 2}


def test_text_folds_consequences_and_lists_resolved_last():
    text = FORMATS["text"](doc_of(run=[RESOLVED, PRIMARY, OLD, RECOVERED]))
    lines = text.splitlines()
    assert lines[0] == "run: CRITICAL (4 alerts)"
    rows = [l for l in lines if l.startswith("  ") and not l.startswith(
        ("  -", "  advice", "  SEVERITY")) and "explains" not in l]
    # Active ones in diagnosis's order, then the resolved ones.
    assert [r.split()[1] for r in rows] == [
        "non_finite", "stalled_loss", "saturation", "exploding_gradients"]
    assert "(resolved at step 31)" in rows[2]
    assert "(resolved at step 6, recovered)" in rows[3]
    at = lines.index(next(l for l in lines if "non_finite" in l))
    assert lines[at + 1].strip() == (
        "explains: dead_relu in dense_1 from step 9: dense_1 went dead")
    assert lines[at + 2].strip() == (
        "explains: exploding_gradients from step 8: gradients exploded")
    # Consequences have no advice lines of their own.
    advice = [l for l in lines if l.startswith("  - ")]
    assert [a.split(":")[0] for a in advice] == [
        "  - non_finite", "  - stalled_loss", "  - saturation (gate)",
        "  - exploding_gradients (conv)"]


def parse_junit(xml):
    return {case.name: case for suite in JUnitXml.fromstring(xml)
            for case in suite}


def test_junit_one_case_per_run_failures_at_fail_on():
    doc = doc_of(bad=[PRIMARY, RESOLVED], meh=[OLD], fine=[RECOVERED],
                 _unreadable=[{"run": "gone", "path": "logs/gone",
                               "reason": "cannot be read (x)"}])
    cases = parse_junit(FORMATS["junit"](doc, "critical", "logs"))
    assert sorted(cases) == ["bad", "fine", "logs/gone", "meh"]
    [failure] = cases["bad"].result
    assert isinstance(failure, Failure) and failure.type == "critical"
    assert "non_finite" in failure.message
    assert "explains: dead_relu in dense_1 from step 9" in failure.text
    assert "resolved at step 31" in failure.text
    assert failure.text.index("non_finite") < failure.text.index("saturation")
    assert cases["meh"].is_passed and "stalled_loss" in cases["meh"].system_out
    assert cases["fine"].is_passed  # recovered: does not fail the gate
    [error] = cases["logs/gone"].result
    assert isinstance(error, Error) and error.message == "cannot be read (x)"

    suites = list(JUnitXml.fromstring(FORMATS["junit"](doc, "warning")))
    assert (suites[0].tests, suites[0].failures, suites[0].errors) == (4, 2, 1)


def test_junit_survives_hostile_names():
    alert = dict(PRIMARY, layer=HOSTILE, message=HOSTILE)
    xml = FORMATS["junit"](doc_of(**{HOSTILE: [alert]}), "warning", HOSTILE)
    [case] = parse_junit(xml).values()
    # Characters XML cannot carry become U+FFFD; everything else survives.
    clean = HOSTILE.replace("\x00", "\ufffd").replace("\x1b", "\ufffd")
    assert case.name == clean
    assert clean in case.result[0].text


def test_old_alert_dicts_render_in_every_format():
    doc = doc_of(run=[OLD])
    for name, render in FORMATS.items():
        out = render(doc, "warning", "t")
        assert "stalled_loss" in out.replace("\\_", "_"), name


GH_COMMAND = re.compile(r"^::(error|warning|notice) title=([^:]*)::(.*)$")


def unescape_gh(value):
    return (value.replace("%0A", "\n").replace("%0D", "\r")
            .replace("%3A", ":").replace("%2C", ",").replace("%25", "%"))


def test_github_commands_one_per_alert_escaped():
    doc = doc_of(**{"r,1": [PRIMARY, RESOLVED, RECOVERED, OLD]},
                 ok=[], _unreadable=[{"run": "x", "path": "logs/x",
                                      "reason": "not a regular file"}])
    lines = FORMATS["github"](doc).splitlines()
    parsed = [GH_COMMAND.match(line) for line in lines]
    assert all(parsed), lines
    assert [m.group(1) for m in parsed] == [
        "error", "warning", "warning", "notice", "error", "notice"]
    title, message = parsed[0].group(2), unescape_gh(parsed[0].group(3))
    assert unescape_gh(title) == "trainhealth: r,1: non_finite"
    assert message.startswith("run r,1: critical non_finite (steps 7-90)")
    assert "\n  explains: dead_relu in dense_1 from step 9" in message
    assert "resolved at step 31" in unescape_gh(parsed[2].group(3))
    assert "recovered" in unescape_gh(parsed[3].group(3))
    assert unescape_gh(parsed[-1].group(3)) == (
        "2 runs: 1 critical, 1 ok; 1 unreadable")


def test_github_commands_cannot_be_injected():
    alert = dict(OLD, layer=HOSTILE, message=HOSTILE, advice=HOSTILE)
    out = FORMATS["github"](doc_of(**{HOSTILE: [alert]}))
    lines = out.splitlines()
    assert len(lines) == 2  # one alert, one summary: no line break got out
    m = GH_COMMAND.match(lines[0])
    assert m and m.group(1) == "warning"
    assert HOSTILE in unescape_gh(m.group(3))
    assert unescape_gh(m.group(2)) == "trainhealth: %s: stalled_loss (%s)" % (
        HOSTILE, HOSTILE)


def markdown_tables(text):
    """[[row cells]] per table, as a CommonMark + GFM-tables parser sees
    them (cells as rendered text, HTML entities decoded)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    tables, cells, row = [], None, None
    for t in tokens:
        if t.type == "table_open":
            cells = []
        elif t.type == "tr_open":
            row = []
        elif t.type == "inline" and row is not None:
            row.append("".join(c.content if c.type in ("text", "html_inline")
                               else "\n" if c.type in ("softbreak",)
                               else "" for c in t.children))
        elif t.type == "tr_close":
            cells.append(row)
            row = None
        elif t.type == "table_close":
            tables.append(cells)
    return tables


def test_markdown_summary_and_alert_tables():
    doc = doc_of(bad=[RESOLVED, PRIMARY], fine=[],
                 _unreadable=[{"run": "x", "path": "logs/x", "reason": "gone"}])
    text = FORMATS["markdown"](doc, None, "logs")
    assert text.startswith("## Train Health: logs\n")
    summary, bad = markdown_tables(text)
    assert summary == [
        ["Run", "Status", "Critical", "Warning", "Alerts"],
        ["bad", "\u274c critical", "1", "1", "non_finite, saturation"],
        ["fine", "\u2705 ok", "0", "0", "\u2014"],
        ["logs/x", "unreadable", "", "", "gone"]]
    assert [row[1] for row in bad] == ["Kind", "non_finite", "saturation"]
    finding = bad[1][4]
    assert finding.startswith("NaN in the inputs at step 7")
    assert "<br>\u21b3 explains: dead_relu in dense_1 from step 9" in finding
    assert bad[2][4] == "gate saturated (resolved at step 31)"


def test_markdown_escapes_hostile_names():
    alert = dict(OLD, layer=HOSTILE)
    text = FORMATS["markdown"](doc_of(**{HOSTILE: [alert]}))
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<img" not in html
    summary, alerts = markdown_tables(text)
    assert len(summary[1]) == 5 and len(alerts[1]) == 6  # no extra columns
    flat = re.sub(r"\s+", " ", HOSTILE).strip().replace(
        "\x00", "\ufffd").replace("\x1b", "\ufffd")
    assert summary[1][0] == flat and alerts[1][2] == flat


def test_json_is_the_document():
    doc = doc_of(run=[PRIMARY])
    assert json.loads(FORMATS["json"](doc)) == doc


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_empty_logdir_document_renders(name):
    assert FORMATS[name](report_lib.document({}), "critical", "")
