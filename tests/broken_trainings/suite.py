"""Runs a program of the suite and scores what diagnosis made of it.

Each program trains with a real `TrainHealthCallback`; its run is read back
from the log dir through TensorBoard's data provider (`reader`), as the CLI
reads it, so the live alerts the callback logged are part of the final
report. The live tracker (`diagnosis.LiveAlerts`) is replayed over the run,
epoch by epoch, to show what it would have printed.
"""

import dataclasses
import os
import time

import numpy as np

from tensorboard_plugin_trainhealth import TrainHealthCallback
from tensorboard_plugin_trainhealth import diagnosis
from tensorboard_plugin_trainhealth.series import Matrix, RunSeries, Series
from tests.broken_trainings.common import set_seed


@dataclasses.dataclass
class Result:
    program: object
    alerts: list  # every alert, as diagnose() gives them
    counted: list  # those that count toward the status (>= warning)
    series: RunSeries
    seconds: float
    live: list = dataclasses.field(default_factory=list)  # (epoch, event)

    @property
    def primary(self):
        return self.counted[0] if self.counted else None

    def named(self):
        """Kinds the counted alerts name, their consequences included."""
        kinds = set()
        for a in self.counted:
            kinds.add(a.kind)
            kinds.update(c.kind for c in getattr(a, "consequences", []))
        return kinds

    @property
    def detected(self):
        return bool(set(self.program.root) & self.named())

    @property
    def root_is_primary(self):
        return self.primary is not None \
            and self.primary.kind in self.program.root

    @property
    def false_warnings(self):
        return len(self.counted) if self.program.healthy else 0


def counted(alerts):
    floor = diagnosis.severity_rank("warning")
    return [a for a in alerts if diagnosis.severity_rank(a.severity) >= floor
            and not getattr(a, "recovered", False)]


def read_back(log_dir):
    """The run in `log_dir` as the CLI reads it."""
    from tensorboard import context
    from tensorboard_plugin_trainhealth import reader

    provider = reader.open_logdir(log_dir)
    ctx = context.RequestContext()
    runs = reader.trainhealth_runs(provider, ctx, "")
    if len(runs) != 1:
        raise AssertionError("%s holds runs %s" % (log_dir, runs))
    return reader.read_run(provider, ctx, "", runs[0])


def run_program(program, log_dir, live=True):
    started = time.time()
    set_seed(0)
    cb = TrainHealthCallback(log_dir, verbose=0)
    program.run(cb)
    series = read_back(log_dir)
    alerts = diagnosis.diagnose(series)
    result = Result(program, alerts, counted(alerts), series,
                    time.time() - started)
    if live and hasattr(diagnosis, "LiveAlerts"):
        result.live = replay_live(series)
    return result


# -- live replay -------------------------------------------------------------


def _cut(series, step, epoch):
    """`series` as it stood at the end of `epoch` (global step `step`)."""
    def cut(s, limit):
        keep = s.steps <= limit
        return Series(s.steps[keep], s.values[keep])

    matrices = {}
    for tag, m in series.matrices.items():
        keep = m.steps <= step
        matrices[tag] = Matrix(m.columns, m.steps[keep], m.values[keep])
    return RunSeries(
        step_scalars={k: cut(v, step) for k, v in series.step_scalars.items()},
        epochs={k: cut(v, epoch) for k, v in series.epochs.items()},
        epoch_end_step=cut(series.epoch_end_step, epoch),
        matrices=matrices, facts=series.facts)


def replay_live(series):
    """(epoch, LiveEvent) as the tracker would have given them."""
    tracker = diagnosis.LiveAlerts()
    events = []
    ends = series.epoch_end_step
    for epoch, step in zip(ends.steps.tolist(), ends.values.tolist()):
        for event in tracker.update(_cut(series, int(step), int(epoch))):
            events.append((int(epoch), event))
    return events


# -- advice that points the right way -----------------------------------------


def _input_abs_max(facts):
    """The largest input magnitude, token ids (int inputs) left out."""
    values = []
    for inp in facts.get("inputs") or []:
        if not isinstance(inp, dict) or \
                str(inp.get("dtype", "")).startswith("int"):
            continue
        if isinstance(inp.get("abs_max"), (int, float)):
            values.append(float(inp["abs_max"]))
    return max(values) if values else None


def _loss_far_above_uniform(series):
    outputs = series.facts.get("outputs") or []
    loss = series.epoch("loss").values
    loss = loss[np.isfinite(loss)]
    if len(outputs) != 1 or not len(loss):
        return False
    units = outputs[0].get("units") or 1
    uniform = np.log(max(2, units))
    return float(np.max(loss)) > 1.5 * uniform


def advice_problems(alert, series):
    """Ways this alert's advice points the wrong way, given the run."""
    problems = []
    advice, facts = alert.advice, series.facts
    optimizer = facts.get("optimizer") or {}
    lr = optimizer.get("learning_rate")
    if "raise the learning rate" in advice.lower():
        if isinstance(lr, float) and lr >= 0.01:
            problems.append("raises a learning rate of %s" % lr)
        if _loss_far_above_uniform(series):
            problems.append("raises the learning rate of a run whose loss "
                            "went far above chance")
    if "lower the learning rate" in advice.lower() and isinstance(
            lr, float) and lr <= 1e-6:
        problems.append("lowers a learning rate of %s" % lr)
    scale = _input_abs_max(facts)
    if "normalize the inputs" in advice.lower() and scale is not None \
            and scale <= 10:
        problems.append("normalizes inputs within +-%s" % scale)
    if alert.kind == "learning_rate":
        if "too high" in alert.message and "raise" in advice.lower():
            problems.append("raises a learning rate it calls too high")
        if "too low" in alert.message and "lower the" in advice.lower():
            problems.append("lowers a learning rate it calls too low")
    if alert.kind == "overfitting" and alert.severity != "info" and \
            "restore_best_weights=True" not in advice:
        problems.append("overfitting advice without restore_best_weights")
    if alert.kind == "unscaled_inputs" and "NaN" not in alert.message:
        high = (alert.evidence.get("max") or 0)
        if 1 < high <= 255 and alert.evidence.get("min", -1) >= 0 \
                and "255" not in advice:
            problems.append("8-bit inputs without 'divide by 255'")
    return problems


def all_advice_problems(result):
    found = []
    for alert in result.alerts:
        for problem in advice_problems(alert, result.series):
            found.append("%s: %s" % (alert.kind, problem))
    return found


def live_problems(result):
    """Live alerts left standing on a healthy run, and live alerts missing
    from the final report."""
    problems = []
    standing = {}
    for _, event in result.live:
        if event.event in ("raised", "escalated"):
            standing[event.alert.key] = event.alert
        else:
            standing.pop(event.alert.key, None)
    if result.program.healthy:
        problems += ["live %s left standing" % k[0] for k in standing]
    final = set()
    for a in result.alerts:
        final.add((a.kind, a.layer))
        final.update((c.kind, c.layer) for c in getattr(a, "consequences",
                                                       []))
    for _, doc in result.series.live_alerts:
        if (doc.get("kind"), doc.get("layer")) not in final:
            problems.append("live %s vanished from the report"
                            % doc.get("kind"))
    return problems


def describe(alert):
    text = "%s@%s" % (alert.kind, alert.severity)
    if getattr(alert, "resolved_step", None) is not None:
        text += "(resolved %d%s)" % (alert.resolved_step,
                                     ", recovered" if alert.recovered else "")
    consequences = getattr(alert, "consequences", [])
    if consequences:
        text += "[%s]" % ",".join(sorted({c.kind for c in consequences}))
    return text


def log_dir_for(root, program):
    return os.path.join(root, program.name)
