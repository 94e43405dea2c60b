"""Health as a column of TensorBoard's HParams dashboard.

Two real (tiny) trainings with TrainHealthCallback, each in a run directory
that also holds hparams written with TensorBoard's own `hparams` API: a
real `tensorboard` (both data paths) serves them and its HParams plugin,
asked through its own HTTP routes, reads `trainhealth/status` 0 for the
healthy run and 2 for the run with a dead layer, sortable and filterable.
"""

import warnings

import pytest

from tensorboard import context

from tensorboard_plugin_trainhealth import TrainHealthCallback
from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth import reader
from tests import hparams_routes, integration_models
from tests.tb_process import TensorBoardProcess

tf = pytest.importorskip("tensorflow")
from tensorboard.plugins.hparams import api as hp  # noqa: E402  (needs TF)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hparams")
    x, y = integration_models.data()
    for name, dead in (("healthy", False), ("dead_layer", True)):
        run_dir = str(root / name)
        with tf.summary.create_file_writer(run_dir).as_default():
            hp.hparams({"dead_bias": dead, "units": 8}, trial_id=name)
        model = integration_models.model(dead=dead)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x, y, epochs=2, batch_size=64, validation_split=0.25,
                      verbose=0, callbacks=[TrainHealthCallback(
                          run_dir, every_n_steps=1, verbose=0)])
    provider = reader.open_logdir(str(root))
    scalars = provider.list_scalars(context.RequestContext(), experiment_id="",
                                    plugin_name="scalars")
    if not all(set(metadata.HEALTH_TAGS) <= set(scalars.get(run, {}))
               for run in ("healthy", "dead_layer")):
        pytest.skip("the callback does not write the health scalars yet")
    return str(root)


@pytest.mark.parametrize("load_fast", [True, False])
def test_status_column_reads_0_healthy_and_2_dead(logdir, load_fast):
    with TensorBoardProcess(logdir, load_fast=load_fast) as tb:
        exp = hparams_routes.experiment(tb, metadata.HEALTH_STATUS, 2)
        assert {h["name"] for h in exp["hparamInfos"]} == {"dead_bias",
                                                           "units"}
        rows = hparams_routes.table(tb, exp, metadata.HEALTH_STATUS)
        by_run = {h["dead_bias"]: m for h, m in rows}
        assert by_run[False][metadata.HEALTH_STATUS] == 0.0
        assert by_run[True][metadata.HEALTH_STATUS] == 2.0
        assert by_run[False][metadata.HEALTH_CRITICALS] == 0.0
        assert by_run[True][metadata.HEALTH_CRITICALS] >= 1.0
        worst_first = hparams_routes.table(tb, exp, metadata.HEALTH_STATUS,
                                           order="ORDER_DESC")
        assert [h["dead_bias"] for h, _ in worst_first] == [True, False]
        healthy_only = hparams_routes.table(tb, exp, metadata.HEALTH_STATUS,
                                            interval=(0, 0))
        assert [h["dead_bias"] for h, _ in healthy_only] == [False]
