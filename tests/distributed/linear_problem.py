"""A least-squares problem whose gradients are known in closed form.

Shared by the distributed scripts: full-batch SGD on mean((xw - t)^2) from
w = 0, so the gradient at step k is 2/N x^T (x w_k - t).
"""

import numpy as np

N, D, LR, EPOCHS = 64, 5, 0.05, 3


def data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, D)).astype("float32")
    t = rng.normal(size=(N, 1)).astype("float32")
    return x, t


def expected_gradient_norms():
    x, t = data()
    x = x.astype(np.float64)
    w = np.zeros((D, 1))
    norms = []
    for _ in range(EPOCHS):
        g = 2.0 / N * x.T @ (x @ w - t)
        norms.append(float(np.linalg.norm(g)))
        w = w - LR * g
    return norms


def model(keras):
    return keras.Sequential([
        keras.Input((D,)),
        keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros",
                           name="linear"),
    ])
