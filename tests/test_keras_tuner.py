"""KerasTuner: a real (tiny) search with TrainHealthCallback.

Three trials, one with a dead ReLU layer: each trial gets its own run
directory `logs/<trial_id>/execution0` with its hyperparameters, as
KerasTuner gives `keras.callbacks.TensorBoard`; `on_critical="stop"` ends
the broken trial in its first epoch and the search goes on. A real
TensorBoard's HParams plugin then shows one row per trial with the
trial's health in the `trainhealth/status` column.
"""

import os
import warnings

import pytest

keras_tuner = pytest.importorskip("keras_tuner")

from tensorboard import context  # noqa: E402
from tensorboard.plugins.hparams import metadata as hparams_metadata  # noqa: E402

from tensorboard_plugin_trainhealth import TrainHealthCallback  # noqa: E402
from tensorboard_plugin_trainhealth import reader  # noqa: E402
from tests import hparams_routes, integration_models  # noqa: E402
from tests.tb_process import TensorBoardProcess  # noqa: E402

EPOCHS = 2
VARIANTS = ["healthy", "dead", "wide"]


def build(hp):
    variant = hp.Choice("variant", VARIANTS)
    return integration_models.model(dead=variant == "dead",
                                    units=16 if variant == "wide" else 8)


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    root = tmp_path_factory.mktemp("tuner")
    logs = root / "logs"
    tuner = keras_tuner.GridSearch(
        build, objective="val_loss", max_trials=len(VARIANTS),
        directory=str(root / "tuner"), project_name="p", overwrite=True)
    x, y = integration_models.data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tuner.search(x, y, epochs=EPOCHS, batch_size=64,
                     validation_split=0.25, verbose=0,
                     callbacks=[TrainHealthCallback(
                         str(logs), on_critical="stop", every_n_steps=1,
                         verbose=0)])
    trials = {t.hyperparameters.get("variant"): t
              for t in tuner.oracle.trials.values()}
    return str(logs), trials


def test_every_trial_gets_its_run_dir_and_hparams(search):
    logs, trials = search
    assert sorted(trials) == sorted(VARIANTS)
    assert all(t.status == "COMPLETED" for t in trials.values())
    provider = reader.open_logdir(logs)
    ctx = context.RequestContext()
    runs = {"%s/execution0" % t.trial_id: v for v, t in trials.items()}
    assert reader.trainhealth_runs(provider, ctx, "") == sorted(runs)
    session_infos = provider.list_tensors(
        ctx, experiment_id="", plugin_name=hparams_metadata.PLUGIN_NAME)
    assert sorted(session_infos) == sorted(runs)
    for run, variant in runs.items():
        [tag] = session_infos[run]
        info = hparams_metadata.parse_session_start_info_plugin_data(
            session_infos[run][tag].plugin_content)
        assert info.hparams["variant"].string_value == variant
        assert info.group_name == trials[variant].trial_id
        assert os.path.isdir(os.path.join(logs, run))


def test_on_critical_stop_ends_only_the_broken_trial(search):
    logs, trials = search
    ctx = context.RequestContext()
    provider = reader.open_logdir(logs)
    epochs = {}
    for variant, trial in trials.items():
        series = reader.read_run(provider, ctx, "",
                                 "%s/execution0" % trial.trial_id)
        epochs[variant] = len(series.epochs["loss"])
    assert epochs == {"healthy": EPOCHS, "dead": 1, "wide": EPOCHS}
    # The tuner scored every trial, the broken one from its only epoch.
    assert trials["dead"].best_step == 0
    assert all(t.score is not None for t in trials.values())


def test_hparams_dashboard_shows_each_trials_health(search):
    logs, _ = search
    with TensorBoardProcess(logs, load_fast=True) as tb:
        exp = hparams_routes.experiment(tb, "trainhealth/status", 3)
        rows = hparams_routes.table(tb, exp, "trainhealth/status")
        health = {h["variant"]: m["trainhealth/status"] for h, m in rows}
        assert health == {"healthy": 0.0, "dead": 2.0, "wide": 0.0}
        ordered = hparams_routes.table(tb, exp, "trainhealth/status",
                                       order="ORDER_DESC")
        assert ordered[0][0]["variant"] == "dead"
        critical = hparams_routes.table(tb, exp, "trainhealth/status",
                                        interval=(2, 2))
        assert [h["variant"] for h, _ in critical] == ["dead"]
