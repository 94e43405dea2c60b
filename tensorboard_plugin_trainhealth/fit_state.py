"""What recording one Keras `fit` needs, and what a later fit continues.

A run's axes outlive a fit: a second `fit` on the same model, a recompiled
optimizer (whose step counter starts at 0 again), `fit` without
`initial_epoch` (whose epochs start at 0 again) or a model restored from a
checkpoint must continue the run's step and epoch axes, never overlap
them. And a loop of `fit(epochs=1)` on the same optimizer and variables is
one phase of training: it pays no dense start again, and its records are
spaced over all the fits it continues. What carries over is kept on the
model, under the attributes below.
"""

from tensorboard_plugin_trainhealth import cadence as cadence_lib
from tensorboard_plugin_trainhealth import stats

# The run's last epoch and last recorded step on this model.
LAST_EPOCH_ATTRIBUTE = "_trainhealth_last_epoch"
LAST_STEP_ATTRIBUTE = "_trainhealth_last_step"
# The latest fit recorded on the model (a Phase), for the next to continue.
PHASE_ATTRIBUTE = "_trainhealth_phase"


class Phase:
    """A run's latest fit on a model: a next fit of the same run, optimizer
    and variables that starts where it ended continues it."""

    def __init__(self, key, cadence, first_step, end_step):
        self.key = key
        self.cadence = cadence
        self.first_step = first_step  # optimizer step the phase began at
        self.end_step = end_step  # optimizer steps done when it ended

    def continued_by(self, key, start_step):
        return key == self.key and start_step == self.end_step


def phase_key(log_dir, model):
    """What a fit continuing the previous one keeps: the run, the optimizer
    and the trainable variables (a recompile or an unfrozen layer begins a
    new phase, with its own dense start)."""
    return (log_dir, id(model.optimizer),
            tuple(id(v) for v in model.trainable_variables))


class Fit:
    """The state of one `fit` being recorded; a new one per fit."""

    def __init__(self, model, reads, log_dir, chief=True):
        self.reads = reads  # keras_reads.ModelReads
        self.chief = chief
        self.ended = False
        self.cadence = None
        iterations = optimizer_step(model)
        self.epoch_base = iterations  # optimizer steps when the epoch began
        self.first_step = iterations  # optimizer steps when the fit began
        # recorded step = optimizer step + offset
        self.offset = max(0, getattr(model, LAST_STEP_ATTRIBUTE, -1) + 1
                          - iterations)
        self.steps_per_execution = steps_per_execution(model)
        phase = getattr(model, PHASE_ATTRIBUTE, None)
        # The Phase this fit continues, if any.
        self.continues = phase if phase is not None and phase.continued_by(
            phase_key(log_dir, model), iterations) else None
        self.setup_cost = 0.0  # seconds its start took (the cadence pays)
        self.first_epoch = True
        self.probe = None
        self.output_names = []
        self.last_recorded = -1
        self.mlflow = None  # an integrations.mlflow_log.MlflowLog

    @property
    def recorded_step(self):
        """The run's step at the start of the current epoch."""
        return self.epoch_base + self.offset

    def new_cadence(self, every_n_steps, total, clock):
        """A fit that continues the previous one of this run has no dense
        start, and is covered as one with the fits it continues."""
        phase = self.continues
        if phase is None or not total:
            return cadence_lib.Cadence(every_n_steps, total, self.epoch_base,
                                       clock)
        return cadence_lib.Cadence(
            every_n_steps, total, self.epoch_base, clock,
            previous=phase.cadence,
            span_steps=self.epoch_base - phase.first_step + total)

    def execution_end(self, completed, steps_per_epoch):
        """The last step of the execution that begins after `completed`
        steps: Keras calls back once per `steps_per_execution` steps, and
        an epoch's last execution may be shorter."""
        if self.steps_per_execution == 1:
            return completed
        end = completed + self.steps_per_execution - 1
        if steps_per_epoch:
            end = min(end, self.epoch_base + steps_per_epoch - 1)
        return end

    def hand_over(self, model, log_dir, final):
        """Leaves on the model what the next fit continues; `final` is the
        last optimizer step this fit ran."""
        if final + self.offset >= 0:
            object.__setattr__(model, LAST_STEP_ATTRIBUTE, max(
                final + self.offset, getattr(model, LAST_STEP_ATTRIBUTE, -1)))
        if self.chief and self.cadence is not None:
            first = (self.continues.first_step if self.continues is not None
                     else self.first_step)
            object.__setattr__(model, PHASE_ATTRIBUTE, Phase(
                phase_key(log_dir, model), self.cadence, first, final + 1))


def next_epoch(model, epoch):
    """The run's epoch for Keras's `epoch`: a second fit() without
    initial_epoch counts from 0 again, and the run's axis continues."""
    epoch = max(int(epoch), getattr(model, LAST_EPOCH_ATTRIBUTE, -1) + 1)
    object.__setattr__(model, LAST_EPOCH_ATTRIBUTE, epoch)
    return epoch


def last_epoch(model, default):
    return getattr(model, LAST_EPOCH_ATTRIBUTE, default)


def total_steps(params, first_epoch=0):
    """The optimizer steps a fit runs from `first_epoch`, or None."""
    steps = (params or {}).get("steps")
    epochs = (params or {}).get("epochs")
    if not steps or not epochs:
        return None
    return steps * max(1, epochs - first_epoch)


def optimizer_step(model):
    optimizer = model.optimizer
    return int(stats.to_host(optimizer.iterations)) if optimizer is not None \
        else 0


def steps_per_execution(model):
    try:
        return max(1, int(getattr(model, "steps_per_execution", 1) or 1))
    except (TypeError, ValueError):
        return 1
