"""Diagnosis: rules that turn a run's recorded history into alerts.

Pure numpy + stdlib: the callback runs it live on its in-memory `RunSeries`,
the plugin and the CLI run it on a `RunSeries` read back from a logdir.

    alerts = diagnose(series)            # sorted: critical first, then onset
    run_status(alerts)                   # "ok" | "warning" | "critical"
    static_checks(series.facts)          # the before-the-first-step checks

Every rule skips what it cannot judge (a missing tag, a missing fact).
"""

import dataclasses
import math
import warnings
from typing import Optional

import numpy as np

from tensorboard_plugin_trainhealth.jsonsafe import to_json

# Tag names from the schema (metadata.py imports no TensorBoard itself).
from tensorboard_plugin_trainhealth.metadata import (
    LAYER_ACTIVATION_NONFINITE,
    LAYER_DEAD_FRACTION,
    LAYER_SATURATION,
    STEP_GRAD_NORM,
    STEP_LEARNING_RATE,
    STEP_LOSS,
    STEP_NONFINITE_ACTIVATIONS,
    STEP_NONFINITE_GRADIENTS,
    STEP_NONFINITE_LOSS,
    STEP_NONFINITE_WEIGHTS,
    VARIABLE_GRAD_NORM,
    VARIABLE_UPDATE_RATIO,
    VARIABLE_WEIGHT_NORM,
)

KINDS = (
    "non_finite",
    "exploding_gradients",
    "vanishing_gradients",
    "dead_relu",
    "saturation",
    "overfitting",
    "stalled_loss",
    "unscaled_inputs",
    "learning_rate",
    "loss_activation_mismatch",
)
SEVERITIES = ("info", "warning", "critical")




def severity_rank(severity):
    """0 for info, 1 for warning, 2 for critical; -1 for anything else."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


@dataclasses.dataclass
class Alert:
    """One diagnosed problem of a run.

    `first_step`/`last_step` are global optimizer steps (None when the
    problem is not tied to a step, e.g. a static check). `layer` names the
    layer (or None for run-wide problems). `message` is a one-line summary;
    it is not part of `to_dict()`.
    """

    kind: str
    severity: str
    layer: Optional[str]
    first_step: Optional[int]
    last_step: Optional[int]
    evidence: dict
    advice: str
    message: str = ""

    def to_dict(self):
        return {
            "kind": self.kind,
            "severity": self.severity,
            "layer": self.layer,
            "first_step": to_json(self.first_step),
            "last_step": to_json(self.last_step),
            "evidence": to_json(self.evidence),
            "advice": self.advice,
        }


@dataclasses.dataclass
class Thresholds:
    """Every number the rules use; override any of them per call:

        diagnose(series, Thresholds(dead_warning=0.3))

    Sources. "Calibrated" means measured by us on tiny Keras 3 models (dense
    nets of 1-8 layers, 20 standardized features, binary labels with 0-40%
    label noise, Adam 1e-4..1, SGD 1e-5..1e-2, 15-60 epochs of 7-63 steps,
    a record every 10 steps): healthy runs had a per-step kernel
    update/weight ratio of 5e-5..1.2e-2 (90th percentile), a first-to-last
    kernel gradient RMS ratio of 0.09..0.7 and a global gradient norm
    within 0.5x..3x of its early median, and raised no warning but for
    real overfitting (val_loss 0.53 -> 1.31, val accuracy 76% -> 69%);
    broken runs (8 sigmoid layers, SGD 1e-5, Adam 1.0, tanh with Adam 0.5,
    256-unit layers on 200 samples) left those ranges by orders of
    magnitude and were reported. The thresholds sit 5x-100x outside the
    healthy ranges.

    Persistence (all per-record rules except non-finite):
      persistence_records: a condition must hold on this many consecutive
        records before it is reported; a one- or two-record blip is not.
      persistence_fraction: ... and on at least this fraction of all records
        from its onset to the latest one, so a condition that went away is
        not reported as current.
      early_records: the first this-many records form a run's own baseline
        (the "early median") for the history rules.

    dead_relu (hidden ReLU-family layers; output layers are never judged):
      dead_warning / dead_critical: fraction of units dead on the whole probe
        set. Lu et al. 2019, "Dying ReLU and Initialization", show a dead
        unit does not recover under gradient descent; half a layer dead is
        half its capacity lost (warning); at 90% the layer passes almost no
        signal or gradient (critical).

    saturation (hidden sigmoid/tanh/softmax layers):
      saturation_warning / saturation_critical: fraction of outputs within
        1% of the activation's bounds, where its derivative is ~0. Glorot &
        Bengio 2010, "Understanding the difficulty of training deep
        feedforward neural networks", saw saturated sigmoid layers stall
        learning; same 50% / 90% levels as dead units.
      saturation_max_softmax_units: hidden softmax layers this wide are
        skipped: their near-uniform outputs (1/units) lie within 1% of 0
        without being saturated.

    exploding_gradients / vanishing_gradients:
      explode_factor / explode_critical_factor: the global gradient norm has
        grown this many times over its early median (calibrated: healthy
        runs stay within 3x; 100x is the issue's own figure).
      vanish_factor: the global gradient norm has collapsed this many times
        below its early median ...
      vanish_loss_fraction: ... while the loss is still above this fraction
        of its early level (a converged, confident classifier legitimately
        has ~0 gradients, and ~0 loss).
      depth_vanish_ratio / depth_explode_ratio: per-element gradient RMS of
        the first kernel over that of the last kernel (calibrated: healthy
        0.09..0.7; 8 sigmoid layers 4e-6). The Glorot & Bengio 2010
        criterion: gradients should keep their scale across depth.

    learning_rate (per-step ||w_after - w_before|| / ||w_before|| of
    kernels, the CS231n rule of thumb being ~1e-3):
      lr_ratio_high / lr_ratio_critical: the median kernel ratio above this
        is a learning rate too high (calibrated healthy max 1.2e-2, 90th
        percentile, so 0.05 keeps a 4x margin; SGD(3.0) on a tanh MLP runs
        at 0.05..0.55 and stays above it; at 1.0 the weights are replaced
        every step).
      lr_ratio_low: even the most-updated kernel moves less than this per
        step from the start (calibrated: SGD 1e-3, slow but learning,
        5e-5; SGD 1e-5, not learning, 2e-6).
      lr_target_ratio: the healthy ratio advice aims for (CS231n, Karpathy).

    overfitting (epoch "loss" and "val_loss"):
      overfit_margin: val_loss above its best by this relative margin counts
        as worse. Prechelt 1998, "Early Stopping - But When?", stops at a
        generalization loss GL > 1..5%; we use 10% so noisy small validation
        sets do not raise warnings.
      overfit_patience: ... for this many consecutive epochs (Prechelt's
        UP_s criterion uses s successive strips).
      overfit_min_train_drop: meanwhile the training loss fell at least this
        relative amount since the best-val epoch (and, for cross-entropy,
        ended below chance level; see stall_chance_margin: a loss falling
        from a spike back to chance is not learning).
      overfit_accuracy_drop: when a validation accuracy metric is recorded
        and did not fall by more than this (absolute) since the best-val
        epoch, the alert is only info: the model grows over-confident on
        a few mistakes, its decisions are not worse (calibrated: a
        confident classifier on separable data, val_loss 0.10 -> 0.24).

    stalled_loss (epoch "loss"; epoch 0 is never part of a flat stretch,
    its mean includes the first steps' learning):
      stall_min_epochs: judged only once this many epochs exist, and the
        flat stretch must span all of them but epoch 0 (a run that is slow
        for its first few epochs is not reported). Own choice, checked on
        the calibration runs (a 5-layer sigmoid net's 3-epoch plateau).
      stall_min_improvement / stall_max_rise: "flat": from the mean loss of
        the stretch's first two epochs to that of the last two, the loss
        fell by less than stall_min_improvement and rose by less than
        stall_max_rise (a loss that keeps rising is diverging, not flat).
      stall_chance_margin: cross-entropy losses: a flat loss is reported
        only at chance level (ln 2, or ln units) or above, less this
        fraction. A noisy data set's floor can sit just under chance
        (40% label noise: 0.673 vs. 0.693), a model stuck on nothing sits at
        or above it (calibrated: 0.693..0.75, and 1.6 for Adam 0.5).
      stall_epoch0_drop: other losses (scale unknown): only a loss flat
        since epoch 1 that also dropped less than this fraction from epoch
        0 is reported (a bigger drop means it learned in the first epoch).
      stall_converged_loss: a loss at or below this is converged, not
        stalled.

    unscaled_inputs (static, from the input statistics):
      input_abs_max_warning / input_std_warning: LeCun et al. 1998,
        "Efficient BackProp" §4.3: inputs should be centered with similar,
        ~unit variance. Raw pixels (255) warn.
      input_abs_max_critical / input_std_critical: first-layer
        pre-activations of this order under Glorot init saturate every
        bounded unit and scale that layer's gradients by the same factor.
      input_abs_max_tiny: inputs all below this in magnitude (but not all
        zero) are flagged as info: the first layer sees almost nothing.
    """

    persistence_records: int = 3
    persistence_fraction: float = 0.8
    early_records: int = 5

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

    overfit_margin: float = 0.1
    overfit_patience: int = 2
    overfit_min_train_drop: float = 0.01
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


def diagnose(series, thresholds=None):
    """All alerts for one `RunSeries`, most severe first, then by onset."""
    t = thresholds or Thresholds()
    if not isinstance(series.facts, dict):
        series = dataclasses.replace(series, facts={})
    alerts = list(static_checks(series.facts, t))
    for rule in _SERIES_RULES:
        alerts.extend(rule(series, t))
    return sort_alerts(alerts)


def static_checks(facts, thresholds=None):
    """The checks that need no training step: input scale, loss vs. head."""
    t = thresholds or Thresholds()
    facts = facts if isinstance(facts, dict) else {}
    return sort_alerts(_check_inputs(facts, t) + _check_loss_head(facts, t))


def run_status(alerts):
    """"critical" / "warning" if any alert is that severe, else "ok"."""
    worst = max((severity_rank(a.severity) for a in alerts), default=-1)
    if worst >= severity_rank("critical"):
        return "critical"
    if worst >= severity_rank("warning"):
        return "warning"
    return "ok"


def sort_alerts(alerts):
    """Most severe first; then static checks, then by first step."""
    def key(a):
        return (-severity_rank(a.severity),
                # Static checks (no step) come before the first step.
                a.first_step is not None,
                a.first_step if a.first_step is not None else 0,
                KINDS.index(a.kind) if a.kind in KINDS else len(KINDS),
                a.layer or "")
    return sorted(alerts, key=key)


# ---------------------------------------------------------------- helpers


def _num(value):
    """A float from a fact (numbers, "NaN"/"Infinity" strings), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _g(x):
    """A short number for messages: 0.001, 1.5e-06, 350, 1000."""
    x = float(x)
    if np.isfinite(x) and 1e-3 <= abs(x) < 1e6:
        return np.format_float_positional(x, precision=3, fractional=False,
                                          trim="-")
    return "%.3g" % x


def _pct(x):
    percent = 100 * float(x)
    if not math.isfinite(percent):
        return "%s%%" % percent
    return "%d%%" % round(percent)


def _persistent_start(mask, t, min_records=None):
    """Index where a persistent stretch of `mask` begins, else None.

    Persistent: true on `min_records` consecutive records from there, and
    on at least `t.persistence_fraction` of the records from there on.
    """
    mask = np.asarray(mask, bool)
    need = max(1, t.persistence_records if min_records is None
               else min_records)
    n = len(mask)
    index = np.arange(n)
    true_from = np.cumsum(mask[::-1])[::-1]  # trues in mask[i:]
    falses = np.nonzero(~mask)[0]
    next_false = np.append(falses, n)[np.searchsorted(falses, index)]
    ok = ((next_false - index >= need)
          & (true_from >= t.persistence_fraction * (n - index)))
    hits = np.nonzero(ok)[0]
    return int(hits[0]) if len(hits) else None


def _nanmedian(x, axis=None):
    """np.nanmedian without the all-NaN-slice warning (gives NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.asarray(x, np.float64), axis=axis)


def _nanmax(x, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(np.asarray(x, np.float64), axis=axis)


def _learning_rate(series, step=None):
    """The learning rate at `step` (latest record at or before it), else
    the optimizer's configured one, else None."""
    s = series.scalar(STEP_LEARNING_RATE)
    ok = np.isfinite(s.values)
    steps, values = s.steps[ok], s.values[ok]
    if len(steps):
        if step is None:
            return float(values[-1])
        i = np.searchsorted(steps, step, side="right") - 1
        return float(values[max(i, 0)])
    optimizer = series.facts.get("optimizer")
    if isinstance(optimizer, dict):
        return _num(optimizer.get("learning_rate"))
    return None


def _lower_lr_advice(lr, factor=10):
    if lr is not None and lr > 0:
        return "lower the learning rate %sx (from %s to %s)" % (
            _g(factor), _g(lr), _g(lr / factor))
    return "lower the learning rate %sx" % _g(factor)


def _epoch_step(series, epoch):
    """The global step at which `epoch` ended, or a best guess, or None."""
    step = series.step_of_epoch(epoch)
    if step is not None:
        return step
    per_epoch = _num(series.facts.get("steps_per_epoch"))
    if per_epoch and per_epoch > 0:
        return int((int(epoch) + 1) * per_epoch)
    return None


def _output_layers(series):
    outputs = series.facts.get("outputs")
    if not isinstance(outputs, list):
        return set()
    return {o.get("layer") for o in outputs
            if isinstance(o, dict) and o.get("layer") is not None}


def _hidden_columns(matrix, series):
    """(index, column) of the layers that are not model outputs."""
    outputs = _output_layers(series)
    for i, col in enumerate(matrix.columns):
        if col.get("is_output") or col.get("name") in outputs:
            continue
        yield i, col


def _kernel_columns(matrix):
    """Columns of weight matrices (rank >= 2) with their element counts;
    every column when shapes are unknown."""
    shaped = [(i, c) for i, c in enumerate(matrix.columns)
              if isinstance(c.get("shape"), (list, tuple))]
    if not shaped:
        return [(i, c, 1) for i, c in enumerate(matrix.columns)]
    return [(i, c, max(1, int(np.prod(c["shape"])))) for i, c in shaped
            if len(c["shape"]) >= 2]


def _layer_of(col):
    """The layer of a column: its "layer", else its name up to the last
    "/" (a variable: "dense_1/kernel"), else its name (a layer)."""
    name = col.get("name")
    if col.get("layer") or not isinstance(name, str):
        return col.get("layer")
    return name.rsplit("/", 1)[0]


# ------------------------------------------------------------ non-finite

# Where NaN/Inf can show up within one training step, in causal order: at
# the same step, the earliest of these is where it appeared first.
_SIGNAL_ORDER = ("activations", "loss", "gradients", "weights")


def _rule_non_finite(series, t):
    events = []  # (step, order, signal, place, layer, value)

    def add_scalar(tag, signal, flag):
        s = series.scalar(tag)
        bad = ~np.isfinite(s.values)
        if flag:
            bad |= s.values > 0.5
        for step, value in zip(s.steps[bad], s.values[bad]):
            value = None if (flag and np.isfinite(value)) else float(value)
            events.append((int(step), _SIGNAL_ORDER.index(signal), signal,
                           None, None, value))

    def add_matrix(tag, signal, fraction, last_first):
        m = series.matrices.get(tag)
        if m is None or not len(m.steps):
            return
        bad = ~np.isfinite(m.values)
        if fraction:
            bad |= m.values > 0
        for r in np.nonzero(bad.any(axis=1))[0]:
            cols = np.nonzero(bad[r])[0]
            col = m.columns[cols[-1] if last_first else cols[0]]
            events.append((int(m.steps[r]), _SIGNAL_ORDER.index(signal),
                           signal, col.get("name"), _layer_of(col), None))

    add_matrix(LAYER_ACTIVATION_NONFINITE, "activations", True, False)
    add_scalar(STEP_NONFINITE_ACTIVATIONS, "activations", True)
    add_scalar(STEP_NONFINITE_LOSS, "loss", True)
    add_scalar(STEP_LOSS, "loss", False)
    for key in ("loss", "val_loss"):
        e = series.epoch(key)
        for epoch, value in zip(e.steps, e.values):
            step = _epoch_step(series, epoch)
            if not np.isfinite(value) and step is not None:
                events.append((step, _SIGNAL_ORDER.index("loss"), "loss",
                               key, None, float(value)))
    # Backpropagation runs from the output: the last variable is the origin.
    add_matrix(VARIABLE_GRAD_NORM, "gradients", False, True)
    add_scalar(STEP_NONFINITE_GRADIENTS, "gradients", True)
    add_scalar(STEP_GRAD_NORM, "gradients", False)
    add_matrix(VARIABLE_WEIGHT_NORM, "weights", False, False)
    add_scalar(STEP_NONFINITE_WEIGHTS, "weights", True)
    if not events:
        return []

    # Prefer an event that names a place over a bare flag at the same step.
    events.sort(key=lambda e: (e[0], e[1], e[3] is None))
    step, _, signal, place, layer, value = events[0]
    first_by_signal = {}
    for e in events:
        first_by_signal.setdefault(e[2], e[0])
    for e in events:  # a value seen for the first signal at that step
        if value is None and e[0] == step and e[2] == signal:
            value = e[5]
    last = max(e[0] for e in events)
    lr = _learning_rate(series, step)

    where = {
        "activations": "in the activations" + (" of %s" % place if place
                                               else ""),
        "loss": "in the %s" % (place if place and place != "loss"
                                else "loss"),
        "gradients": "in the gradients" + (" of %s" % place if place
                                           else ""),
        "weights": "in the weights" + (" of %s" % place if place else ""),
    }[signal]
    then = [s for s in sorted(first_by_signal, key=_SIGNAL_ORDER.index)
            if s != signal]
    message = "NaN/Inf first appeared at step %d %s" % (step, where)
    if then:
        message += " (then in: %s)" % ", ".join(then)
    advice = {
        "activations": "Activations overflowed in the forward pass: "
                       "normalize the inputs, %s, and clip gradients "
                       "(e.g. Adam(clipnorm=1.0)); check custom layers for "
                       "log/sqrt/division of values <= 0."
                       % _lower_lr_advice(lr),
        "loss": "The loss went non-finite first: check the labels for "
                "NaN/Inf and for values outside the loss's range, compute "
                "cross-entropy from logits (linear output, "
                "from_logits=True), %s and clip gradients (clipnorm=1.0)."
                % _lower_lr_advice(lr),
        "gradients": "The gradients went non-finite first: clip gradients "
                     "(e.g. Adam(clipnorm=1.0)), %s, and check custom "
                     "losses/layers for sqrt(0), log(0) or 0/0."
                     % _lower_lr_advice(lr),
        "weights": "The weights went non-finite: %s and clip gradients "
                   "(clipnorm=1.0)." % _lower_lr_advice(lr),
    }[signal]
    advice += " NaN weights do not recover: restart from the last good " \
              "checkpoint."
    evidence = {
        "signal": signal,
        "where": place,
        "value": value,
        "first_step_by_signal": first_by_signal,
        "records": len({e[0] for e in events}),
    }
    return [Alert("non_finite", "critical", layer, step, last, evidence,
                  advice, message)]


# ------------------------------------------------- dead units, saturation


def _fraction_rule(series, t, tag, kind, warning, critical, skip, explain):
    m = series.matrices.get(tag)
    if m is None or not len(m.steps):
        return []
    alerts = []
    for i, col in _hidden_columns(m, series):
        if skip(col):
            continue
        v = np.nan_to_num(m.values[:, i], nan=0.0)
        above = v >= warning
        start = _persistent_start(above, t)
        if start is None:
            continue
        critical_start = _persistent_start(v >= critical, t)
        severity = "warning" if critical_start is None else "critical"
        since = v[start:]
        evidence = {
            "fraction": float(np.median(since)),
            "latest": float(v[-1]),
            "max": float(np.max(since)),
            "records": int(len(since)),
            "records_above": int(np.sum(above[start:])),
            "threshold": warning if critical_start is None else critical,
            "activation": col.get("activation"),
            "class": col.get("class"),
            "units": col.get("units"),
        }
        if critical_start is not None:
            evidence["critical_since_step"] = int(m.steps[critical_start])
        first = int(m.steps[start])
        last = int(m.steps[np.nonzero(above)[0][-1]])
        message, advice = explain(col, evidence, first, start > 0)
        alerts.append(Alert(kind, severity, col.get("name"), first, last,
                            evidence, advice, message))
    return alerts


def _rule_dead_relu(series, t):
    def explain(col, ev, first, mid_run):
        name = col.get("name")
        what = "channels" if "conv" in str(col.get("class", "")).lower() \
            else "units"
        lr = _learning_rate(series, first)
        message = ("%s of %s in %s have been dead since step %d; the "
                   "learning rate is likely too high: lower it 10x, or use "
                   "He initialization or LeakyReLU"
                   % (_pct(ev["fraction"]), what, name, first))
        advice = ("%s of the %s of %s output 0 on every probe sample and "
                  "get no gradient; dead units do not recover. Restart and "
                  "%s, use He initialization (kernel_initializer="
                  "'he_normal'), or use LeakyReLU(negative_slope=0.1) / ELU "
                  "instead of %s."
                  % (_pct(ev["fraction"]), what, name, _lower_lr_advice(lr),
                     col.get("activation") or "ReLU"))
        return message, advice

    return _fraction_rule(series, t, LAYER_DEAD_FRACTION, "dead_relu",
                          t.dead_warning, t.dead_critical,
                          lambda col: False, explain)


def _rule_saturation(series, t):
    def skip(col):
        units = _num(col.get("units"))
        return (col.get("activation") == "softmax" and units is not None
                and units >= t.saturation_max_softmax_units)

    def explain(col, ev, first, mid_run):
        name = col.get("name")
        act = col.get("activation") or "bounded"
        message = ("%s of the %s outputs of %s have been saturated (within "
                   "1%% of the bounds) since step %d; normalize inputs, use "
                   "Glorot initialization, BatchNormalization or ReLU"
                   % (_pct(ev["fraction"]), act, name, first))
        advice = ("%s of the %s outputs of %s sit where the derivative is "
                  "~0, so little gradient passes. Normalize the inputs "
                  "(keras.layers.Normalization adapted on the training "
                  "data), keep Glorot initialization "
                  "(kernel_initializer='glorot_uniform'), add "
                  "BatchNormalization before the activation, or use a "
                  "ReLU-family activation in hidden layers."
                  % (_pct(ev["fraction"]), act, name))
        scale = _input_abs_max(series.facts)
        if scale is not None and scale > t.input_abs_max_warning:
            advice += " The inputs reach %s in magnitude." % _g(scale)
        if mid_run:
            advice += (" It began mid-training (step %d): %s."
                       % (first, _lower_lr_advice(
                           _learning_rate(series, first))))
        return message, advice

    return _fraction_rule(series, t, LAYER_SATURATION, "saturation",
                          t.saturation_warning, t.saturation_critical,
                          skip, explain)


def _input_abs_max(facts):
    inputs = facts.get("inputs")
    if not isinstance(inputs, list):
        return None
    values = [_num(i.get("abs_max")) for i in inputs if isinstance(i, dict)]
    values = [v for v in values if v is not None and np.isfinite(v)]
    return max(values) if values else None


# ------------------------------------------------------------- gradients


def _carry_into_nonfinite(mask, values):
    """Extends `mask` over the non-finite records that follow a true one.

    A gradient norm that grows past the threshold and then overflows has
    not recovered: the Inf/NaN records continue the explosion (they also
    raise non_finite), so they count toward its persistence.
    """
    mask = np.array(mask, bool)
    bad = ~np.isfinite(values)
    for i in range(1, len(mask)):
        if bad[i] and mask[i - 1]:
            mask[i] = True
    return mask


def _gradient_history(series, t):
    """(explode part, vanish part): global norm vs. its early median."""
    g = series.scalar(STEP_GRAD_NORM)
    if len(g) < t.early_records + t.persistence_records:
        return None, None
    early = _nanmedian(np.where(np.isfinite(g.values), g.values, np.nan)
                       [:t.early_records])
    if not np.isfinite(early) or early <= 0:
        return None, None
    with np.errstate(all="ignore"):
        growth = g.values / early
    explode = vanish = None

    exploded = _carry_into_nonfinite(growth > t.explode_factor, g.values)
    start = _persistent_start(exploded, t)
    if start is not None:
        crit = _persistent_start(_carry_into_nonfinite(
            growth > t.explode_critical_factor, g.values), t)
        since = growth[start:]
        peak = float(_nanmax(np.where(np.isfinite(since), since, np.nan)))
        explode = {
            "first": int(g.steps[start]),
            "last": int(g.steps[np.nonzero(exploded)[0][-1]]),
            "severity": "critical" if crit is not None else "warning",
            "evidence": {"early_median": float(early),
                         "at_onset": float(g.values[start]),
                         "growth": float(growth[start]),
                         "peak_growth": peak},
            "message": "the global gradient norm grew %sx over its early "
                       "median (%s -> %s) at step %d"
                       % (_g(growth[start]), _g(early), _g(g.values[start]),
                          g.steps[start]),
        }

    loss = series.scalar(STEP_LOSS)
    ok = np.isfinite(loss.values)
    if ok.sum() >= t.early_records:
        early_loss = float(np.median(loss.values[ok][:t.early_records]))
        loss_now = np.interp(g.steps, loss.steps[ok], loss.values[ok])
        with np.errstate(all="ignore"):
            loss_kept = np.abs(loss_now) >= t.vanish_loss_fraction * abs(
                early_loss)
            collapsed = (np.isfinite(growth)
                         & (growth < 1.0 / t.vanish_factor) & loss_kept)
        start = _persistent_start(collapsed, t)
        if start is not None:
            vanish = {
                "first": int(g.steps[start]),
                "last": int(g.steps[np.nonzero(collapsed)[0][-1]]),
                "severity": "warning",
                "evidence": {"early_median": float(early),
                             "at_onset": float(g.values[start]),
                             "collapse": float(1.0 / growth[start])
                             if growth[start] > 0 else float("inf"),
                             "loss_at_onset": float(loss_now[start]),
                             "early_loss": early_loss},
                "message": "the global gradient norm collapsed to %s of its "
                           "early median (%s -> %s) at step %d while the "
                           "loss stayed at %s"
                           % (_g(growth[start]), _g(early),
                              _g(g.values[start]), g.steps[start],
                              _g(loss_now[start])),
            }
    return explode, vanish


def _gradient_depth(series, t):
    """(explode part, vanish part) from first vs. last kernel gradients."""
    m = series.matrices.get(VARIABLE_GRAD_NORM)
    if m is None or not len(m.steps):
        return None, None
    kernels = _kernel_columns(m)
    if len(kernels) < 2:
        return None, None
    (i0, c0, n0), (i1, c1, n1) = kernels[0], kernels[-1]
    first_layer, last_layer = _layer_of(c0), _layer_of(c1)
    if first_layer == last_layer:
        return None, None
    rms0 = m.values[:, i0] / np.sqrt(n0)
    rms1 = m.values[:, i1] / np.sqrt(n1)
    with np.errstate(all="ignore"):
        ratio = np.where(np.isfinite(rms0) & np.isfinite(rms1) & (rms1 > 0),
                         rms0 / rms1, np.nan)
    parts = []
    for mask, word in ((ratio > t.depth_explode_ratio, "larger"),
                       (ratio < t.depth_vanish_ratio, "smaller")):
        start = _persistent_start(mask, t)
        if start is None:
            parts.append(None)
            continue
        level = float(_nanmedian(ratio[start:]))
        shown = level if word == "larger" else (
            1.0 / level if level > 0 else float("inf"))
        parts.append({
            "first": int(m.steps[start]),
            "last": int(m.steps[np.nonzero(mask)[0][-1]]),
            "severity": "warning",
            "evidence": {"first_layer": first_layer, "last_layer": last_layer,
                         "first_to_last_rms_ratio": level,
                         "first_rms": float(rms0[start]),
                         "last_rms": float(rms1[start])},
            "message": ("no gradient at all has reached the first layer "
                        "(%s) since step %d, while the last (%s) still gets "
                        "one" % (first_layer, m.steps[start], last_layer)
                        if not np.isfinite(shown) else
                        "per-weight gradients in the first layer (%s) have "
                        "been %sx %s than in the last (%s) since step %d"
                        % (first_layer, _g(shown), word, last_layer,
                           m.steps[start])),
        })
    return parts[0], parts[1]


def _merge_parts(kind, parts, advice):
    parts = [p for p in parts if p is not None]
    if not parts:
        return []
    parts.sort(key=lambda p: p["first"])
    severity = max((p["severity"] for p in parts), key=severity_rank)
    evidence = {}
    for p in parts:
        evidence[p["source"]] = p["evidence"]
    message = "; ".join(p["message"] for p in parts)
    message = message[0].upper() + message[1:]
    return [Alert(kind, severity, parts[0].get("layer"), parts[0]["first"],
                  max(p["last"] for p in parts), evidence, advice, message)]


_BOUNDED_ACTIVATIONS = ("sigmoid", "tanh", "hard_sigmoid", "hard_tanh",
                        "softsign", "softmax")


def _rule_gradients(series, t):
    h_explode, h_vanish = _gradient_history(series, t)
    d_explode, d_vanish = _gradient_depth(series, t)
    for part, source in ((h_explode, "history"), (h_vanish, "history"),
                         (d_explode, "depth"), (d_vanish, "depth")):
        if part is not None:
            part["source"] = source
            if source == "depth":
                part["layer"] = part["evidence"]["first_layer"]
    lr = _learning_rate(series)
    explode_advice = (
        "Clip gradients (e.g. keras.optimizers.Adam(clipnorm=1.0)), %s, "
        "normalize the inputs and add BatchNormalization between layers."
        % _lower_lr_advice(lr))
    saturating = sorted({
        c.get("activation") for _, c in _hidden_columns(
            series.matrices[LAYER_SATURATION], series)
        if c.get("activation") in _BOUNDED_ACTIVATIONS
    }) if LAYER_SATURATION in series.matrices else []
    vanish_advice = (
        "Use ReLU-family activations in hidden layers%s with He "
        "initialization (kernel_initializer='he_normal'), add "
        "BatchNormalization or residual connections, or make the network "
        "shallower." % (" instead of %s" % "/".join(saturating)
                        if saturating else ""))
    return (_merge_parts("exploding_gradients", [h_explode, d_explode],
                         explode_advice)
            + _merge_parts("vanishing_gradients", [h_vanish, d_vanish],
                           vanish_advice))


# --------------------------------------------------------- learning rate


def _power_of_ten(factor):
    """The power of ten at or below `factor`, at least 10: the change of
    learning rate that brings the ratio to (not past) its target."""
    return 10.0 ** max(1, math.floor(math.log10(factor)))


def _rule_learning_rate(series, t):
    m = series.matrices.get(VARIABLE_UPDATE_RATIO)
    if m is None or not len(m.steps):
        return []
    cols = [i for i, _, _ in _kernel_columns(m)]
    if not cols:
        return []
    r = np.where(np.isfinite(m.values[:, cols]), m.values[:, cols], np.nan)
    w = series.matrices.get(VARIABLE_WEIGHT_NORM)
    if (w is not None and w.values.shape == m.values.shape
            and np.array_equal(w.steps, m.steps)):
        with np.errstate(all="ignore"):
            r = np.where(w.values[:, cols] > 1e-12, r, np.nan)
    median = _nanmedian(r, axis=1)
    largest = _nanmax(r, axis=1)
    alerts = []

    high = _persistent_start(median > t.lr_ratio_high, t)
    if high is not None:
        crit = _persistent_start(median > t.lr_ratio_critical, t)
        level = float(_nanmedian(median[high:]))
        lr = _learning_rate(series, int(m.steps[high]))
        factor = _power_of_ten(level / t.lr_target_ratio)
        first = int(m.steps[high])
        alerts.append(Alert(
            "learning_rate", "critical" if crit is not None else "warning",
            None, first,
            int(m.steps[np.nonzero(median > t.lr_ratio_high)[0][-1]]),
            {"median_update_ratio": level, "healthy_ratio": t.lr_target_ratio,
             "threshold": t.lr_ratio_high, "learning_rate": lr},
            "The weights change by %s of their norm per step (healthy ~%s): "
            "%s." % (_pct(level), _g(t.lr_target_ratio),
                     _lower_lr_advice(lr, factor)),
            "Weights change by %s of their norm per step since step %d "
            "(median update/weight ratio %s; healthy ~%s): the learning rate"
            "%s is too high" % (_pct(level), first, _g(level),
                                _g(t.lr_target_ratio),
                                " (%s)" % _g(lr) if lr else "")))

    low = _persistent_start(largest < t.lr_ratio_low, t)
    if low == 0:
        level = float(_nanmedian(largest))
        lr = _learning_rate(series, int(m.steps[0]))
        factor = _power_of_ten(t.lr_target_ratio / max(level, 1e-30))
        raise_lr = ("raise the learning rate %sx (from %s to %s)"
                    % (_g(factor), _g(lr), _g(lr * factor)) if lr
                    else "raise the learning rate %sx" % _g(factor))
        alerts.append(Alert(
            "learning_rate", "warning", None, int(m.steps[0]),
            int(m.steps[np.nonzero(largest < t.lr_ratio_low)[0][-1]]),
            {"largest_update_ratio": level, "healthy_ratio": t.lr_target_ratio,
             "threshold": t.lr_ratio_low, "learning_rate": lr},
            "Even the fastest-moving weights change by only %s of their "
            "norm per step (healthy ~%s): %s, or use "
            "keras.optimizers.Adam(learning_rate=1e-3)."
            % (_g(level), _g(t.lr_target_ratio), raise_lr),
            "Weights change by at most %s of their norm per step from the "
            "start (healthy ~%s): the learning rate%s is too low"
            % (_g(level), _g(t.lr_target_ratio),
               " (%s)" % _g(lr) if lr else "")))
    return alerts


# ----------------------------------------------------------- epoch rules


def _paired_epochs(series, *keys):
    """Epoch indices and values where every key has a finite value."""
    epochs = None
    for key in keys:
        e = series.epoch(key)
        ok = e.steps[np.isfinite(e.values)]
        epochs = ok if epochs is None else np.intersect1d(epochs, ok)
    epochs = np.unique(epochs)
    values = []
    for key in keys:
        e = series.epoch(key)
        lookup = dict(zip(e.steps.tolist(), e.values.tolist()))
        values.append(np.array([lookup[int(x)] for x in epochs], np.float64))
    return epochs, values


def _rule_overfitting(series, t):
    epochs, (val, train) = _paired_epochs(series, "val_loss", "loss")
    if len(epochs) < t.overfit_patience + 2:
        return []
    best = int(np.argmin(val))
    limit = val[best] + t.overfit_margin * abs(val[best])
    worse = val[best + 1:] > limit
    start = _persistent_start(worse, t, min_records=t.overfit_patience)
    if start is None:
        return []
    drop = (train[best] - train[-1]) / abs(train[best]) if train[best] else 0
    if drop < t.overfit_min_train_drop:
        return []
    chance = _chance_loss(series.facts)
    if chance is not None and \
            train[-1] >= chance * (1 - t.stall_chance_margin):
        return []  # a model at chance level learned nothing to overfit with
    best_epoch, last_epoch = int(epochs[best]), int(epochs[-1])
    rise = (val[-1] - val[best]) / abs(val[best]) if val[best] else 0.0
    worse_epochs = int(np.sum(worse))
    evidence = {
        "best_epoch": best_epoch,
        "best_val_loss": float(val[best]),
        "latest_val_loss": float(val[-1]),
        "val_rise": float(rise),
        "train_loss_at_best": float(train[best]),
        "latest_train_loss": float(train[-1]),
        "epochs_worse": worse_epochs,
        "margin": t.overfit_margin,
    }
    message = ("val_loss has risen %s above its best (%s at epoch %d) while "
               "the training loss kept falling (%s -> %s): overfitting since "
               "epoch %d" % (_pct(rise), _g(val[best]), best_epoch,
                             _g(train[best]), _g(train[-1]), best_epoch))
    advice = ("Keep the epoch-%d weights: "
              "keras.callbacks.EarlyStopping(monitor='val_loss', "
              "patience=%d, restore_best_weights=True). Regularize with "
              "Dropout(0.2-0.5) or an L2 kernel_regularizer (e.g. 1e-4), or "
              "add training data / augmentation."
              % (best_epoch, max(2, min(worse_epochs, 5))))
    severity = "warning"
    accuracy = _val_accuracy(series, best_epoch, last_epoch)
    if accuracy is not None:
        key, at_best, latest = accuracy
        evidence.update({"accuracy_metric": key, "accuracy_at_best": at_best,
                         "latest_accuracy": latest})
        if latest >= at_best - t.overfit_accuracy_drop:
            # Loss worse, accuracy not: over-confidence on a few mistakes.
            severity = "info"
            message = ("val_loss has risen %s above its best (%s at epoch "
                       "%d) while %s held (%s -> %s): the model is growing "
                       "over-confident" % (_pct(rise), _g(val[best]),
                                           best_epoch, key, _g(at_best),
                                           _g(latest)))
            advice = ("Harmless if you select models by accuracy. For "
                      "calibrated probabilities, " + advice[0].lower()
                      + advice[1:])
    return [Alert("overfitting", severity, None,
                  _epoch_step(series, best_epoch),
                  _epoch_step(series, last_epoch), evidence, advice,
                  message)]


def _val_accuracy(series, best_epoch, last_epoch):
    """(key, value at best_epoch, value at last_epoch) of the validation
    accuracy metric, or None."""
    for key in sorted(series.epochs):
        if not (key.startswith("val_") and "acc" in key):
            continue
        e = series.epoch(key)
        lookup = dict(zip(e.steps.tolist(), e.values.tolist()))
        at_best, latest = lookup.get(best_epoch), lookup.get(last_epoch)
        if at_best is not None and latest is not None \
                and np.isfinite(at_best) and np.isfinite(latest):
            return key, float(at_best), float(latest)
    return None


def _chance_loss(facts):
    """Cross-entropy of a model that learned nothing, if the loss is one."""
    loss = _loss_family(_first_loss(facts))
    outputs = facts.get("outputs")
    if loss == "binary":
        return math.log(2.0)
    if loss in ("categorical", "sparse") and isinstance(outputs, list) \
            and len(outputs) == 1 and isinstance(outputs[0], dict):
        units = _num(outputs[0].get("units"))
        if units and units >= 2:
            return math.log(units)
    return None


def _flat_since(loss, t):
    """The earliest epoch index k >= 1 from which `loss` is flat: the mean
    of epochs k, k+1 is within (-stall_max_rise, +stall_min_improvement) of
    the mean of the last two, relative to the former."""
    late = float(np.mean(loss[-2:]))
    for k in range(1, len(loss) - 3):
        early = float(np.mean(loss[k:k + 2]))
        if not early:
            continue
        change = (early - late) / abs(early)
        if -t.stall_max_rise < change < t.stall_min_improvement:
            return k
    return None


def _rule_stalled_loss(series, t):
    e = series.epoch("loss")
    ok = np.isfinite(e.values)
    epochs, loss = e.steps[ok], e.values[ok]
    if len(loss) < t.stall_min_epochs:
        return []
    late = float(np.mean(loss[-2:]))
    if late <= t.stall_converged_loss:
        return []
    since = _flat_since(loss, t)
    if since is None:
        return []
    chance = _chance_loss(series.facts)
    if chance is not None:
        # Stuck at chance level: nothing learned, whatever came before.
        if late < chance * (1 - t.stall_chance_margin):
            return []
    elif since != 1 or (loss[0] and (loss[0] - late) / abs(loss[0])
                        >= t.stall_epoch0_drop):
        return []  # unknown scale: only "flat from the start" is judged
    flat = len(loss) - since
    if flat < t.stall_min_epochs - 1:
        return []
    step_loss = series.scalar(STEP_LOSS)
    if since == 1:
        first = (int(step_loss.steps[0]) if len(step_loss)
                 else _epoch_step(series, int(epochs[0])))
    else:
        first = _epoch_step(series, int(epochs[since - 1]))
    last = _epoch_step(series, int(epochs[-1]))
    early = float(np.mean(loss[since:since + 2]))
    lr = _learning_rate(series)
    evidence = {
        "since_epoch": int(epochs[since]),
        "flat_epochs": int(flat),
        "loss_epoch_0": float(loss[0]),
        "loss_at_start": early,
        "loss_latest": late,
        "improvement": float((early - late) / abs(early)),
        "chance_loss": chance,
    }
    message = ("The training loss has not improved since epoch %d (%s -> %s "
               "over %d epochs%s)" % (
                   int(epochs[since]), _g(early), _g(late), flat,
                   "; chance level %s" % _g(chance) if chance else ""))
    if loss[0] > 2 * abs(late):
        lr_advice = ("the loss spiked to %s in epoch 0, so the learning rate "
                     "is likely too high: %s"
                     % (_g(loss[0]), _lower_lr_advice(lr)))
    elif lr:
        lr_advice = ("raise the learning rate 10x (from %s to %s)"
                     % (_g(lr), _g(lr * 10)))
    else:
        lr_advice = "raise the learning rate 10x"
    advice = ("Look first at the other alerts of this run (dead units, "
              "saturation, vanishing gradients, learning rate). Otherwise: "
              "%s; check that labels and inputs are shuffled together and "
              "that the loss fits the labels." % lr_advice)
    return [Alert("stalled_loss", "warning", None, first, last, evidence,
                  advice, message)]


# --------------------------------------------------------- static checks


def _check_inputs(facts, t):
    inputs = facts.get("inputs")
    if not isinstance(inputs, list):
        return []
    alerts = []
    for index, inp in enumerate(inputs):
        if not isinstance(inp, dict):
            continue
        name = str(inp.get("name") or "input_%d" % index)
        stats = {k: _num(inp.get(k)) for k in (
            "abs_max", "mean", "std", "min", "max", "max_feature_std",
            "nonfinite_fraction")}
        evidence = {"input": name}
        evidence.update({k: v for k, v in stats.items() if v is not None})
        nonfinite = stats["nonfinite_fraction"]
        if nonfinite is not None and nonfinite > 0:
            alerts.append(Alert(
                "unscaled_inputs", "critical", name, None, None, evidence,
                "Remove or impute the NaN/Inf entries before training (e.g. "
                "np.nan_to_num, or fill with the training mean): one NaN "
                "input turns the loss and then every weight into NaN.",
                "Input %s holds NaN/Inf in %s of its values"
                % (name, _g(100 * nonfinite) + "%")))
            continue
        dtype = str(inp.get("dtype") or "").lower()
        if dtype.startswith(("int", "uint", "bool", "str")):
            continue  # indices for an Embedding, not magnitudes
        abs_max = stats["abs_max"]
        spread = max([v for v in (stats["std"], stats["max_feature_std"])
                      if v is not None], default=None)
        if (abs_max is not None and abs_max > t.input_abs_max_critical) or \
                (spread is not None and spread > t.input_std_critical):
            severity = "critical"
        elif (abs_max is not None and abs_max > t.input_abs_max_warning) or \
                (spread is not None and spread > t.input_std_warning):
            severity = "warning"
        elif abs_max is not None and 0 < abs_max < t.input_abs_max_tiny:
            alerts.append(Alert(
                "unscaled_inputs", "info", name, None, None, evidence,
                "Standardize to unit variance (keras.layers.Normalization "
                "adapted on the training data, or sklearn StandardScaler).",
                "Input %s is tiny: its largest magnitude is %s"
                % (name, _g(abs_max))))
            continue
        else:
            continue
        low, high = stats["min"], stats["max"]
        if low is not None and high is not None and low >= 0 \
                and 1 < high <= 255:
            advice = ("These look like raw 8-bit values (0..%s): divide by "
                      "255, e.g. keras.layers.Rescaling(1/255) as the first "
                      "layer." % _g(high))
        else:
            advice = ("Standardize to mean 0 / std 1: "
                      "keras.layers.Normalization() as the first layer with "
                      ".adapt(x_train), or sklearn StandardScaler fitted on "
                      "the training data%s; or MinMax-scale to [0, 1]%s."
                      % (" (now mean %s, std %s)" % (_g(stats["mean"]),
                                                     _g(stats["std"]))
                         if stats["mean"] is not None
                         and stats["std"] is not None else "",
                         " (divide by %s)" % _g(abs_max)
                         if abs_max else ""))
        parts = []
        if abs_max is not None:
            parts.append("magnitudes up to %s" % _g(abs_max))
        if spread is not None:
            parts.append("std %s" % _g(spread))
        alerts.append(Alert(
            "unscaled_inputs", severity, name, None, None, evidence, advice,
            "Input %s is not normalized (%s; expected ~1)"
            % (name, ", ".join(parts))))
    return alerts


_LOSS_FAMILIES = {
    "binarycrossentropy": "binary", "binaryfocalcrossentropy": "binary",
    "bce": "binary",
    "categoricalcrossentropy": "categorical",
    "categoricalfocalcrossentropy": "categorical", "cce": "categorical",
    "sparsecategoricalcrossentropy": "sparse", "scce": "sparse",
}
_LOSS_FOR = {
    "binary": "binary_crossentropy",
    "categorical": "categorical_crossentropy",
    "sparse": "sparse_categorical_crossentropy",
}


def _first_loss(facts):
    """The first output's loss: `losses` (one per output) in runs written
    since it exists, `loss` in older ones."""
    losses = facts.get("losses")
    if isinstance(losses, list) and losses and isinstance(losses[0], dict):
        return losses[0]
    return facts.get("loss")


def _loss_family(loss):
    """'binary' / 'categorical' / 'sparse' for cross-entropies, else None."""
    name = loss.get("name") if isinstance(loss, dict) else loss
    if not isinstance(name, str):
        return None
    return _LOSS_FAMILIES.get("".join(ch for ch in name.lower()
                                      if ch.isalpha()))


def _check_loss_head(facts, t):
    loss = _first_loss(facts)
    outputs = facts.get("outputs")
    if not isinstance(outputs, list):
        return []
    alerts = []
    for out in outputs:
        if not isinstance(out, dict):
            continue
        spec = out.get("loss", loss)
        family = _loss_family(spec)
        name = spec.get("name") if isinstance(spec, dict) else spec
        from_logits = spec.get("from_logits") if isinstance(spec, dict) \
            else None
        act = out.get("activation")
        act = act.lower() if isinstance(act, str) else None
        units = _num(out.get("units"))
        layer = out.get("layer")
        found = _mismatch(family, from_logits, act, units, layer)
        if found is None:
            continue
        severity, message, advice = found
        evidence = {"loss": name, "from_logits": from_logits,
                    "activation": act,
                    "units": int(units) if units is not None
                    and float(units).is_integer() else units}
        alerts.append(Alert("loss_activation_mismatch", severity, layer,
                            None, None, evidence, advice, message))
    return alerts


def _mismatch(family, from_logits, act, units, layer):
    """(severity, message, advice) for one output head, or None."""
    probabilities = act in ("sigmoid", "softmax")
    if act == "softmax" and units == 1:
        return ("critical",
                "%s applies softmax to a single unit, which always outputs "
                "1.0: the model cannot learn" % layer,
                "For two classes use Dense(1, activation='sigmoid') with "
                "binary_crossentropy; for k classes Dense(k, "
                "activation='softmax') with sparse_categorical_crossentropy "
                "(integer labels) or categorical_crossentropy (one-hot).")
    if family is None:
        return None
    loss = _LOSS_FOR[family]
    if family in ("categorical", "sparse") and units == 1:
        return ("critical",
                "%s over the single output unit of %s cannot learn "
                "(categorical: always 0; sparse: labels out of range)"
                % (loss, layer),
                "For two classes use Dense(1, activation='sigmoid') with "
                "binary_crossentropy, or Dense(2, activation='softmax') with "
                "sparse_categorical_crossentropy.")
    if from_logits is False and act is not None and not probabilities:
        head = "sigmoid" if family == "binary" else "softmax"
        return ("critical",
                "%s expects probabilities (from_logits=False) but %s outputs "
                "unbounded %s values, which get clipped to [1e-7, 1-1e-7]"
                % (loss, layer, act),
                "Use keras.losses.%s(from_logits=True) with the linear "
                "output (numerically stabler), or add activation='%s' to %s."
                % (_class_name(loss), head, layer))
    if from_logits is True and probabilities:
        return ("warning",
                "%s with from_logits=True, but %s already applies %s: the "
                "loss squashes probabilities a second time"
                % (loss, layer, act),
                "Remove the %s from %s (activation=None) and keep "
                "keras.losses.%s(from_logits=True), or keep the %s and set "
                "from_logits=False." % (act, layer, _class_name(loss), act))
    if family == "binary" and act == "softmax" and units and units > 1:
        return ("warning",
                "binary_crossentropy on the softmax of %s: softmax makes the "
                "%d outputs compete, binary cross-entropy scores each alone"
                % (layer, units),
                "For one class out of %d keep softmax and use "
                "categorical_crossentropy (one-hot labels) or "
                "sparse_categorical_crossentropy (integer labels); for "
                "independent (multi-label) targets use sigmoid with "
                "binary_crossentropy." % units)
    if family in ("categorical", "sparse") and act == "sigmoid" \
            and units and units > 1:
        return ("warning",
                "%s on %d independent sigmoid outputs of %s: the outputs do "
                "not form a distribution over classes" % (loss, units, layer),
                "Use activation='softmax' in %s with %s for one class per "
                "sample, or keep sigmoid with binary_crossentropy for "
                "multi-label targets." % (layer, loss))
    return None


def _class_name(loss):
    """binary_crossentropy -> BinaryCrossentropy."""
    return "".join(part.capitalize() for part in loss.split("_"))


_SERIES_RULES = (
    _rule_non_finite,
    _rule_gradients,
    _rule_dead_relu,
    _rule_saturation,
    _rule_overfitting,
    _rule_stalled_loss,
    _rule_learning_rate,
)
