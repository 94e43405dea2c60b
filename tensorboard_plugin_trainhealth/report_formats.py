"""The report document (report.py) as text, JUnit XML, GitHub workflow
commands and Markdown: what `trainhealth report --format F` prints.

Every format shows the same things: each run's status; its alerts, active
ones first, a primary alert's consequences folded inside it, resolved ones
marked "resolved at step N" (and "recovered"); and what could not be read.
Each renderer is `render(document, fail_on, title) -> str`, a pure function
of the document, so it renders a saved `--json` report the same way.

    FORMATS["junit"](doc, "critical", "logs/") -> "<?xml ...>"
"""

import json
import re
import xml.etree.ElementTree as ET

from tensorboard_plugin_trainhealth import report as report_lib


def render_json(doc, fail_on=None, title=""):
    del fail_on, title  # the document is the whole answer
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------- text


def render_text(doc, fail_on=None, title=""):
    del fail_on, title
    blocks = ["\n".join(_text_block(run, entry))
              for run, entry in doc["runs"].items()]
    lines = _unreadable_lines(doc)
    if lines:
        blocks.append("\n".join(["could not be read:"] + lines))
    return "\n\n".join(blocks) + "\n"


def _text_block(run, entry):
    views = report_lib.ordered_alerts(entry["alerts"])
    lines = ["%s: %s (%d alert%s)" % (run, entry["status"].upper(),
                                      len(views),
                                      "" if len(views) == 1 else "s")]
    if not views:
        return lines
    rows = [("SEVERITY", "KIND", "LAYER", "STEPS", "MESSAGE")]
    for v in views:
        state = report_lib.state_text(v)
        rows.append((v["severity"], v["kind"], v["layer"] or "-",
                     report_lib.steps_text(v),
                     v["message"] + (" (%s)" % state if state else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    indent = " " * (2 + sum(w + 2 for w in widths))
    for row, v in zip(rows, [None] + views):
        lines.append("  " + "  ".join(
            [c.ljust(w) for c, w in zip(row[:4], widths)] + [row[4]]))
        for c in (v["consequences"] if v else ()):
            lines.append(indent + "explains: " + report_lib.consequence_text(c))
    lines.append("  advice:")
    for v in views:
        if v["advice"]:
            lines.append("  - %s%s: %s" % (
                v["kind"], " (%s)" % v["layer"] if v["layer"] else "",
                v["advice"]))
    return lines


def _unreadable_lines(doc):
    return ["  %s: %s" % (u.get("path"), u.get("reason"))
            for u in doc.get("unreadable", ())]


def _alert_paragraph(v):
    """An alert as a few lines of plain text (JUnit and GitHub messages)."""
    where = " in layer %s" % v["layer"] if v["layer"] else ""
    head = "%s %s%s (steps %s): %s" % (v["severity"], v["kind"], where,
                                       report_lib.steps_text(v), v["message"])
    state = report_lib.state_text(v)
    lines = [head + (" [%s]" % state if state else "")]
    lines += ["  explains: " + report_lib.consequence_text(c)
              for c in v["consequences"]]
    if v["advice"]:
        lines.append("  advice: " + v["advice"])
    return "\n".join(lines)


# ---------------------------------------------------------------- JUnit

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text):
    return _NOT_XML.sub("\ufffd", str(text))


def render_junit(doc, fail_on=None, title=""):
    """One <testcase> per run: a <failure> when the run has an alert at or
    above `fail_on` (critical when not given), an <error> for a run that
    could not be read."""
    floor = fail_on or "critical"
    suite = ET.Element("testsuite", name=_xml_text("trainhealth %s" % title
                                                   if title else "trainhealth"))
    failures = errors = 0
    for run, entry in doc["runs"].items():
        case = ET.SubElement(suite, "testcase", classname="trainhealth",
                             name=_xml_text(run))
        views = report_lib.ordered_alerts(entry["alerts"])
        failing = report_lib.at_or_above(entry["alerts"], floor)
        if failing:
            failures += 1
            first = failing[0]
            failure = ET.SubElement(
                case, "failure", type=first["severity"],
                message=_xml_text("%s: %d alert%s at or above %s; first: %s%s"
                                  " - %s" % (
                                      entry["status"], len(failing),
                                      "" if len(failing) == 1 else "s", floor,
                                      first["kind"],
                                      " (%s)" % first["layer"]
                                      if first["layer"] else "",
                                      first["message"])))
            failure.text = _xml_text("\n\n".join(map(_alert_paragraph, views)))
        elif views:
            out = ET.SubElement(case, "system-out")
            out.text = _xml_text("\n\n".join(map(_alert_paragraph, views)))
    for u in doc.get("unreadable", ()):
        errors += 1
        case = ET.SubElement(suite, "testcase", classname="trainhealth",
                             name=_xml_text(u.get("path")))
        ET.SubElement(case, "error", type="unreadable",
                      message=_xml_text(u.get("reason"))).text = _xml_text(
                          "%s: %s" % (u.get("path"), u.get("reason")))
    total = len(doc["runs"]) + errors
    for key, value in (("tests", total), ("failures", failures),
                       ("errors", errors), ("skipped", 0)):
        suite.set(key, str(value))
    root = ET.Element("testsuites", name="trainhealth", tests=str(total),
                      failures=str(failures), errors=str(errors))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# ---------------------------------------------------------------- GitHub


def _gh_data(text):
    """Escapes a workflow command's message (GitHub's rules)."""
    return (str(text).replace("%", "%25").replace("\r", "%0D")
            .replace("\n", "%0A"))


def _gh_property(text):
    """Escapes a workflow command's property value (GitHub's rules)."""
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(doc, fail_on=None, title=""):
    """`::error` for each critical alert, `::warning` for each warning,
    `::notice` for recovered and info ones and a closing summary line; an
    unreadable run is an `::error`."""
    del fail_on
    lines = []
    for run, entry in doc["runs"].items():
        for v in report_lib.ordered_alerts(entry["alerts"]):
            if v["recovered"] or v["severity"] not in ("warning", "critical"):
                command = "notice"
            else:
                command = "error" if v["severity"] == "critical" else "warning"
            name = "trainhealth: %s: %s%s" % (
                run, v["kind"], " (%s)" % v["layer"] if v["layer"] else "")
            lines.append("::%s title=%s::%s" % (
                command, _gh_property(name),
                _gh_data("run %s: %s" % (run, _alert_paragraph(v)))))
    for u in doc.get("unreadable", ()):
        lines.append("::error title=%s::%s" % (
            _gh_property("trainhealth: cannot read %s" % u.get("path")),
            _gh_data("%s: %s" % (u.get("path"), u.get("reason")))))
    statuses = [e["status"] for e in doc["runs"].values()]
    summary = ", ".join("%d %s" % (statuses.count(s), s)
                        for s in reversed(report_lib.STATUSES)
                        if statuses.count(s))
    lines.append("::notice title=%s::%s" % (
        _gh_property("trainhealth%s" % (": " + title if title else "")),
        _gh_data("%d run%s: %s%s" % (
            len(statuses), "" if len(statuses) == 1 else "s",
            summary or "none",
            "; %d unreadable" % len(doc.get("unreadable", ()))
            if doc.get("unreadable") else ""))))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Markdown

_NOT_PRINTABLE = re.compile("[\x00-\x1f\x7f]")
# What is markup inside a table cell (inline content): emphasis, code,
# links and images (no link without "["), strikethrough, the cell
# separator, a heading's closing "#"; HTML and entities go as &lt; &amp;.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")
_BADGE = {"ok": "\u2705 ok", "warning": "\u26a0\ufe0f warning",
          "critical": "\u274c critical"}


def _md(text):
    """Text for a Markdown table cell: no HTML, no markup, one line."""
    text = (str(text).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))
    text = _NOT_PRINTABLE.sub("\ufffd", re.sub(r"\s+", " ", text).strip())
    return _MD_SPECIAL.sub(r"\\\1", text)


def render_markdown(doc, fail_on=None, title=""):
    """A summary table (one row per run) then one table of alerts per run
    that has any: fit for $GITHUB_STEP_SUMMARY or a pull-request comment."""
    del fail_on
    lines = ["## Train Health%s" % (": " + _md(title) if title else ""), "",
             "| Run | Status | Critical | Warning | Alerts |",
             "| --- | --- | ---: | ---: | --- |"]
    for run, entry in doc["runs"].items():
        n = report_lib.counts(entry["alerts"])
        kinds = ", ".join(_md(v["kind"]) for v in
                          report_lib.ordered_alerts(entry["alerts"]))
        lines.append("| %s | %s | %d | %d | %s |" % (
            _md(run), _BADGE.get(entry["status"], _md(entry["status"])),
            n["critical"], n["warning"], kinds or "\u2014"))
    for u in doc.get("unreadable", ()):
        lines.append("| %s | unreadable | | | %s |" % (
            _md(u.get("path")), _md(u.get("reason"))))
    for run, entry in doc["runs"].items():
        views = report_lib.ordered_alerts(entry["alerts"])
        if not views:
            continue
        lines += ["", "### %s" % _md(run), "",
                  "| Severity | Kind | Layer | Steps | Finding | Advice |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for v in views:
            finding = _md(v["message"])
            state = report_lib.state_text(v)
            if state:
                finding += " *(%s)*" % _md(state)
            for c in v["consequences"]:
                finding += "<br>\u21b3 explains: " + _md(
                    report_lib.consequence_text(c))
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                _md(v["severity"]), _md(v["kind"]), _md(v["layer"] or "-"),
                _md(report_lib.steps_text(v)), finding, _md(v["advice"])))
    return "\n".join(lines) + "\n"


FORMATS = {
    "text": render_text,
    "json": render_json,
    "junit": render_junit,
    "github": render_github,
    "markdown": render_markdown,
}
