"""TrainHealthCallback under tf.distribute.MirroredStrategy on 2 logical CPUs.

Prints one JSON line: the recorded gradient norms and the expected ones.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linear_problem as lp  # noqa: E402

from tensorboard_plugin_trainhealth import TrainHealthCallback  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = lp.model(keras)
    model.compile(keras.optimizers.SGD(lp.LR), "mse")
x, t = lp.data()
callback = TrainHealthCallback(sys.argv[1], every_n_steps=1, verbose=0)
model.fit(x, t, epochs=lp.EPOCHS, batch_size=lp.N, shuffle=False, verbose=0,
          callbacks=[callback])
grad = callback.series.matrices["variables/grad_norm"]
print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                  "steps": grad.steps.tolist(),
                  "norms": grad.values[:, 0].tolist(),
                  "expected": lp.expected_gradient_norms()}))
