"""One incident, one primary alert: findings that an earlier cause explains
are folded into it as its consequences.

A finding B is a consequence of A when A's kind can cause B's (the table
below; a dead or saturated layer also explains the same in the layers
after it), A began no later than B (static checks come before every step),
A had not ended (with the training recovered) before B began, and A
matters at least as much (an alert judged information explains no
warning). Findings are taken in order of onset (upstream kinds first on
a tie); one that no incident explains opens a new one, with itself as the
primary; one that several incidents explain joins the one holding its most
proximate cause. The primary carries the incident's severity (the worst of
its own and its consequences') and ends only when all of them ended.
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
# A learning rate found too low, or a regression loss on class labels,
# explains only a lack of progress.
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
            "largest_update_ratio" in cause.evidence or \
            cause.evidence.get("regression_loss_on_classes"):
        kinds = _LOW_LR_EXPLAINS
    if cause.severity == "info" and effect.severity != "info":
        # A condition judged harmless (tiny inputs, a recovering layer)
        # does not account for a finding that matters.
        return False
    if cause.kind == "unscaled_inputs":
        nan_inputs = "holds NaN" in cause.message
        if effect.kind == "non_finite" and not nan_inputs and \
                effect.evidence.get("signal") == "loss":
            return False  # NaN that began in the loss is the loss's
    if effect.kind not in kinds or _onset(cause) > _onset(effect):
        return False
    # A cause that ended and left a recovered training explains nothing
    # that outlasts it; one that ended without recovery did lasting damage.
    ended = cause.resolved_step
    if ended is None or not cause.recovered:
        return True
    return _onset(effect) <= ended and effect.resolved_step is not None


def group(alerts):
    """The primary alerts, each holding the findings it explains."""
    ordered = sorted(alerts, key=lambda a: (_onset(a), _rank(a),
                                            _layer_index(a), a.layer or ""))
    primaries = []
    for alert in ordered:
        # Of the incidents that explain it, the one with the most proximate
        # cause (the latest onset); the earliest incident on a tie.
        home, proximity = None, None
        for primary in primaries:
            onsets = [_onset(m) for m in [primary] + primary.consequences
                      if explains(m, alert)]
            if onsets and (proximity is None or max(onsets) > proximity):
                home, proximity = primary, max(onsets)
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
