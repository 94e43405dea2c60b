"""The Train Health dashboard at scale: route latencies, first render, memory.

    python benchmarks/dashboard_scale.py [--logdir DIR] [--layers 200]
        [--steps 20000] [--load-fast true|false] [--json OUT]

Writes (or reuses, with --logdir) a synthetic log of a 200-layer model
recorded at every one of 20,000 steps through the project's own writer
(benchmarks/generate_scale_logdir.py), starts a real `tensorboard` on it and
prints:

* the cost of reading the whole run (through TensorBoard's data provider,
  diagnosing it, shaping it), as measured in this process on the same data
  path; on the Rust data server, its calls as they are and nudged along
  by prompt_provider.py (which the plugin does); and what the first
  requests for the run cost through a fresh plugin (answered from a
  sample of the records while the whole run is read in the background);
* a live run: one record is appended to the run while TensorBoard serves
  it, and /run is polled every half second: the latency of each answer
  (the plugin answers from its previous read, marked "stale", while it
  reads the new data in the background) and the time until an answer
  holds the new record;
* every route's latency once the run is read: a repeated request (served
  from the response cache) and a new query (a new zoom range, computed
  from the cached run), with the bytes sent; every request accepts gzip,
  as a browser's does, so compressing what is sent is counted;
* the tab's first render in headless Chromium (Debian's): from navigation
  to the page's `data-rendered` mark with every heatmap drawn, for
  TensorBoard's page (which boots TensorBoard's own app first, then the
  tab's iframe) and for the plugin's page alone, and the tab's own part
  (from its page's start to its first complete render);
* the tab opened on a run the plugin never read, in a second TensorBoard:
  its first render (from a sample of the records) and the time until the
  whole run is shown;
* the TensorBoard process's memory (and its data server's): after start,
  peak (VmHWM) and at the end, after 60 zoom queries.

It asserts nothing: the figures are for reading (the README quotes them).
"""

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "benchmarks"))

from tests import tb_process  # noqa: E402

PREFIX = "/data/plugin/trainhealth"
SIGNALS = ("dead_fraction", "saturation", "grad_norm", "update_ratio")
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu",
               "--disable-background-networking"]
SCREEN_POINTS = 1000  # what the tab asks for at a 1280 px wide window
BROWSER_HEADERS = {"Accept-Encoding": "gzip, deflate, br"}


def status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(status(int(entry))["PPid"]) == pid:
                out.append(int(entry))
                out.extend(children(int(entry)))
        except (OSError, KeyError, ValueError):
            pass
    return out


def memory(pid):
    """{process name: (RSS MB, peak RSS MB)} of pid and its children."""
    out = {}
    for p in [pid] + children(pid):
        try:
            st = status(p)
        except OSError:
            continue
        mb = lambda key: int(st[key].split()[0]) / 1024.0  # noqa: E731
        name = "tensorboard" if p == pid else st["Name"]
        out["%s (%d)" % (name, p)] = (mb("VmRSS"), mb("VmHWM"))
    return out


def timed_get(tb, path):
    """(seconds, bytes sent) of a GET as the tab's browser makes it."""
    elapsed, size, _ = browser_get(tb, path)
    return elapsed, size


def browser_get(tb, path):
    """(seconds, bytes sent, JSON body) of a GET as the tab's browser makes
    it: accepting gzip, so the time includes compressing what is sent."""
    started = time.perf_counter()
    code, body, headers = tb.get(path, headers=BROWSER_HEADERS)
    elapsed = time.perf_counter() - started
    if code != 200:
        raise RuntimeError("%s answered %d: %r" % (path, code, body[:200]))
    return elapsed, len(body), json.loads(_decoded(body, headers))


def _client_get(client, path):
    """(seconds, JSON body) of a GET through a werkzeug test client, asked
    as `browser_get` asks."""
    started = time.perf_counter()
    response = client.get(path, headers=BROWSER_HEADERS)
    body = response.get_data()
    elapsed = time.perf_counter() - started
    return elapsed, json.loads(_decoded(body, response.headers))


def _decoded(body, headers):
    if headers.get("Content-Encoding") == "gzip":
        return gzip.decompress(body)
    return body


def query(route, **params):
    return "%s%s?%s" % (PREFIX, route, urllib.parse.urlencode(params))


def ensure_logdir(args):
    logdir = args.logdir or tempfile.mkdtemp(prefix="trainhealth_scale_")
    marker = os.path.join(logdir, ".generated-%dx%d" % (args.layers,
                                                       args.steps))
    if not os.path.exists(marker):
        import generate_scale_logdir

        print("writing %d layers x %d steps into %s ..."
              % (args.layers, args.steps, logdir), flush=True)
        started = time.time()
        generate_scale_logdir.write_run(os.path.join(logdir, "deep_000"),
                                        args.layers, args.steps, seed=0)
        open(marker, "w").close()
        print("  written in %.1f s" % (time.time() - started), flush=True)
    return logdir


def cold_read(logdir, load_fast):
    """Seconds to read, diagnose and shape the run, in this process."""
    from tensorboard import context
    from tensorboard_plugin_trainhealth import reader
    from tensorboard_plugin_trainhealth import shaping
    from tests import providers

    ctx = context.RequestContext()
    opener = (providers.rust_provider(logdir, timeout=600) if load_fast else
              _nullcontext(providers.python_provider(logdir)))
    with opener as provider:
        started = time.perf_counter()
        series = reader.read_run(provider, ctx, "", "deep_000")
        read = time.perf_counter() - started
        started = time.perf_counter()
        diagnosis = shaping.served_diagnosis(series)
        diagnose = time.perf_counter() - started
        started = time.perf_counter()
        shaping.ShapedRun(series)
        shape = time.perf_counter() - started
        del series
        calls = provider_calls(provider, ctx) if load_fast else None
        routes = cold_routes(logdir, provider)
    return {"read_s": read, "diagnose_s": diagnose, "shape_s": shape,
            "alerts": len(diagnosis["alerts"]), "routes": routes,
            "provider_calls": calls}


def provider_calls(provider, ctx, repeats=10):
    """Milliseconds of the data server calls the plugin makes, as they are
    and nudged by prompt_provider.py (median of `repeats`; the whole read
    median of 3)."""
    from tensorboard_plugin_trainhealth import metadata
    from tensorboard_plugin_trainhealth import prompt_provider
    from tensorboard_plugin_trainhealth import reader

    def listing(p, lister):
        return lambda: getattr(p, lister)(
            ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME)

    def read(p, max_records):
        return lambda: reader.read_run(p, ctx, "", "deep_000",
                                       max_records=max_records)

    nudged = prompt_provider.wrap(provider)
    out = []
    for name, make, n in (("list_scalars", lambda p: listing(p, "list_scalars"),
                           repeats),
                          ("list_tensors", lambda p: listing(p, "list_tensors"),
                           repeats),
                          ("read_run, 500 records per tag",
                           lambda p: read(p, 500), repeats),
                          ("read_run, whole run", lambda p: read(p, None), 3)):
        times = {"as_is": [], "nudged": []}
        for _ in range(n):  # interleaved
            for label, p in (("as_is", provider), ("nudged", nudged)):
                call = make(p)
                started = time.perf_counter()
                call()
                times[label].append(1000 * (time.perf_counter() - started))
        out.append({"call": name,
                    "as_is_ms": statistics.median(times["as_is"]),
                    "nudged_ms": statistics.median(times["nudged"])})
    return out


def cold_routes(logdir, provider):
    """What the tab's first requests for a run never read cost, through
    the plugin served by TensorBoard's WSGI app (a fresh plugin, same
    provider): each answer's ms, and the seconds until the whole run is
    served (the first answers come from a sample of its records)."""
    from tests import wsgi_client

    client, _ = wsgi_client.make_client(logdir, provider)
    paths = [("/run", query("/run", run="deep_000",
                            max_steps=SCREEN_POINTS))] + [
        ("/heatmap " + s, query("/heatmap", run="deep_000", signal=s,
                                max_steps=SCREEN_POINTS, format="f32"))
        for s in SIGNALS]
    paths.append(("/runs", query("/runs")))
    started = time.perf_counter()
    answers = []
    for name, path in paths:
        elapsed, body = _client_get(client, path)
        answers.append({"route": name,
                        "ms": 1000 * elapsed,
                        "preliminary": bool(body.get("preliminary")),
                        "stale": bool(body.get("stale"))})
    polls = []
    while time.perf_counter() - started < 120:
        time.sleep(0.5)
        elapsed, body = _client_get(client, paths[0][1])
        polls.append(1000 * elapsed)
        if not body.get("stale"):
            break
    return {"answers": answers, "poll_ms": polls,
            "seconds_to_whole_run": time.perf_counter() - started}


class _nullcontext:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return False


def wait_until_loaded(tb, steps, timeout=600):
    """Polls until TensorBoard serves all `steps` records of the run."""
    def loaded():
        body = tb.get_json(query("/run", run="deep_000", max_steps=10))
        grad = body["step_series"].get("grad_norm_global")
        records = body["signals"].get("grad_norm", {}).get("records", 0)
        return (grad and grad["step_ends"][-1] == steps - 1
                and records == steps)
    return tb_process.wait_for(loaded, timeout, "all records", interval=2)


def live_update(tb, logdir, steps, timeout=180):
    """Appends a record to the run and polls /run until it is served."""
    from tensorboard_plugin_trainhealth import metadata as md
    from tensorboard_plugin_trainhealth.writer import SummaryWriter

    path = query("/run", run="deep_000", max_steps=SCREEN_POINTS)
    # The run's current data is read and cached (a reused logdir may hold
    # the records earlier runs of this benchmark appended).
    def whole_run():
        body = tb.get_json(path)
        return None if body.get("stale") else body

    body = tb_process.wait_for(whole_run, timeout, "the whole run")
    new_step = body["extent"][1] + 1
    writer = SummaryWriter(os.path.join(logdir, "deep_000"))
    writer.scalar(md.STEP_LOSS, new_step, 0.5)
    writer.close()
    written = time.perf_counter()
    answers = []
    while time.perf_counter() - written < timeout:
        elapsed, _, body = browser_get(tb, path)
        answers.append({"ms": 1000 * elapsed,
                        "stale": bool(body.get("stale"))})
        loss = body["step_series"].get("loss") or {}
        if not body.get("stale") and (loss.get("step_ends") or [0])[-1] \
                == new_step:
            break
        time.sleep(0.5)
    return {"answers": answers,
            "seconds_to_new_data": time.perf_counter() - written,
            "max_ms": max(a["ms"] for a in answers),
            "stale_answers": sum(a["stale"] for a in answers)}


def route_latencies(tb, steps):
    width = max(steps // 10, 2)
    zoom = {"start_step": steps // 2, "end_step": steps // 2 + width}
    routes = [("/runs", query("/runs"))]
    routes.append(("/run (whole run)", query("/run", run="deep_000",
                                             max_steps=SCREEN_POINTS)))
    routes.append(("/run (zoomed, 10%)", query("/run", run="deep_000",
                                               max_steps=SCREEN_POINTS,
                                               **zoom)))
    for signal in SIGNALS:
        routes.append(("/heatmap %s" % signal, query(
            "/heatmap", run="deep_000", signal=signal,
            max_steps=SCREEN_POINTS, format="f32")))
    routes.append(("/heatmap grad_norm (zoomed)", query(
        "/heatmap", run="deep_000", signal="grad_norm",
        max_steps=SCREEN_POINTS, format="f32", **zoom)))
    routes.append(("/heatmap grad_norm (JSON)", query(
        "/heatmap", run="deep_000", signal="grad_norm",
        max_steps=SCREEN_POINTS)))
    results = []
    for name, path in routes:
        timed_get(tb, path)  # may compute; what the page sees on a poll:
        repeats = [timed_get(tb, path) for _ in range(5)]
        # The browser revalidating an answer it has (ETag): 304, no body.
        _, _, headers = tb.get(path, headers=BROWSER_HEADERS)
        revalidated = []
        if headers.get("ETag"):
            for _ in range(5):
                started = time.perf_counter()
                code, body, _ = tb.get(path, headers=dict(
                    BROWSER_HEADERS, **{"If-None-Match": headers["ETag"]}))
                revalidated.append((time.perf_counter() - started, code,
                                    len(body)))
        # A query not asked before (a new zoom): computed from the cached
        # run, not from the response cache.
        fresh = []
        for k in range(5):
            if "/runs" in path:
                break
            shifted = path + "&start_step=%d" % (k + 1) if "start_step" \
                not in path else path.replace(
                    "start_step=%d" % zoom["start_step"],
                    "start_step=%d" % (zoom["start_step"] + k + 1))
            fresh.append(timed_get(tb, shifted)[0])
        results.append({
            "route": name,
            "repeat_ms": 1000 * statistics.median(t for t, _ in repeats),
            "new_query_ms": 1000 * statistics.median(fresh) if fresh
            else None,
            "new_query_max_ms": 1000 * max(fresh) if fresh else None,
            "bytes": repeats[0][1],
            "revalidated_ms": 1000 * statistics.median(
                t for t, _, _ in revalidated) if revalidated else None,
            "revalidated": sorted({"%d, %d bytes" % (code, size)
                                   for _, code, size in revalidated}),
        })
    return results


def wait_until_drawn(frame):
    """Waits for the tab's first complete render: its page marked rendered
    and the last heatmap drawn."""
    frame.locator(":root[data-rendered='true']").wait_for(timeout=120000)
    frame.locator(".th-heatmap[data-signal='update_ratio'] "
                  "canvas.th-heatmap-canvas").wait_for(timeout=120000)


def _median_range(values):
    return statistics.median(values), min(values), max(values)


def first_render(tb, repeats=7):
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        for i in range(repeats):
            for where, url in (("tab in TensorBoard", tb.url + "/#trainhealth"),
                               ("plugin page alone", tb.url +
                                "/data/plugin_entry.html?name=trainhealth")):
                context = browser.new_context(
                    viewport={"width": 1280, "height": 900})
                page = context.new_page()
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                started = time.perf_counter()
                page.goto(url)
                if url.endswith("#trainhealth"):
                    frame = page.frame_locator("iframe")
                else:
                    frame = page
                wait_until_drawn(frame)
                elapsed = time.perf_counter() - started
                # The tab's own part: from the start of its page (the
                # iframe's navigation) to its first complete render.
                plugin = next(f for f in page.frames
                              if "plugin_entry" in f.url)
                own = plugin.evaluate("window.__thFirstRender") / 1000.0
                context.close()
                out.append({"where": where, "run": i, "seconds": elapsed,
                            "tab_seconds": own, "errors": errors})
        browser.close()
    return out


def wait_until_settled(tb, timeout=600):
    """Waits until TensorBoard's processes stop growing: the logdir is
    loaded (without asking the plugin, which would read the run)."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        total = sum(rss for rss, _ in memory(tb.pid).values())
        if previous is not None and abs(total - previous) < 1.0:
            return
        previous = total
        time.sleep(1.5)
    raise TimeoutError("TensorBoard kept loading")


def cold_render(logdir, load_fast):
    """The tab opened on a run the plugin never read, in a new TensorBoard
    (the plugin page alone): seconds to the first complete render, whether
    it was preliminary, and seconds until the whole run is shown."""
    from playwright.sync_api import sync_playwright

    with tb_process.TensorBoardProcess(logdir, load_fast=load_fast) as tb:
        tb.wait_for_plugin("trainhealth", timeout=600)
        wait_until_settled(tb)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            started = time.perf_counter()
            page.goto(tb.url + "/data/plugin_entry.html?name=trainhealth")
            wait_until_drawn(page)
            first = time.perf_counter() - started
            preliminary = page.locator(".th-preliminary").count() > 0
            page.wait_for_function(
                "!document.querySelector('.th-preliminary')", timeout=120000)
            whole = time.perf_counter() - started
            browser.close()
    return {"first_render_s": first, "preliminary": preliminary,
            "whole_run_s": whole}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", help="reuse (or fill) this logdir")
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--load-fast", default="true",
                        choices=["true", "false"])
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    load_fast = args.load_fast == "true"
    logdir = ensure_logdir(args)
    figures = {"layers": args.layers, "steps": args.steps,
               "load_fast": load_fast}

    print("\nfirst request after a data change (in this process, %s):"
          % ("Rust data server" if load_fast else "Python multiplexer"))
    cold = cold_read(logdir, load_fast)
    figures["cold"] = cold
    print("  read %.2f s + diagnose %.2f s + shape %.2f s (%d alerts)"
          % (cold["read_s"], cold["diagnose_s"], cold["shape_s"],
             cold["alerts"]))
    if cold["provider_calls"]:
        print("  data server calls, as they are -> nudged along "
              "(prompt_provider.py), median:")
        for c in cold["provider_calls"]:
            print("    %-30s %8.1f -> %7.1f ms" % (c["call"], c["as_is_ms"],
                                                  c["nudged_ms"]))
    print("  through the plugin, a fresh one (first answers from a sample "
          "of the records, then the whole run in the background):")
    for a in cold["routes"]["answers"]:
        print("    %-26s %7.0f ms%s" % (
            a["route"], a["ms"],
            " (preliminary)" if a["preliminary"] else
            " (stale)" if a["stale"] else ""))
    print("    whole run served after %.1f s; polls meanwhile (every 0.5 s) "
          "answered in at most %.0f ms" % (
              cold["routes"]["seconds_to_whole_run"],
              max(cold["routes"]["poll_ms"])))

    with tb_process.TensorBoardProcess(logdir, load_fast=load_fast) as tb:
        tb.wait_for_plugin("trainhealth", timeout=600)
        started = time.time()
        figures["memory_started"] = memory(tb.pid)
        wait_until_loaded(tb, args.steps)
        print("\nTensorBoard loaded the run in %.1f s (polling /run)"
              % (time.time() - started))

        print("\nroute latencies, run already read (median of 5):")
        print("  %-30s %10s %12s %12s %10s  %s" % (
            "route", "repeat ms", "new query ms", "(max)", "bytes",
            "revalidated (ETag)"))
        latencies = route_latencies(tb, args.steps)
        figures["routes"] = latencies
        for r in latencies:
            print("  %-30s %10.1f %12s %12s %10d  %s" % (
                r["route"], r["repeat_ms"],
                "-" if r["new_query_ms"] is None else "%.1f" % r["new_query_ms"],
                "-" if r["new_query_max_ms"] is None
                else "%.1f" % r["new_query_max_ms"],
                r["bytes"],
                "-" if r["revalidated_ms"] is None else "%.1f ms: %s" % (
                    r["revalidated_ms"], "; ".join(r["revalidated"]))))

        live = [live_update(tb, logdir, args.steps) for _ in range(3)]
        figures["live"] = live
        print("\na live run, one record appended, /run polled every 0.5 s "
              "until it is served (3 times; TensorBoard reloads every 2 s "
              "here):")
        for round_ in live:
            print("  %2d answers, slowest %3.0f ms, %d of them stale; the new "
                  "record served %.1f s after it was written" % (
                      len(round_["answers"]), round_["max_ms"],
                      round_["stale_answers"],
                      round_["seconds_to_new_data"]))

        print("\nfirst render in headless Chromium, new browser context "
              "each time:\n  %-20s %18s %26s" % (
                  "page", "navigation->drawn", "tab page start->rendered"))
        renders = first_render(tb)
        figures["first_render"] = renders
        for r in renders:
            print("  %-20s %16.2f s %24.2f s%s" % (
                r["where"], r["seconds"], r["tab_seconds"],
                " ERRORS: %s" % r["errors"] if r["errors"] else ""))
        for where in sorted({r["where"] for r in renders}, reverse=True):
            mine = [r for r in renders if r["where"] == where]
            print("  %-20s median %.2f s [%.2f-%.2f] %15s %.2f s [%.2f-%.2f]" % (
                where, *_median_range([r["seconds"] for r in mine]), "median",
                *_median_range([r["tab_seconds"] for r in mine])))

        # Zooming around: 60 new ranges, each a new query.
        for k in range(60):
            lo = (k * 997) % max(1, args.steps - 1000)
            for signal in SIGNALS:
                timed_get(tb, query("/heatmap", run="deep_000", signal=signal,
                                    max_steps=SCREEN_POINTS, format="f32",
                                    start_step=lo, end_step=lo + 1000))
        figures["memory_end"] = memory(tb.pid)

    cold_tab = cold_render(logdir, load_fast)
    figures["cold_render"] = cold_tab
    print("\nthe tab opened on a run never read (a new TensorBoard, logdir "
          "loaded, plugin page alone): first render %.2f s%s; the whole run "
          "shown after %.2f s" % (
              cold_tab["first_render_s"],
              " (preliminary)" if cold_tab["preliminary"] else "",
              cold_tab["whole_run_s"]))

    print("\nmemory (MB): RSS after start -> RSS at the end / peak RSS")
    for name, (rss_end, peak) in figures["memory_end"].items():
        start = figures["memory_started"].get(name, (float("nan"),))[0]
        print("  %-26s %7.0f -> %7.0f / %7.0f" % (name, start, rss_end, peak))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
        print("\nwrote", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
