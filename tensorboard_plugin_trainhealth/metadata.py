"""The trainhealth summary schema: one source of truth for writer and reader.

Everything the callback writes and the plugin reads is named here: the
plugin name, the tags, the data class of each tag, and the JSON content that
rides in each tag's ``SummaryMetadata.plugin_data``.

Data layout, chosen for TensorBoard's per-tag reservoir sampling:

* Step-level global signals (loss, global gradient norm, learning rate,
  non-finite flags) are float32 scalars, one tag each, keyed by the global
  optimizer step.
* Epoch-level metrics (``loss``, ``val_loss``, every compiled metric and the
  train/validation gap) are float32 scalars keyed by the epoch index.
* Per-layer signals are packed: one float32 vector tensor per signal per
  record, one entry per layer (or per variable), with the ordered names in
  the tag's metadata content. A 200-layer model therefore has a handful of
  tags, not a thousand, and every layer of a signal is sampled at exactly the
  same steps, which a layer-by-step heatmap needs.
* Static facts about the model and its input data, and live alerts, are JSON
  strings in rank-0 string tensors.
"""

import json

PLUGIN_NAME = "trainhealth"

# Bump when the meaning of a tag or of its content changes incompatibly. A
# reader meeting a newer version reports it instead of guessing.
METADATA_VERSION = 1

# How many records per tag TensorBoard keeps for this plugin unless the user
# passes --samples_per_plugin (see loader.py). The callback's default cadence
# writes a few hundred records per fit, so a run is normally kept whole.
DEFAULT_SAMPLES_PER_TAG = 20000

# Step-level scalars (step = global optimizer step).
STEP_LOSS = "step/loss"
STEP_GRAD_NORM = "step/grad_norm_global"
STEP_LEARNING_RATE = "step/learning_rate"
STEP_NONFINITE_LOSS = "step/nonfinite_loss"
STEP_NONFINITE_WEIGHTS = "step/nonfinite_weights"
STEP_NONFINITE_GRADIENTS = "step/nonfinite_gradients"
STEP_NONFINITE_ACTIVATIONS = "step/nonfinite_activations"

# Epoch-level scalars (step = epoch index, 0-based like Keras's `epoch`).
EPOCH_PREFIX = "epoch/"  # epoch/<log key>, e.g. epoch/loss, epoch/val_loss
GAP_PREFIX = "gap/"  # gap/<metric> = val_<metric> - <metric>
GAP_RATIO_PREFIX = "gap_ratio/"  # gap_ratio/<metric> = val_<metric> / <metric>
EPOCH_END_STEP = "epoch_end_step"  # global step at which each epoch ended

# Per-layer vectors (step = global optimizer step). Column names in content.
LAYER_DEAD_FRACTION = "layers/dead_fraction"
LAYER_SATURATION = "layers/saturation"
LAYER_ACTIVATION_NONFINITE = "layers/activation_nonfinite"
VARIABLE_GRAD_NORM = "variables/grad_norm"
VARIABLE_UPDATE_RATIO = "variables/update_ratio"
VARIABLE_WEIGHT_NORM = "variables/weight_norm"
LAYER_TAGS = (
    LAYER_DEAD_FRACTION,
    LAYER_SATURATION,
    LAYER_ACTIVATION_NONFINITE,
)
VARIABLE_TAGS = (
    VARIABLE_GRAD_NORM,
    VARIABLE_UPDATE_RATIO,
    VARIABLE_WEIGHT_NORM,
)

# Per-output vectors (step = global optimizer step), one column per model
# output (column "name" is the output's name, as the loss dict keys it),
# measured on the activation probe's samples at the records that run it:
# the standard deviation of the predictions across the probe samples
# (averaged over the output's units), and the share of the probe samples
# given the most common predicted class (argmax; for one unit, the side of
# 0.5 for outputs within [0, 1], of 0 otherwise). A collapsed model, one
# that predicts the same for every input, reads ~0 and ~1.
OUTPUT_PREDICTION_STD = "outputs/prediction_std"
OUTPUT_TOP_CLASS_SHARE = "outputs/top_class_share"
OUTPUT_TAGS = (
    OUTPUT_PREDICTION_STD,
    OUTPUT_TOP_CLASS_SHARE,
)

# The run's health so far, written at each diagnosis as plain scalars of
# TensorBoard's scalars plugin (not ours): the Scalars and HParams
# dashboards read them as metrics. Status: 0 ok, 1 warning, 2 critical.
HEALTH_STATUS = "trainhealth/status"
HEALTH_WARNINGS = "trainhealth/warnings"
HEALTH_CRITICALS = "trainhealth/criticals"
HEALTH_TAGS = (HEALTH_STATUS, HEALTH_WARNINGS, HEALTH_CRITICALS)

# JSON documents.
RUN_FACTS = "run/facts"
RUN_ALERTS = "run/alerts"

# Heartbeats: every SummaryWriter writes a scalar under its own tag,
# WRITER_PREFIX + its id, at each step it writes records for; the tag's
# content names the writer ({"id", "pid", "host"}, as the facts' "writer").
# Each writer's tag holds only its own records on both data paths, so the
# reader can tell two writers that wrote one run at the same time.
WRITER_PREFIX = "run/writers/"

# Content kinds, so a reader can tell how to decode a tag without parsing it.
KIND_SCALAR = "scalar"
KIND_VECTOR = "vector"
KIND_JSON = "json"


class MetadataError(ValueError):
    """Raised when a tag's metadata content cannot be understood."""


def create_summary_metadata(kind, columns=None, description="",
                            writer=None):
    """Builds the `SummaryMetadata` for one trainhealth tag.

    Args:
      kind: one of `KIND_SCALAR`, `KIND_VECTOR`, `KIND_JSON`.
      columns: for vectors, a list of dicts describing each entry, in order
        (at least a `"name"` key).
      description: a human-readable description shown by TensorBoard.
      writer: for a heartbeat tag, the writer's {"id", "pid", "host"}.
    """
    # Imported here, not at the top: the diagnosis rules import this module
    # for the tag names and must not pull in TensorBoard.
    from tensorboard.compat.proto import summary_pb2

    content = {"version": METADATA_VERSION, "kind": kind}
    if columns is not None:
        content["columns"] = list(columns)
    if writer is not None:
        content["writer"] = dict(writer)
    data_class = {
        KIND_SCALAR: summary_pb2.DATA_CLASS_SCALAR,
        KIND_VECTOR: summary_pb2.DATA_CLASS_TENSOR,
        KIND_JSON: summary_pb2.DATA_CLASS_TENSOR,
    }[kind]
    return summary_pb2.SummaryMetadata(
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME,
            content=json.dumps(content).encode("utf-8"),
        ),
        data_class=data_class,
    )


def parse_plugin_content(content):
    """Parses a tag's plugin content bytes into a dict.

    Raises:
      MetadataError: if the bytes are not our JSON, or were written by a newer
        version of this plugin than the one reading them.
    """
    try:
        parsed = json.loads(content.decode("utf-8") if content else "{}")
    except (UnicodeDecodeError, ValueError) as e:
        raise MetadataError("unreadable trainhealth metadata: %s" % e)
    if not isinstance(parsed, dict):
        raise MetadataError("trainhealth metadata is not a JSON object")
    version = parsed.get("version", 0)
    if not isinstance(version, int) or version > METADATA_VERSION:
        raise MetadataError(
            "written by a newer trainhealth (metadata version %r; this "
            "plugin reads up to %d): upgrade tensorboard-plugin-trainhealth"
            % (version, METADATA_VERSION)
        )
    return parsed


def writer_tag(writer_id):
    return WRITER_PREFIX + writer_id


def epoch_tag(log_key):
    return EPOCH_PREFIX + log_key


def gap_tag(metric):
    return GAP_PREFIX + metric


def gap_ratio_tag(metric):
    return GAP_RATIO_PREFIX + metric
