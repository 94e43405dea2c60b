"""The data provider wrapper that nudges the Rust data server's answers
along (prompt_provider.py), against a real data server.

How much it saves is measured by benchmarks/dashboard_scale.py; here: it
wraps only the gRPC provider, answers exactly what the provider answers,
and leaves no thread behind.
"""

import threading
import time

import numpy as np
import pytest
from tensorboard import context
from tensorboard.data import provider as provider_lib

from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import prompt_provider
from tensorboard_plugin_trainhealth import reader
from tests import logdir_fixtures as fx
from tests import providers


@pytest.fixture(scope="module")
def rust(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    fx.write_run(str(root / "run"))
    with providers.rust_provider(str(root)) as data_provider:
        yield data_provider


def _nudgers():
    return [t for t in threading.enumerate()
            if t.name == "trainhealth-nudge" and t.is_alive()]


def test_only_the_grpc_provider_is_wrapped(rust, tmp_path):
    assert isinstance(prompt_provider.wrap(rust),
                      prompt_provider.PromptProvider)
    python = providers.python_provider(tmp_path)
    assert prompt_provider.wrap(python) is python
    assert prompt_provider.wrap(None) is None


def test_answers_what_the_provider_answers(rust):
    ctx = context.RequestContext()
    prompt = prompt_provider.wrap(rust)
    for lister in ("list_scalars", "list_tensors"):
        raw = getattr(rust, lister)(ctx, experiment_id="",
                                    plugin_name=metadata.PLUGIN_NAME)
        nudged = getattr(prompt, lister)(ctx, experiment_id="",
                                         plugin_name=metadata.PLUGIN_NAME)
        assert {r: sorted(t) for r, t in nudged.items()} == \
            {r: sorted(t) for r, t in raw.items()}
        assert len(raw["run"]) >= 3  # enough tags to stall unnudged
    # Forwarded as is: what the wrapper does not define.
    assert prompt.list_runs(ctx, experiment_id="")[0].run_name == "run"

    tags = provider_lib.RunTagFilter(runs=["run"],
                                     tags=[metadata.LAYER_DEAD_FRACTION])
    raw = rust.read_tensors(ctx, experiment_id="",
                            plugin_name=metadata.PLUGIN_NAME,
                            downsample=1000, run_tag_filter=tags)
    nudged = prompt.read_tensors(ctx, experiment_id="",
                                 plugin_name=metadata.PLUGIN_NAME,
                                 downsample=1000, run_tag_filter=tags)
    raw_points = raw["run"][metadata.LAYER_DEAD_FRACTION]
    nudged_points = nudged["run"][metadata.LAYER_DEAD_FRACTION]
    assert [p.step for p in nudged_points] == [p.step for p in raw_points]
    # The fixture's second ReLU layer is dead at every step.
    assert all(np.array_equal(p.numpy, [0.0, 1.0]) for p in nudged_points)

    series = reader.read_run(prompt, ctx, "", "run")
    assert series.complete and not series.problems
    grad_norm = series.scalar(metadata.STEP_GRAD_NORM)
    assert grad_norm.values[0] == 5.0
    assert np.isnan(grad_norm.values[grad_norm.steps == fx.NAN_STEP][0])


def test_no_nudging_thread_outlives_its_call(rust):
    ctx = context.RequestContext()
    prompt = prompt_provider.wrap(rust)
    for _ in range(5):
        prompt.list_scalars(ctx, experiment_id="",
                            plugin_name=metadata.PLUGIN_NAME)
    deadline = time.monotonic() + 5
    while _nudgers() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _nudgers()
