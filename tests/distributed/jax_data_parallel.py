"""TrainHealthCallback under keras.distribution.DataParallel on JAX.

    python jax_data_parallel.py LOGDIR                  # 2 devices, 1 process
    python jax_data_parallel.py LOGDIR PROCESS PORT     # 1 of 2 processes

One process: 2 host devices (XLA_FLAGS). Two processes: jax.distributed on
localhost with gloo collectives, the same seed in each, a tf.data input as
Keras requires for multi-process sharding. Prints one JSON line.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
multi_process = len(sys.argv) > 2
if not multi_process:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402

if multi_process:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address="localhost:" + sys.argv[3],
                               num_processes=2, process_id=int(sys.argv[2]))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linear_problem as lp  # noqa: E402

from tensorboard_plugin_trainhealth import TrainHealthCallback  # noqa: E402

keras.utils.set_random_seed(1)
keras.distribution.set_distribution(
    keras.distribution.DataParallel(devices=jax.devices()))
model = lp.model(keras)
model.compile(keras.optimizers.SGD(lp.LR), "mse")
x, t = lp.data()
callback = TrainHealthCallback(sys.argv[1], every_n_steps=1, verbose=0)
if multi_process:
    data = tf.data.Dataset.from_tensor_slices((x, t)).batch(lp.N)
    model.fit(data, epochs=lp.EPOCHS, verbose=0, callbacks=[callback])
else:
    model.fit(x, t, epochs=lp.EPOCHS, batch_size=lp.N, shuffle=False,
              verbose=0, callbacks=[callback])
grad = callback.series.matrices.get("variables/grad_norm")
print(json.dumps({"devices": len(jax.devices()),
                  "process": jax.process_index(),
                  "steps": [] if grad is None else grad.steps.tolist(),
                  "norms": [] if grad is None else grad.values[:, 0].tolist(),
                  "expected": lp.expected_gradient_norms()}))
