"""Synthetic trainhealth logdirs with known values, for the plugin tests.

Written with the project's own `SummaryWriter`, so they exercise the real
schema and event files; no Keras, no training. Each writer returns the
values the tests assert against.
"""

import json
import math
import os

from tensorboard_plugin_trainhealth import metadata
from tensorboard_plugin_trainhealth.writer import SummaryWriter

# A run name and a layer name that would run script if a page ever put
# them into HTML. The browser test checks that these flags stay unset.
HOSTILE_RUN = "<img src=x onerror=window.__thRunXss=1>"
HOSTILE_LAYER = "<img src=x onerror=window.__thLayerXss=1>"

STEPS = 30  # global steps 0..29, one record per step
NAN_STEP = 7  # the step whose gradient norm is NaN
INF_STEP = 8  # the step whose global gradient norm is +Inf


def layer_column(name, activation="relu", cls="Dense", units=8,
                 is_output=False):
    return {"name": name, "class": cls, "activation": activation,
            "is_output": is_output, "units": units}


def variable_columns(layers):
    columns = []
    for layer in layers:
        for part, shape in (("kernel", [4, 8]), ("bias", [8])):
            columns.append({"name": "%s/%s" % (layer, part),
                            "layer": layer, "shape": shape})
    return columns


def write_run(run_dir, relu_layers=("dense", "dense_1"),
              sigmoid_layer="gate", steps=STEPS, nan_step=NAN_STEP,
              start=0, nan_epoch_end=False):
    """Writes one run; returns a dict of the values written.

    With `start` > 0 it appends steps start..start+steps-1 to a run written
    before (a training that goes on): no facts, no epochs, no NaN.

    * layers/dead_fraction: [0.0, 1.0, 0.0, ...] for the ReLU layers (the
      second is dead) at every step.
    * layers/saturation: 0.5 for the sigmoid layer.
    * variables/grad_norm: kernel 3, bias 4 for the first ReLU layer (layer
      norm 5), 0 for the others; NaN for the first kernel at `nan_step`.
    * step/grad_norm_global: 5.0, NaN at `nan_step`, +Inf at INF_STEP.
    * epochs: loss [1.0, 0.5, 0.25], val_loss [1.0, 0.75, 0.75]; with
      `nan_epoch_end`, the end step of epoch 1 is NaN.
    """
    relu_layers = list(relu_layers)
    layers = [layer_column(n) for n in relu_layers]
    sat_layers = [layer_column(sigmoid_layer, activation="sigmoid",
                               is_output=True, units=1)]
    weighted = relu_layers + [sigmoid_layer]
    variables = variable_columns(weighted)
    dead = [0.0] * len(layers)
    if len(dead) > 1:
        dead[1] = 1.0
    epochs_loss = [1.0, 0.5, 0.25]
    epochs_val = [1.0, 0.75, 0.75]
    per_epoch = steps // len(epochs_loss)
    writer = SummaryWriter(run_dir)
    try:
        if start == 0:
            writer.json(metadata.RUN_FACTS, 0, {
                "loss": "mean_squared_error",
                "output_activation": "sigmoid",
                "every_n_steps": 1,
                "gradient_source": "optimizer",
            })
        for step in range(start, start + steps):
            grad = [0.0] * len(variables)
            grad[0], grad[1] = 3.0, 4.0
            global_norm = 5.0
            if step == nan_step:
                grad[0] = math.nan
                global_norm = math.nan
            if step == INF_STEP:
                global_norm = math.inf
            writer.scalar(metadata.STEP_LOSS, step, 1.0 / (1 + step))
            writer.scalar(metadata.STEP_GRAD_NORM, step, global_norm)
            writer.scalar(metadata.STEP_LEARNING_RATE, step, 0.01)
            writer.vector(metadata.LAYER_DEAD_FRACTION, step, dead, layers)
            writer.vector(metadata.LAYER_SATURATION, step, [0.5], sat_layers)
            writer.vector(metadata.VARIABLE_GRAD_NORM, step, grad, variables)
            writer.vector(metadata.VARIABLE_UPDATE_RATIO, step,
                          [1e-3] * len(variables), variables)
            writer.vector(metadata.VARIABLE_WEIGHT_NORM, step,
                          [1.0] * len(variables), variables)
        for epoch, (loss, val) in enumerate(zip(epochs_loss, epochs_val)):
            if start:
                break
            writer.scalar(metadata.epoch_tag("loss"), epoch, loss)
            writer.scalar(metadata.epoch_tag("val_loss"), epoch, val)
            writer.scalar(metadata.gap_tag("loss"), epoch, val - loss)
            end = (epoch + 1) * per_epoch - 1
            if nan_epoch_end and epoch == 1:
                end = math.nan
            writer.scalar(metadata.EPOCH_END_STEP, epoch, end)
    finally:
        writer.close()
    return {
        "relu_layers": relu_layers,
        "sigmoid_layer": sigmoid_layer,
        "layers": relu_layers + [sigmoid_layer],
        "dead": dead,
        "steps": steps,
        "nan_step": nan_step,
        "inf_step": INF_STEP,
        "loss": epochs_loss,
        "val_loss": epochs_val,
        "gap": [v - t for t, v in zip(epochs_loss, epochs_val)],
        "epoch_end_step": [(e + 1) * per_epoch - 1
                           for e in range(len(epochs_loss))],
    }


def write_logdir(root):
    """Two runs: "mlp" and a run with hostile run and layer names.

    Returns {run name: values written}.
    """
    return {
        "mlp": write_run(os.path.join(root, "mlp")),
        HOSTILE_RUN: write_run(os.path.join(root, HOSTILE_RUN),
                               relu_layers=(HOSTILE_LAYER, "dense_1")),
    }


def write_wide_run(run_dir, layers=40, dead_layer=17, steps=20):
    """A deeper model: `layers` ReLU layers named layer_00.., one of them
    (`dead_layer`) dead from the first step, all others healthy; gradient
    norms for a kernel and a bias per layer. Returns the layer names."""
    names = ["layer_%02d" % i for i in range(layers)]
    columns = [layer_column(n) for n in names]
    variables = variable_columns(names)
    dead = [0.0] * layers
    dead[dead_layer] = 1.0
    writer = SummaryWriter(run_dir)
    try:
        for step in range(steps):
            writer.scalar(metadata.STEP_LOSS, step, 1.0 / (1 + step))
            writer.scalar(metadata.STEP_GRAD_NORM, step, 1.0)
            writer.vector(metadata.LAYER_DEAD_FRACTION, step, dead, columns)
            writer.vector(metadata.VARIABLE_GRAD_NORM, step,
                          [0.1] * len(variables), variables)
    finally:
        writer.close()
    return names


def write_plain_logdir(root):
    """A logdir with only stock TensorBoard scalars: no trainhealth data."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer import event_file_writer

    writer = event_file_writer.EventFileWriter(os.path.join(root, "plain"))
    for step in range(3):
        writer.add_event(event_pb2.Event(
            step=step, wall_time=1.0 + step,
            summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(
                tag="loss", simple_value=1.0 / (1 + step))])))
    writer.close()


def write_broken_run(run_dir):
    """A run with one good tag and two unreadable ones.

    * step/loss: 1.0 at step 0 (readable).
    * layers/dead_fraction written by a "future" plugin (metadata version
      99), which this version must report, not guess at.
    * run/facts holding a string that is not JSON.
    """
    import numpy as np
    from tensorboard.compat.proto import summary_pb2

    def future_metadata():
        content = json.dumps({"version": 99, "kind": "vector",
                              "columns": [{"name": "dense"}]})
        return summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(
                plugin_name=metadata.PLUGIN_NAME,
                content=content.encode("utf-8")),
            data_class=summary_pb2.DATA_CLASS_TENSOR)

    writer = SummaryWriter(run_dir)
    try:
        writer.scalar(metadata.STEP_LOSS, 0, 1.0)
        # Private API on purpose: the public one cannot write bad records.
        writer._add(metadata.LAYER_DEAD_FRACTION, 0,
                    np.array([0.5], np.float32), future_metadata)
        writer._add(metadata.RUN_FACTS, 0,
                    np.array(b"{not json", dtype=np.object_),
                    lambda: metadata.create_summary_metadata(
                        metadata.KIND_JSON))
    finally:
        writer.close()


def deeply_nested(depth):
    """JSON text of a list nested `depth` deep around a dict."""
    return "[" * depth + '{"x": 1}' + "]" * depth


def _write_json_text(writer, tag, step, text):
    """A JSON record holding `text` as is (SummaryWriter.json would have
    to build it with json.dumps, which cannot nest this deep)."""
    import numpy as np

    # Private API on purpose: the public one cannot write these records.
    writer._add(tag, step, np.array(text.encode("utf-8"), dtype=np.object_),
                lambda: metadata.create_summary_metadata(metadata.KIND_JSON))


HOSTILE_PARTS = ("deep_facts_500", "deep_facts_1000", "deep_alerts_500",
                 "deep_alerts_1000", "deep_columns_1000", "nan_epoch_end",
                 "non_string_names")


def write_hostile_parts_run(run_dir, case):
    """The fixture's run (`write_run`) with one hostile part, `case` one of
    HOSTILE_PARTS:

    * deep_facts_N / deep_alerts_N: a second facts document (step 1) or a
      live-alerts record (step 2) nested N deep;
    * deep_columns_1000: an extra vector tag ("layers/activation_nonfinite")
      whose metadata columns are nested 1000 deep;
    * nan_epoch_end: the end step of epoch 1 is NaN;
    * non_string_names: the ReLU layers are named 7, None, {"a": 1} and
      ["b"] (their variables "7/kernel", ... with those as "layer"), the
      second of them dead.

    Returns write_run's values.
    """
    if case == "nan_epoch_end":
        return write_run(run_dir, nan_epoch_end=True)
    if case == "non_string_names":
        return write_run(run_dir, relu_layers=(7, None, {"a": 1}, ["b"]))
    written = write_run(run_dir)
    writer = SummaryWriter(run_dir)
    try:
        if case.startswith("deep_facts_"):
            depth = int(case.rsplit("_", 1)[1])
            _write_json_text(writer, metadata.RUN_FACTS, 1,
                             '{"deep": %s}' % deeply_nested(depth))
        elif case.startswith("deep_alerts_"):
            depth = int(case.rsplit("_", 1)[1])
            _write_json_text(writer, metadata.RUN_ALERTS, 2,
                             '[{"kind": "dead_relu", "evidence": %s}]'
                             % deeply_nested(depth))
        elif case == "deep_columns_1000":
            import numpy as np
            from tensorboard.compat.proto import summary_pb2

            content = ('{"version": 1, "kind": "vector", "columns": '
                       '[{"name": "x", "deep": %s}]}' % deeply_nested(1000))
            writer._add(
                metadata.LAYER_ACTIVATION_NONFINITE, 0,
                np.array([0.0], np.float32),
                lambda: summary_pb2.SummaryMetadata(
                    plugin_data=summary_pb2.SummaryMetadata.PluginData(
                        plugin_name=metadata.PLUGIN_NAME,
                        content=content.encode("utf-8")),
                    data_class=summary_pb2.DATA_CLASS_TENSOR))
        else:
            raise ValueError(case)
    finally:
        writer.close()
    return written


def write_huge_run(run_dir, variables=100000, records=3, dead_layer=1234):
    """A model with `variables` variables (a kernel and a bias for each of
    variables / 2 ReLU layers "block_NNNNN/dense"), recorded `records`
    times, written with the writer directly. Layer `dead_layer` is dead;
    every gradient norm is 0.5. Returns the layer names."""
    names = ["block_%05d/dense" % i for i in range(variables // 2)]
    layers = [layer_column(n) for n in names]
    columns = [{"name": "%s/%s" % (n, part), "layer": n}
               for n in names for part in ("kernel", "bias")]
    dead = [0.0] * len(names)
    dead[dead_layer] = 1.0
    writer = SummaryWriter(run_dir)
    try:
        writer.json(metadata.RUN_FACTS, 0, {"loss": "mean_squared_error",
                                            "every_n_steps": 1})
        for step in range(records):
            writer.scalar(metadata.STEP_LOSS, step, 1.0 / (1 + step))
            writer.vector(metadata.LAYER_DEAD_FRACTION, step, dead, layers)
            for tag in (metadata.VARIABLE_GRAD_NORM,
                        metadata.VARIABLE_UPDATE_RATIO,
                        metadata.VARIABLE_WEIGHT_NORM):
                writer.vector(tag, step, [0.5] * len(columns), columns)
    finally:
        writer.close()
    return names
