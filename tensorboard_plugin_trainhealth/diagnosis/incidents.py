"""One incident, one primary alert: findings that an earlier cause explains
are folded into it as its consequences.

A finding B is a consequence of A when A's kind can cause B's (the table
below; a dead or saturated layer also explains the same in the layers
after it), A began no later than B (static checks come before every step),
and A had not ended (with the training recovered) before B began. Among several possible causes the
earliest, most upstream one is the primary. The primary carries the
incident's severity: the worst of its own and its consequences'.
"""

from tensorboard_plugin_trainhealth.diagnosis.alerts import worst

# Upstream first: at the same onset, a kind earlier here is the cause.
CAUSAL_ORDER = (
    "unscaled_inputs",
    "label_mismatch",
    "loss_activation_mismatch",
    "class_imbalance",
    "learning_rate",
    "exploding_gradients",
    "non_finite",
    "saturation",
    "dead_relu",
    "vanishing_gradients",
    "collapsed_predictions",
    "overfitting",
    "stalled_loss",
)

_TRAINING = {"non_finite", "exploding_gradients", "vanishing_gradients",
             "dead_relu", "saturation", "stalled_loss", "learning_rate",
             "collapsed_predictions"}

# What each kind can cause.
EXPLAINS = {
    "unscaled_inputs": _TRAINING,
    "label_mismatch": _TRAINING | {"class_imbalance"},
    "loss_activation_mismatch": _TRAINING,
    "class_imbalance": {"collapsed_predictions", "stalled_loss"},
    "learning_rate": {"non_finite", "exploding_gradients", "dead_relu",
                      "saturation", "stalled_loss", "collapsed_predictions",
                      "vanishing_gradients"},
    "exploding_gradients": {"non_finite", "dead_relu", "saturation",
                            "learning_rate", "stalled_loss",
                            "collapsed_predictions"},
    "non_finite": _TRAINING | {"overfitting"},
    "saturation": {"vanishing_gradients", "stalled_loss",
                   "collapsed_predictions"},
    "dead_relu": {"vanishing_gradients", "stalled_loss",
                  "collapsed_predictions"},
    "vanishing_gradients": {"stalled_loss", "collapsed_predictions"},
    "collapsed_predictions": {"stalled_loss"},
}
# A learning rate found too low explains only a lack of progress.
_LOW_LR_EXPLAINS = {"stalled_loss", "collapsed_predictions"}


def _onset(alert):
    return -1 if alert.first_step is None else alert.first_step


def _rank(alert):
    kind = alert.kind
    return CAUSAL_ORDER.index(kind) if kind in CAUSAL_ORDER \
        else len(CAUSAL_ORDER)


def _downstream(cause, effect):
    """A dead or saturated layer explains the same in the layers after it
    (they receive its constant output), when it began no later."""
    if cause.kind != effect.kind or cause.kind not in ("dead_relu",
                                                       "saturation"):
        return False
    return (_layer_index(cause) < _layer_index(effect)
            and _onset(cause) <= _onset(effect))


def _layer_index(alert):
    index = alert.evidence.get("layer_index")
    return index if isinstance(index, int) else 0


def explains(cause, effect):
    """True when `cause` accounts for `effect` (see the module docstring)."""
    if cause is effect:
        return False
    if _downstream(cause, effect):
        return True
    kinds = EXPLAINS.get(cause.kind, set())
    if cause.kind == "learning_rate" and \
            "largest_update_ratio" in cause.evidence:
        kinds = _LOW_LR_EXPLAINS
    if cause.kind == "unscaled_inputs":
        if cause.severity == "info":
            return False  # tiny inputs break nothing
        nan_inputs = "holds NaN" in cause.message
        if effect.kind == "non_finite" and not nan_inputs and \
                effect.evidence.get("signal") == "loss":
            return False  # NaN that began in the loss is the loss's
    if effect.kind not in kinds or _onset(cause) > _onset(effect):
        return False
    # A cause that ended and left a recovered training explains nothing
    # after it; one that ended without recovery did lasting damage.
    ended = cause.resolved_step
    return ended is None or not cause.recovered or _onset(effect) <= ended


def group(alerts):
    """The primary alerts, each holding the findings it explains."""
    ordered = sorted(alerts, key=lambda a: (_onset(a), _rank(a),
                                            _layer_index(a), a.layer or ""))
    primaries = []
    for alert in ordered:
        home = None
        for primary in primaries:
            members = [primary] + primary.consequences
            if any(explains(m, alert) for m in members):
                home = primary
                break
        if home is None:
            alert.consequences = []
            primaries.append(alert)
        else:
            home.consequences.append(alert)
    for primary in primaries:
        _settle(primary)
    return primaries


def _settle(primary):
    """The incident's severity and end: a primary is as severe as its worst
    consequence that still counts, and ended only when all of them did."""
    counted = [c for c in primary.consequences if not c.recovered]
    primary.severity = worst(primary.severity,
                             *(c.severity for c in counted))
    if primary.resolved_step is not None:
        ends = [c.resolved_step for c in primary.consequences]
        if any(e is None for e in ends):
            primary.resolved_step = None
            primary.recovered = False
        elif ends:
            primary.resolved_step = max([primary.resolved_step] + ends)
