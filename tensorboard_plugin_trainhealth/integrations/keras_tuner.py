"""A run directory and hyperparameters per KerasTuner trial.

KerasTuner gives `keras.callbacks.TensorBoard` its own directory per trial:
in `Tuner.run_trial` it deep-copies the search's callbacks for each
execution, and `Tuner._configure_tensorboard_dir` sets, on every callback
whose class is named "TensorBoard", `log_dir = <log_dir>/<trial_id>/
execution<N>` and appends `hparams_api.KerasCallback(writer=that dir,
hparams=convert_hyperparams_to_hparams(trial.hyperparameters),
trial_id=trial.trial_id)`, which writes the HParams session-start summary
there when training begins (TensorFlow backend only).

`TrainHealthCallback` does the same for itself, on every backend, without
patching KerasTuner: when its `fit` starts it looks up the call stack for
the tuner's `run_trial` (any `BaseTuner` method with a `trial` argument,
so a user's own `run_trial` works too) and, if there is one, writes into
the same `<log_dir>/<trial_id>/execution<N>` layout with the trial's
hyperparameters (integrations/hparams.py). `on_critical="stop"` then ends
only that trial's `fit`: the tuner records the trial and goes on.

    trial = current_trial()            # None outside a KerasTuner search
    run_dir = trial.log_dir("logs")    # logs/<trial_id>/execution<N>
    trial.write_hparams(run_dir)
"""

import os
import sys

from tensorboard_plugin_trainhealth.integrations import hparams as hparams_lib


class TunerTrial:
    """The KerasTuner trial (and execution) a `fit` runs for."""

    def __init__(self, trial, execution):
        self.trial = trial
        self.execution = int(execution)

    @property
    def trial_id(self):
        return str(self.trial.trial_id)

    def log_dir(self, base):
        """KerasTuner's layout for a TensorBoard callback's log_dir."""
        return os.path.join(str(base), self.trial_id,
                            "execution%d" % self.execution)

    def hyperparameters(self):
        """{name: value} of the hyperparameters active in this trial."""
        hp = self.trial.hyperparameters
        values = {}
        for param in hp.space:
            try:
                values[param.name] = hp.get(param.name)
            except ValueError:  # a conditional one that is not active
                continue
        return values

    def write_hparams(self, run_dir):
        hparams_lib.write_hparams(run_dir, self.hyperparameters(),
                                  trial_id=self.trial_id)


def current_trial(frame=None):
    """The `TunerTrial` whose `fit` is running in this thread, or None.

    Looks for KerasTuner only when it is already imported (a search imports
    it); outside a search this is a dictionary lookup.
    """
    if "keras_tuner" not in sys.modules:
        return None
    from keras_tuner.engine import base_tuner
    from keras_tuner.engine import trial as trial_module

    frame = frame or sys._getframe(1)  # pylint: disable=protected-access
    found = None
    while frame is not None:
        local = frame.f_locals
        trial = local.get("trial")
        if (isinstance(local.get("self"), base_tuner.BaseTuner)
                and isinstance(trial, trial_module.Trial)):
            if found is None:
                found = trial
            if trial is found and isinstance(local.get("execution"), int):
                # run_trial's loop over executions_per_trial.
                return TunerTrial(trial, local["execution"])
        frame = frame.f_back
    return TunerTrial(found, 0) if found is not None else None
