"""Asks a real TensorBoard's HParams plugin what its dashboard shows, through
the plugin's own HTTP routes (`/data/plugin/hparams/experiment` and
`/session_groups`, with the JSON request in `?request=`, as the dashboard
sends it)."""

import json
import urllib.parse

from tests.tb_process import wait_for

STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
            "STATUS_RUNNING"]


def _get(tb, route, request):
    return tb.get_json("/data/plugin/hparams/%s?request=%s" % (
        route, urllib.parse.quote(json.dumps(request))))


def experiment(tb, metric_tag, sessions, timeout=60):
    """The experiment once the plugin lists `metric_tag` as a metric column
    and `sessions` sessions have it."""
    def ready():
        exp = _get(tb, "experiment", {"experimentName": ""})
        tags = [m["name"]["tag"] for m in exp.get("metricInfos", [])]
        if metric_tag in tags and len(table(tb, exp, metric_tag)) >= sessions:
            return exp
        return None
    return wait_for(ready, timeout, "HParams metric %s" % metric_tag)


def table(tb, exp, metric_tag, order=None, interval=None):
    """[(hparams, {metric tag: value})] per session group, as the table
    shows it: sorted by `metric_tag` with `order` ("ORDER_ASC"/"_DESC") and
    filtered to `interval` ((min, max)) if given."""
    columns = [{"hparam": h["name"]} for h in exp.get("hparamInfos", [])]
    for m in exp.get("metricInfos", []):
        column = {"metric": m["name"]}
        if m["name"]["tag"] == metric_tag:
            if order:
                column["order"] = order
            if interval:
                column["filterInterval"] = {"minValue": interval[0],
                                            "maxValue": interval[1]}
        columns.append(column)
    answer = _get(tb, "session_groups", {
        "experimentName": "", "allowedStatuses": STATUSES,
        "colParams": columns, "startIndex": 0, "sliceSize": 100})
    return [(group["hparams"],
             {v["name"]["tag"]: v["value"] for v in group["metricValues"]})
            for group in answer.get("sessionGroups", [])]
