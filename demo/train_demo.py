"""Trains a handful of small runs into one logdir, each showing one problem.

    python demo/train_demo.py --logdir demo_logs
    tensorboard --logdir demo_logs      # open the "Train Health" tab

Runs (a fraud-detection-like task on synthetic transactions):
  healthy          standardized inputs, ReLU MLP, Adam 1e-3
  unscaled_inputs  raw amounts (0..50,000) straight into sigmoid layers, the
                   seeds' fraud-model incident: saturated, flat loss
  dead_relu        the same MLP with a learning rate 1000x too large: most
                   ReLUs die in the first steps and never come back
  overfitting      a wide network on 96 noisy samples: validation loss turns
                   while training loss keeps falling
  loss_mismatch    a softmax head trained with binary cross-entropy
It takes well under a minute on a 2-core CPU.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import keras  # noqa: E402

from tensorboard_plugin_trainhealth import TrainHealthCallback  # noqa: E402


def transactions(n, seed):
    """Synthetic transactions: raw features on their natural scales."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 4000.0, n).clip(0, 50000)  # cents
    hour = rng.integers(0, 24, n).astype(float)
    merchant_risk = rng.uniform(0, 1, n)
    distance_km = rng.exponential(30.0, n)
    age_days = rng.integers(1, 3650, n).astype(float)
    x = np.stack([amount, hour, merchant_risk, distance_km, age_days,
                  rng.normal(0, 1, n), rng.normal(0, 1, n), rng.normal(0, 1, n)],
                 axis=1).astype("float32")
    score = (amount / 8000.0 - 1.0) + 2.0 * merchant_risk + (hour < 6) \
        + distance_km / 60.0 - age_days / 3000.0 + 0.5 * x[:, 5]
    y = (score + rng.normal(0, 0.5, n) > 1.5).astype("float32")
    return x, y


def standardize(train, *others):
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    return [(a - mean) / std for a in (train, *others)]


def mlp(activation="relu", width=32, depth=3, head="sigmoid", units=1,
        seed=0):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((8,))]
    for i in range(depth):
        layers.append(keras.layers.Dense(width, activation=activation,
                                         name="hidden_%d" % (i + 1)))
    layers.append(keras.layers.Dense(units, activation=head, name="output"))
    return keras.Sequential(layers)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="demo_logs")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args(argv)

    x, y = transactions(3000, seed=1)
    xv, yv = transactions(800, seed=2)
    xs, xvs = standardize(x, xv)
    e = args.epochs

    def run(name, model, x_train, y_train, x_val, y_val, epochs=e, batch=64):
        started = time.time()
        model.fit(x_train, y_train, validation_data=(x_val, y_val),
                  epochs=epochs, batch_size=batch, verbose=0,
                  callbacks=[TrainHealthCallback(os.path.join(args.logdir, name),
                                                 verbose=0)])
        print("  %-16s %5.1fs" % (name, time.time() - started))

    print("Training demo runs into %s ..." % args.logdir)
    model = mlp()
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy",
                  metrics=["accuracy"])
    run("healthy", model, xs, y, xvs, yv)

    model = mlp(activation="sigmoid")
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy",
                  metrics=["accuracy"])
    run("unscaled_inputs", model, x, y, xv, yv)

    model = mlp(seed=3)
    model.compile(keras.optimizers.Adam(1.0), "binary_crossentropy",
                  metrics=["accuracy"])
    run("dead_relu", model, xs, y, xvs, yv)

    rng = np.random.default_rng(5)
    small_y = np.where(rng.uniform(size=96) < 0.2, 1 - y[:96], y[:96])
    model = mlp(width=256, depth=3)
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy",
                  metrics=["accuracy"])
    run("overfitting", model, xs[:96], small_y, xvs, yv, epochs=3 * e, batch=32)

    model = mlp(head="softmax", units=2)
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy",
                  metrics=["accuracy"])
    run("loss_mismatch", model, xs, keras.utils.to_categorical(y, 2),
        xvs, keras.utils.to_categorical(yv, 2))

    print("\nDone. See the diagnosis with:\n  tensorboard --logdir %s\n"
          "and open the \"Train Health\" tab, or in a terminal:\n"
          "  trainhealth report %s" % (args.logdir, args.logdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
