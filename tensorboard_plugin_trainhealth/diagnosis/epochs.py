"""Rules on the epoch metrics: overfitting and a stalled loss."""

import numpy as np

from tensorboard_plugin_trainhealth.diagnosis.alerts import Alert
from tensorboard_plugin_trainhealth.diagnosis.learning_rate import (
    high_lr_evidence, low_rate_plausible, update_ratios)
from tensorboard_plugin_trainhealth.diagnosis.progress import (
    generalizes, still_falling, val_accuracy_key)
from tensorboard_plugin_trainhealth.diagnosis.util import (
    epoch_step, finite_epochs, fmt, nanmedian, pct, persistent_start,
    sentence)
from tensorboard_plugin_trainhealth.metadata import STEP_LOSS


def paired_epochs(series, *keys):
    """Epoch indices and values where every key has a finite value."""
    epochs = None
    for key in keys:
        ok, _ = finite_epochs(series, key)
        epochs = ok if epochs is None else np.intersect1d(epochs, ok)
    epochs = np.unique(epochs)
    values = []
    for key in keys:
        e = series.epoch(key)
        lookup = dict(zip(e.steps.tolist(), e.values.tolist()))
        values.append(np.array([lookup[int(x)] for x in epochs], np.float64))
    return epochs, values


# ------------------------------------------------------------- overfitting


def _loss_part(view):
    """Validation loss worse than its best for `overfit_patience` epochs
    while the training loss kept falling."""
    t = view.t
    epochs, (val, train) = paired_epochs(view.series, "val_loss", "loss")
    if len(epochs) < t.overfit_patience + 2:
        return None
    best = int(np.argmin(val))
    if val[-1] <= train[-1]:
        return None  # validation still better than training: no gap
    worse = val[best + 1:] > val[best] + t.overfit_margin * abs(val[best])
    if persistent_start(worse, t, min_records=t.overfit_patience) is None:
        return None
    if val[-1] < val[-t.overfit_patience] * (1 - t.improving_drop):
        return None  # falling back from a dip, not widening
    drop = (train[best] - train[-1]) / abs(train[best]) if train[best] else 0
    if drop < t.overfit_min_train_drop:
        return None
    chance = view.chance_loss
    if chance is not None and \
            train[-1] >= chance * (1 - t.stall_chance_margin):
        return None  # a model at chance level learned nothing to overfit
    rise = (val[-1] - val[best]) / abs(val[best]) if val[best] else 0.0
    return {
        "best_epoch": int(epochs[best]), "last_epoch": int(epochs[-1]),
        "best_val_loss": float(val[best]), "latest_val_loss": float(val[-1]),
        "val_rise": float(rise), "train_loss_at_best": float(train[best]),
        "latest_train_loss": float(train[-1]),
        "epochs_worse": int(np.sum(worse)), "margin": t.overfit_margin,
    }


def _accuracy_keys(series):
    val = val_accuracy_key(series)
    if val is None or val[4:] not in series.epochs:
        return None
    return val[4:], val


def _accuracy_part(view):
    """The seeds' definition: training accuracy climbs while validation
    accuracy has not beaten its best for `overfit_patience` epochs, and
    the gap between them widened."""
    t = view.t
    keys = _accuracy_keys(view.series)
    if keys is None:
        return None
    epochs, (train, val) = paired_epochs(view.series, *keys)
    if len(epochs) < t.overfit_patience + 2:
        return None
    # The plateau began where it first came within noise of its best.
    best = int(np.nonzero(val >= val.max() - t.improving_drop / 2)[0][0])
    if len(val) - 1 - best < t.overfit_patience:
        return None
    if val[-1] > val[-t.overfit_patience] + t.improving_drop:
        return None  # climbing back from a dip, not a plateau
    if not generalizes(view):
        return None  # learned nothing that could be overfitted
    if _val_loss_still_improving(view, t.overfit_patience) or \
            _val_loss_at_its_best(view):
        return None  # "validation loss stops decreasing" is half the sign
    gap = train - val
    if train[-1] - train[best] < t.overfit_gap_widening or \
            gap[-1] < t.overfit_gap_widening or \
            gap[-1] - gap[best] < t.overfit_gap_widening:
        return None
    return {
        "metric": keys[1], "best_epoch": int(epochs[best]),
        "last_epoch": int(epochs[-1]), "best_val_accuracy": float(val[best]),
        "latest_val_accuracy": float(val[-1]),
        "train_accuracy_at_best": float(train[best]),
        "latest_train_accuracy": float(train[-1]),
        "gap_at_best": float(gap[best]), "latest_gap": float(gap[-1]),
    }


def _val_loss_still_improving(view, epochs):
    """The validation loss made a new best (by `improving_drop`) within the
    last `epochs` epochs."""
    _, val = finite_epochs(view.series, "val_loss")
    if len(val) <= epochs:
        return False
    before = float(np.min(val[:-epochs]))
    return float(np.min(val[-epochs:])) < before * (1 - view.t.improving_drop)


def _val_loss_at_its_best(view):
    """The validation loss ends within `improving_drop` of its best: the
    later epochs did not make the model fit new samples worse, so a
    training accuracy that climbed meanwhile is convergence, not
    overfitting."""
    _, val = finite_epochs(view.series, "val_loss")
    if len(val) < 2:
        return False
    return float(val[-1]) <= float(np.min(val)) * (1 + view.t.improving_drop)


def _val_accuracy_keeps_improving(view, best_epoch):
    key = val_accuracy_key(view.series)
    if key is None:
        return None
    epochs, acc = finite_epochs(view.series, key)
    at = dict(zip(epochs.tolist(), acc.tolist()))
    if best_epoch not in at or not len(acc):
        return None
    latest = float(acc[-1])
    keeps = (latest - at[best_epoch] >= view.t.improving_drop
             and latest >= float(np.max(acc)) - view.t.overfit_accuracy_drop)
    return keeps, key, float(at[best_epoch]), latest


def rule_overfitting(view):
    loss, acc = _loss_part(view), _accuracy_part(view)
    if loss is None and acc is None:
        return []
    series = view.series
    evidence = {"loss": loss, "accuracy": acc}
    severity = "warning"
    if acc is not None:
        best, last = acc["best_epoch"], acc["last_epoch"]
        monitor = acc["metric"]
        message = ("%s has not improved since epoch %d (best %s, latest %s) "
                   "while training accuracy kept climbing (%s -> %s): "
                   "overfitting since epoch %d" % (
                       monitor, best, fmt(acc["best_val_accuracy"]),
                       fmt(acc["latest_val_accuracy"]),
                       fmt(acc["train_accuracy_at_best"]),
                       fmt(acc["latest_train_accuracy"]), best))
    else:
        best, last = loss["best_epoch"], loss["last_epoch"]
        monitor = "val_loss"
        message = ("val_loss has risen %s above its best (%s at epoch %d) "
                   "while the training loss kept falling (%s -> %s): "
                   "overfitting since epoch %d" % (
                       pct(loss["val_rise"]), fmt(loss["best_val_loss"]),
                       best, fmt(loss["train_loss_at_best"]),
                       fmt(loss["latest_train_loss"]), best))
        improving = _val_accuracy_keeps_improving(view, best)
        if improving is not None and improving[0]:
            severity = "info"
            message = ("val_loss has risen %s above its best (%s at epoch "
                       "%d) while %s kept improving (%s -> %s): the model "
                       "is growing over-confident" % (
                           pct(loss["val_rise"]), fmt(loss["best_val_loss"]),
                           best, improving[1], fmt(improving[2]),
                           fmt(improving[3])))
    patience = max(2, min(last - best, 5))
    advice = ("Keep the epoch-%d weights: keras.callbacks.EarlyStopping("
              "monitor='%s', patience=%d, restore_best_weights=True). "
              "Regularize with Dropout(0.2-0.5) or an L2 kernel_regularizer "
              "(e.g. 1e-4), or add training data / augmentation."
              % (best, monitor, patience))
    if severity == "info":
        advice = ("Harmless if you select models by accuracy. For "
                  "calibrated probabilities, " + advice[0].lower()
                  + advice[1:])
    return [Alert("overfitting", severity, None, epoch_step(series, best),
                  epoch_step(series, last), evidence, advice, message)]


# ------------------------------------------------------------ stalled loss


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


def _stall_advice(view, chance):
    reasons = high_lr_evidence(view)
    fixes = []
    if reasons:
        fixes.append("the learning rate looks too high (%s): %s"
                     % ("; ".join(reasons), view.lower_lr_to_default()))
    elif low_rate_plausible(view):
        ratios = update_ratios(view.series)
        if ratios is not None and float(nanmedian(ratios[2])) \
                < 10 * view.t.lr_ratio_low:
            fixes.append("the weights barely move (largest update %s of "
                         "their norm per step): raise the learning rate 10x"
                         % fmt(nanmedian(ratios[2])))
    if view.inputs_scaled is False:
        fixes.append("normalize the inputs (they reach %s in magnitude)"
                     % fmt(view.input_abs_max))
    fixes.append("check that inputs and labels are shuffled together and "
                 "still line up")
    fixes.append("check that the loss and the output layer fit the labels")
    return ("Look first at the other alerts of this run. %s."
            % sentence(fixes))


def _never_generalized(view):
    """Nothing learned carries over to new samples: the validation accuracy
    never beat always predicting the majority class, or the validation
    loss never got below chance level and has stopped falling."""
    series = view.series
    found = _accuracy_at_majority(view)
    if found is None:
        found = _val_loss_at_chance(view)
    if found is None:
        return []
    evidence, message = found
    epochs = series.epoch("val_loss").steps
    if not len(epochs):
        epochs = series.epoch(evidence.get("metric", "val_loss")).steps
    step_loss = series.scalar(STEP_LOSS)
    first = int(step_loss.steps[0]) if len(step_loss) else epoch_step(
        series, int(epochs[0]))
    return [Alert("stalled_loss", "warning", None, first,
                  epoch_step(series, int(epochs[-1])), evidence,
                  _stall_advice(view, view.chance_loss), message)]


def _accuracy_at_majority(view):
    t = view.t
    key = val_accuracy_key(view.series)
    majority = next((o.majority[1] for o in view.outputs if o.majority),
                    None)
    if key is None or majority is None or generalizes(view):
        return None
    _, acc = finite_epochs(view.series, key)
    if len(acc) < t.stall_min_epochs or float(np.max(acc)) > majority + 0.02:
        return None
    return ({"metric": key, "best": float(np.max(acc)),
             "latest": float(acc[-1]), "majority_share": majority},
            "%s has never beaten always predicting the majority class in %d "
            "epochs (best %s, latest %s; majority %s): the model has learned "
            "nothing that carries over to new samples"
            % (key, len(acc), fmt(np.max(acc)), fmt(acc[-1]), fmt(majority)))


def _val_loss_at_chance(view):
    t = view.t
    chance = view.chance_loss
    _, val = finite_epochs(view.series, "val_loss")
    if chance is None or len(val) < t.stall_min_epochs or \
            float(np.min(val)) < chance * (1 - t.stall_chance_margin) or \
            generalizes(view):
        return None
    if still_falling(val, t):
        return None  # still falling towards chance: a slow start
    return ({"val_loss_min": float(np.min(val)),
             "val_loss_latest": float(val[-1]), "chance_loss": chance},
            "The validation loss has never been below chance level in %d "
            "epochs and has stopped falling (lowest %s, latest %s; chance "
            "%s): the model has learned nothing that carries over to new "
            "samples" % (len(val), fmt(np.min(val)), fmt(val[-1]),
                         fmt(chance)))


def rule_stalled_loss(view):
    return _stalled_training(view) or _never_generalized(view)


def _stalled_training(view):
    series, t = view.series, view.t
    epochs, loss = finite_epochs(series, "loss")
    if len(loss) < t.stall_min_epochs:
        return []
    late = float(np.mean(loss[-2:]))
    if late <= t.stall_converged_loss:
        return []
    since = _flat_since(loss, t)
    if since is None:
        return []
    chance = view.chance_loss
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
                 else epoch_step(series, int(epochs[0])))
    else:
        first = epoch_step(series, int(epochs[since - 1]))
    early = float(np.mean(loss[since:since + 2]))
    evidence = {
        "since_epoch": int(epochs[since]), "flat_epochs": int(flat),
        "loss_epoch_0": float(loss[0]), "loss_at_start": early,
        "loss_latest": late,
        "improvement": float((early - late) / abs(early)),
        "chance_loss": chance,
    }
    message = ("The training loss has not improved since epoch %d (mean of "
               "epochs %d-%d %s, of the last two %s; %d epochs%s)" % (
                   int(epochs[since]), int(epochs[since]),
                   int(epochs[since]) + 1, fmt(early), fmt(late), flat,
                   "; chance level %s" % fmt(chance) if chance else ""))
    return [Alert("stalled_loss", "warning", None, first,
                  epoch_step(series, int(epochs[-1])), evidence,
                  _stall_advice(view, chance), message)]
