"""Every number the rules use, with where it comes from."""

import dataclasses


@dataclasses.dataclass
class Thresholds:
    """Every number the rules use; override any of them per call:

        diagnose(series, Thresholds(dead_warning=0.3))

    Sources. "Calibrated" means measured by us on tiny Keras 3 models (dense
    nets of 1-8 layers, 20 standardized features, binary labels with 0-40%
    label noise, Adam 1e-4..1, SGD 1e-5..1e-2, 15-60 epochs of 7-63 steps,
    a record every 10 steps, and the programs of tests/broken_trainings):
    healthy runs had a per-step kernel update/weight ratio of 5e-5..1.2e-2
    (90th percentile), a first-to-last kernel gradient RMS ratio of
    0.09..0.7 and a global gradient norm within 0.5x..3x of its early
    median; broken runs left those ranges by orders of magnitude. The
    thresholds sit 5x-100x outside the healthy ranges.

    Persistence (all per-record rules except non-finite):
      persistence_records: a condition must hold on this many consecutive
        records before it is reported; a one- or two-record blip is not.
      persistence_fraction: ... and on at least this fraction of all records
        from its onset to the latest one to count as still holding;
        otherwise it is reported as resolved where it last held.
      early_records: the first this-many records form a run's own baseline
        (the "early median") for the history rules.

    Impact on learning (severity of dead units, saturation, gradient and
    update-ratio findings; see docs/diagnosis.md):
      progress_min_steps: learning is judged after two epochs, or after
        this many optimizer steps of a longer first epoch; until then a
        warning-level condition waits (information).
      progress_min_epoch_steps: two epochs count only once they hold this
        many optimizer steps in all: a few steps of a tiny dataset are the
        start of a training, not evidence that it cannot learn.
      progress_min_drop: a loss that fell less than this fraction from its
        first epoch to its latest (and has no chance level to compare
        with) is not learning.
      improving_drop: "keeps improving": the loss fell at least this
        fraction over the last third of the epochs, or a validation
        accuracy gained this much (absolute) over them.
      recovering_drop: a layer's fraction that fell this much below its
        peak is recovering (information, not a warning). A condition
        "spreads" when more layers show it at the end than in its first
        records, or its layer reached the critical level after starting
        below it.

    Recovery (whether a resolved alert still counts toward the status):
      recovery_min_epochs: at least this many epochs after the condition
        ended are needed to say the training recovered.
      recovery_min_drop: ... and the training loss fell at least this
        fraction from where the condition ended to the latest epoch, or a
        validation accuracy rose above its level at the onset; a
        cross-entropy must also end below chance level.

    dead_relu (hidden ReLU-family layers; output layers are never judged):
      dead_warning / dead_critical: fraction of units dead on the whole probe
        set. Lu et al. 2019, "Dying ReLU and Initialization": a dead unit
        gets no gradient; half a layer dead is half its capacity lost; at
        90% the layer passes almost no signal or gradient (critical when
        learning is impaired).

    saturation (hidden sigmoid/tanh/softmax layers):
      saturation_warning / saturation_critical: fraction of outputs within
        1% of the activation's bounds, where its derivative is ~0. Glorot &
        Bengio 2010 saw saturated sigmoid layers stall learning.
      saturation_max_softmax_units: hidden softmax layers this wide are
        skipped: their near-uniform outputs (1/units) lie within 1% of 0
        without being saturated.

    exploding_gradients / vanishing_gradients:
      explode_factor / explode_critical_factor: the global gradient norm has
        grown this many times over its early median (calibrated: healthy
        runs stay within 3x).
      vanish_factor: the global gradient norm has collapsed this many times
        below its early median ...
      vanish_loss_fraction: ... while the loss is still above this fraction
        of its early level (a converged classifier legitimately has ~0
        gradients, and ~0 loss).
      depth_vanish_ratio / depth_explode_ratio: per-element gradient RMS of
        the first kernel over that of the last kernel (calibrated: healthy
        0.09..0.7; 8 sigmoid layers 4e-6). Embedding tables are left out:
        only the rows of a batch's tokens get a gradient.

    learning_rate (per-step ||w_after - w_before|| / ||w_before|| of
    kernels, the CS231n rule of thumb being ~1e-3):
      lr_ratio_high / lr_ratio_critical: the median kernel ratio above this
        is a learning rate too high (calibrated healthy max 1.2e-2).
      lr_ratio_low: even the most-updated kernel moves less than this per
        step from the start (calibrated: SGD 1e-3, slow but learning,
        5e-5; SGD 1e-5, not learning, 2e-6).
      lr_target_ratio: the healthy ratio advice aims for.
      lr_above_chance_factor / lr_above_chance_critical: a cross-entropy
        that stays this many times above its chance level (a model that
        learned nothing) is confidently wrong: after a high learning rate,
        a learning-rate alert (warning / critical).
      lr_spike_factor: a loss that peaked at this many times its chance
        level (or its later level) before settling is evidence of a
        learning rate too high.
      lr_suspect_adaptive / lr_suspect_sgd: a configured learning rate at
        or above this (Adam-family / SGD-family optimizers) corroborates a
        learning-rate finding; alone it raises nothing.

    overfitting (epoch metrics):
      overfit_margin: val_loss above its best by this relative margin counts
        as worse (Prechelt 1998 stops at GL > 1..5%; 10% keeps noisy small
        validation sets quiet).
      overfit_patience: ... for this many consecutive epochs; likewise a
        validation accuracy that has not beaten its best for this many
        epochs has plateaued (Prechelt's UP_s criterion).
      overfit_min_train_drop: meanwhile the training loss fell at least this
        relative amount since the best epoch (and, for cross-entropy, ended
        below chance level).
      overfit_gap_widening: accuracy criterion (the seeds' definition:
        "training accuracy climbs steadily but validation accuracy
        plateaus or drops, the gap widens with each epoch"): the
        train-minus-validation accuracy gap grew by at least this much
        (absolute) since the best validation epoch.
      overfit_accuracy_drop: the validation accuracy "keeps improving"
        (over-confidence, info) when it ends at most this far below its
        best and above its value at the best-val_loss epoch.

    stalled_loss (epoch "loss"; epoch 0 is never part of a flat stretch,
    its mean includes the first steps' learning):
      stall_min_epochs: judged only once this many epochs exist, and the
        flat stretch must span all of them but epoch 0.
      stall_min_improvement / stall_max_rise: "flat": from the mean loss of
        the stretch's first two epochs to that of the last two, the loss
        fell by less than stall_min_improvement and rose by less than
        stall_max_rise.
      stall_chance_margin: losses with a chance level: a flat loss is
        reported only at chance level or above, less this fraction (a noisy
        data set's floor sits just under chance: 0.673 vs 0.693).
      stall_epoch0_drop: other losses (scale unknown): only a loss flat
        since epoch 1 that also dropped less than this fraction from epoch
        0 is reported.
      stall_converged_loss: a loss at or below this is converged, not
        stalled.

    unscaled_inputs (static, from the input statistics):
      input_abs_max_warning / input_std_warning: LeCun et al. 1998,
        "Efficient BackProp" 4.3: inputs should be centered with ~unit
        variance. Raw pixels (255) warn.
      input_abs_max_critical / input_std_critical: first-layer
        pre-activations of this order saturate every bounded unit.
      input_abs_max_tiny: inputs all below this in magnitude (but not all
        zero) are flagged as info.
      input_scaled_abs_max: inputs within this magnitude count as scaled:
        advice never tells such a run to normalize its inputs.

    labels and predictions (targets and outputs measured on the probe):
      negative_loss: a cross-entropy below this is impossible with valid
        labels (clipping keeps it >= -1e-7).
      imbalance_share: one class holding at least this share of the probe
        labels is a heavy imbalance (info; warning when the model then
        predicts only that class or scores no better than always choosing
        it).
      collapse_std: outputs within [0, 1] whose standard deviation across
        the probe samples stays below this predict the same for every
        input ...
      collapse_relative_std: ... other outputs: below this fraction of the
        targets' standard deviation (or of the outputs' own before
        training).
      collapse_top_share: one class taking at least this share of the
        predictions (or of the remaining share above the labels' majority
        class, whichever is higher) is a collapse onto one class.
      head_range_margin: targets beyond a bounded head's range by more
        than this are out of its reach.
    """

    persistence_records: int = 3
    persistence_fraction: float = 0.8
    early_records: int = 5

    progress_min_steps: int = 100
    progress_min_epoch_steps: int = 20
    progress_min_drop: float = 0.05
    improving_drop: float = 0.01
    recovering_drop: float = 0.15

    recovery_min_epochs: int = 2
    recovery_min_drop: float = 0.05

    dead_warning: float = 0.5
    dead_critical: float = 0.9

    saturation_warning: float = 0.5
    saturation_critical: float = 0.9
    saturation_max_softmax_units: int = 50

    explode_factor: float = 100.0
    explode_critical_factor: float = 1e4
    vanish_factor: float = 1e3
    vanish_loss_fraction: float = 0.1
    depth_vanish_ratio: float = 1e-3
    depth_explode_ratio: float = 1e3

    lr_ratio_high: float = 0.05
    lr_ratio_critical: float = 1.0
    lr_ratio_low: float = 1e-5
    lr_target_ratio: float = 1e-3
    lr_above_chance_factor: float = 1.5
    lr_above_chance_critical: float = 5.0
    lr_spike_factor: float = 3.0
    lr_suspect_adaptive: float = 0.01
    lr_suspect_sgd: float = 0.5

    overfit_margin: float = 0.1
    overfit_patience: int = 3
    overfit_min_train_drop: float = 0.01
    overfit_gap_widening: float = 0.02
    overfit_accuracy_drop: float = 0.02

    stall_min_epochs: int = 6
    stall_min_improvement: float = 0.01
    stall_max_rise: float = 0.05
    stall_chance_margin: float = 0.02
    stall_epoch0_drop: float = 0.1
    stall_converged_loss: float = 1e-3

    input_abs_max_warning: float = 100.0
    input_std_warning: float = 10.0
    input_abs_max_critical: float = 1e4
    input_std_critical: float = 1e3
    input_abs_max_tiny: float = 1e-3
    input_scaled_abs_max: float = 10.0

    negative_loss: float = -1e-3
    imbalance_share: float = 0.9
    collapse_std: float = 0.01
    collapse_relative_std: float = 0.02
    collapse_top_share: float = 0.99
    head_range_margin: float = 0.01
