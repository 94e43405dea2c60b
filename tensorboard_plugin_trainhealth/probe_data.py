"""The probe's samples: a few hundred training inputs (and their targets).

Taken once per `fit`, from the data `fit` was given (callbacks are not
shown it: it is found in the calling frames) or from `probe_data=`, as
numpy arrays in the structure of the model's inputs. A plain Python
generator is never read: that would steal batches from training.
"""

import inspect

import numpy as np
import keras


def capture_from_fit(model, max_samples):
    """Finds the training data of the running `fit` and takes a probe from it.

    Callbacks are not given the data, so this looks for `fit`'s epoch
    iterator in the calling frames (Keras builds it before calling
    `on_train_begin`). Returns (inputs, targets) as numpy (the structure of
    x and y; targets None when the data has none), or None if no safe
    source was found. A plain Python generator is never read: that would
    steal batches from training.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            local = frame.f_locals
            if local.get("self") is model and "epoch_iterator" in local:
                return _take_probe(local["epoch_iterator"], max_samples)
            frame = frame.f_back
    finally:
        del frame
    return None


def _take_probe(epoch_iterator, max_samples):
    adapter = getattr(epoch_iterator, "data_adapter", None)
    if adapter is None or type(adapter).__name__ == "GeneratorDataAdapter":
        return None
    return _first_samples(adapter.get_numpy_iterator(), max_samples)


def probe_from_user(data, max_samples):
    """(inputs, targets) from `probe_data=`: arrays (a list or dict of them
    for multi-input models) holding inputs only, or a batched
    `tf.data.Dataset` yielding `x` or `(x, y[, sample_weight])`."""
    if hasattr(data, "as_numpy_iterator"):
        return _first_samples(data.as_numpy_iterator(), max_samples)
    return keras.tree.map_structure(
        lambda a: np.asarray(a)[:max_samples], data), None


def _first_samples(batches_iterator, max_samples):
    inputs, targets, count = [], [], 0
    for batch in batches_iterator:
        if isinstance(batch, tuple):
            inputs.append(batch[0])
            targets.append(batch[1] if len(batch) > 1 else None)
        else:
            inputs.append(batch)
            targets.append(None)
        count += len(keras.tree.flatten(inputs[-1])[0])
        if count >= max_samples:
            break
    if not inputs:
        return None
    return _joined_batches(inputs, max_samples), (
        None if any(t is None for t in targets)
        else _joined_batches(targets, max_samples))


def _joined_batches(batches, max_samples):
    joined = keras.tree.map_structure(
        lambda *parts: np.concatenate(parts, axis=0), *batches)
    return keras.tree.map_structure(lambda a: np.asarray(a)[:max_samples],
                                    joined)


def sample_count(inputs):
    return len(keras.tree.flatten(inputs)[0])
