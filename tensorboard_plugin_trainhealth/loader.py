"""TensorBoard's entry point for the Train Health plugin.

`setup.py` registers `TrainHealthLoader` under the `tensorboard_plugins`
entry point group, so a plain `pip install` makes TensorBoard load it. This
module stays import-light: TensorBoard imports every loader at start-up.
"""

from tensorboard.plugins import base_plugin

from tensorboard_plugin_trainhealth import metadata


class TrainHealthLoader(base_plugin.TBLoader):
    """Keeps long trainhealth histories and creates the plugin."""

    def fix_flags(self, flags):
        # TensorBoard keeps only a handful of records per tensor tag unless
        # told otherwise (10 by default for plugins it does not know), and
        # both data paths read the limit from --samples_per_plugin: the
        # Python multiplexer (--load_fast=false) as tensor_size_guidance and
        # the Rust data server (--load_fast=true) as --samples-per-plugin.
        # Diagnosis needs the whole history (the step a layer died is the
        # point), so raise our plugin's limit unless the user chose one.
        # `fix_flags` runs before either data path is built.
        samples = getattr(flags, "samples_per_plugin", None)
        if samples is None:
            # Flags built by hand (notebooks, tests) may lack the parsed
            # dict; argparse itself always gives one ("" parses to {}).
            samples = {}
        samples.setdefault(metadata.PLUGIN_NAME,
                           metadata.DEFAULT_SAMPLES_PER_TAG)
        flags.samples_per_plugin = samples

    def load(self, context):
        # Imported here so that a broken optional dependency of the plugin
        # costs only this tab, not TensorBoard's start-up.
        from tensorboard_plugin_trainhealth import plugin

        return plugin.TrainHealthPlugin(context)
