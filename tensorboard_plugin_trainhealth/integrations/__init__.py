"""Glue between `TrainHealthCallback` and the tools users already look at.

* `hparams`: health as plain scalars (`trainhealth/status`, `.../warnings`,
  `.../criticals`) that TensorBoard's Scalars and HParams dashboards read as
  metrics, and a trial's hyperparameters written with TensorBoard's
  `hparams` summaries;
* `keras_tuner`: a run directory and hyperparameters per KerasTuner trial;
* `mlflow_log`: status tags, alert-count metrics and the JSON report on the
  active MLflow run.

Each module imports its tool only when the tool is in use: importing this
package imports neither MLflow nor KerasTuner.
"""
