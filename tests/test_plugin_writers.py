"""Two processes writing one run directory at the same time are detected
and said so in the run's problems (reader.concurrent_writers, from the
writers' heartbeats, writer.py), on both data paths and for the CLI's
reader; writers one after the other (two fits) are not."""

import os
import subprocess
import sys
import textwrap

from tensorboard import context

from tensorboard_plugin_trainhealth import metadata as md
from tensorboard_plugin_trainhealth import reader
from tensorboard_plugin_trainhealth.writer import SummaryWriter

from tests import providers
from tests import wsgi_client
from tests.wsgi_client import get_json, run_url

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A writer process: one record, then it says it started and waits for the
# other to have started too, so that the two certainly write at once.
WRITER = textwrap.dedent("""
    import os, sys, time
    from tensorboard_plugin_trainhealth import metadata as md
    from tensorboard_plugin_trainhealth.writer import SummaryWriter
    run_dir, me, other, value = sys.argv[1:5]
    writer = SummaryWriter(run_dir, flush_secs=1)
    writer.scalar(md.STEP_LOSS, 0, float(value))
    writer.flush()
    open(os.path.join(run_dir, "..", me), "w").close()
    deadline = time.time() + 60
    while not os.path.exists(os.path.join(run_dir, "..", other)):
        if time.time() > deadline:
            sys.exit("the other writer never started")
        time.sleep(0.05)
    for step in range(1, 20):
        writer.scalar(md.STEP_LOSS, step, float(value))
        writer.vector(md.LAYER_DEAD_FRACTION, step, [float(value) / 10],
                      [{"name": "dense"}])
    writer.close()
""")


def _two_processes_at_once(run_dir):
    os.makedirs(run_dir)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep
               + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="3")
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER, run_dir, me, other,
                          value], env=env)
        for me, other, value in (("a.started", "b.started", "1"),
                                 ("b.started", "a.started", "2"))]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    return [p.pid for p in processes]


def _one_after_the_other(run_dir):
    for first_step in (0, 20):  # two fits, the second continuing the first
        writer = SummaryWriter(run_dir)
        for step in range(first_step, first_step + 20):
            writer.scalar(md.STEP_LOSS, step, 1.0)
        writer.close()


def test_two_processes_writing_one_run_are_reported(tmp_path):
    root = str(tmp_path / "logs")
    pids = _two_processes_at_once(os.path.join(root, "shared"))
    _one_after_the_other(os.path.join(root, "sequential"))
    ctx = context.RequestContext()
    for provider in providers.both(root):
        shared = reader.read_run(provider, ctx, "", "shared")
        (problem,) = [p for p in shared.problems if "writers" in p]
        assert problem.startswith("2 writers wrote this run at the same "
                                  "time")
        for pid in pids:
            assert "pid %d" % pid in problem
        assert "39 records" in problem  # 1 + 19 losses + 19 dead fractions
        sequential = reader.read_run(provider, ctx, "", "sequential")
        assert sequential.problems == []
        # The tab's run list and the run itself say so.
        client, _ = wsgi_client.make_client(root, provider)
        listed = {r["run"]: r for r in get_json(client, "/runs")["runs"]}
        assert problem in listed["shared"]["problems"]
        assert listed["sequential"]["problems"] == []
        assert problem in get_json(client, run_url("/run", "shared"))[
            "problems"]


def test_each_writer_says_who_it_is(tmp_path):
    writer = SummaryWriter(str(tmp_path), writer_id="fit-1")
    assert writer.identity["id"] == "fit-1"
    assert writer.identity["pid"] == os.getpid()
    assert isinstance(writer.identity["host"], str)
    writer.scalar(md.STEP_LOSS, 0, 1.0)
    writer.close()
    writer.close()  # closing twice is harmless
    provider = reader.open_logdir(str(tmp_path))
    ctx = context.RequestContext()
    tags = provider.list_scalars(ctx, experiment_id="",
                                 plugin_name=md.PLUGIN_NAME)["."]
    beat = tags[md.writer_tag("fit-1")]
    content = md.parse_plugin_content(beat.plugin_content)
    assert content["writer"] == writer.identity
    # At its first record and at its close.
    assert beat.max_step == 1


def test_concurrent_writers_from_their_heartbeats():
    def track(pid, first, last):
        return {"writer": {"pid": pid, "host": "h"}, "first": first,
                "last": last, "records": 3}

    assert reader.concurrent_writers([]) is None
    assert reader.concurrent_writers([track(1, 0.0, 5.0),
                                      track(2, 5.5, 9.0),
                                      track(3, 10.0, 12.0)]) is None
    problem = reader.concurrent_writers([track(1, 0.0, 5.0),
                                         track(2, 6.0, 9.0),
                                         track(3, 8.0, 12.0)])
    assert problem.startswith("2 writers") and "pid 1 " not in problem
    assert "pid 2 on h" in problem and "pid 3 on h" in problem
    # One writing all along, two others in turn inside it.
    problem = reader.concurrent_writers([track(1, 0.0, 50.0),
                                         track(2, 6.0, 9.0),
                                         track(3, 10.0, 12.0)])
    assert problem.startswith("3 writers")
