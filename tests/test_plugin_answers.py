"""Encoded answers (answers.py): gzipped once, signed by an ETag, 304 on
revalidation, and every answer, 304s included, with its Content-Type, in
werkzeug and in a real `tensorboard` process's log."""

import gzip
import json
import os
import urllib.parse

from tensorboard_plugin_trainhealth import answers
from tensorboard_plugin_trainhealth import run_listing
from tensorboard_plugin_trainhealth import run_store

from tests import logdir_fixtures as fx
from tests import tb_process
from tests import wsgi_client
from tests.wsgi_client import PREFIX, run_url


def test_answers_are_gzipped_once_and_revalidated_by_etag(tmp_path,
                                                         monkeypatch,
                                                         counted_reads):
    root = str(tmp_path)
    fx.write_run(os.path.join(root, "run"))
    monkeypatch.setattr(run_listing, "FINGERPRINT_TTL_S", 0.0)
    monkeypatch.setattr(run_store, "STALE_WAIT_S", 60.0)
    from tensorboard_plugin_trainhealth import reader

    provider = reader.open_logdir(root)
    client, _ = wsgi_client.make_client(root, provider)
    path = PREFIX + run_url("/heatmap", "run", signal="dead_fraction",
                            format="f32")
    plain = client.get(path)
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == zipped.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    etag = zipped.headers["ETag"]
    assert etag == plain.headers["ETag"] and etag.startswith('"')

    # An unchanged run: the browser's revalidation gets no body.
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Content-Type"].startswith("application/json")
    # Another answer, or the same one after the data changed, is sent.
    other = client.get(PREFIX + run_url("/run", "run"),
                       headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag
    fx.write_run(os.path.join(root, "run"), start=30)
    provider._multiplexer.Reload()
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert json.loads(changed.get_data())["steps"] == list(range(60))
    assert counted_reads == ["run", "run"]


def test_flags_are_members_of_the_same_body():
    fresh = answers.json_answer({"run": "r", "values": [1, "NaN"]},
                                stale=False)
    stale = fresh.with_flags(stale=True)
    assert json.loads(fresh.text) == {"stale": False, "run": "r",
                                      "values": [1, "NaN"]}
    assert json.loads(stale.text) == {"stale": True, "run": "r",
                                      "values": [1, "NaN"]}
    assert stale.etag != fresh.etag
    assert gzip.decompress(stale.gzipped()).decode() == stale.text
    assert json.loads(answers.json_answer({}, stale=True).text) == {
        "stale": True}
    assert json.loads(answers.json_answer({"a": 1}).text) == {"a": 1}


def test_answer_cache_keeps_its_budget():
    cache = answers.AnswerCache(size=2, max_bytes=10 ** 6)
    first = cache.put("a", answers.json_answer({"x": 1}))
    assert cache.put("a", answers.json_answer({"x": 2})) is first
    cache.put("b", answers.json_answer({"x": 3}))
    cache.get("a")  # now the most recently used
    cache.put("c", answers.json_answer({"x": 4}))
    assert cache.get("b") is None and cache.get("a") is first
    assert cache.nbytes == sum(a.cost for a in cache.values())
    cache.forget(lambda key: key == "a")
    assert cache.get("a") is None and len(cache.values()) == 1


def test_a_real_tensorboard_logs_no_missing_content_type(tmp_path):
    """TensorBoard's security check logs "Content-Type is required on a
    Response" for an answer without one; werkzeug drops it from a 304."""
    fx.write_run(os.path.join(str(tmp_path), "run"))
    with tb_process.TensorBoardProcess(str(tmp_path),
                                       load_fast=False) as tb:
        tb.wait_for_plugin("trainhealth", timeout=60)
        paths = [PREFIX + run_url("/run", "run"),
                 PREFIX + run_url("/heatmap", "run", signal="grad_norm",
                                  format="f32"),
                 PREFIX + "/runs", PREFIX + "/catalogue"]
        revalidated = 0
        for path in paths:
            tb_process.wait_for(lambda: tb.get(path)[0] == 200, 60, path)
            status, _, headers = tb.get(path)
            if headers.get("ETag"):
                for _ in range(3):
                    code, body, again = tb.get(
                        path, headers={"If-None-Match": headers["ETag"]})
                    assert code == 304 and body == b""
                    assert again["Content-Type"].startswith(
                        "application/json")
                    revalidated += 1
        assert revalidated == 6  # /run and /heatmap; the run list and
        # the catalogue are made afresh for each request and not revalidated
        # Errors and assets too.
        assert tb.get(PREFIX + "/run?" + urllib.parse.urlencode(
            {"run": "nope"}))[0] == 404
        assert tb.get(PREFIX + "/index.js")[0] == 200
        log = tb.log_text()
    assert "Content-Type is required" not in log, log
    assert "security_validator" not in log, log
