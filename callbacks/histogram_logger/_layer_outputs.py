"""Activations for `HistogramLogger`: the fixed sample and the outputs of
the chosen layers on it, recorded by the package's layer-call interceptor
(`callbacks._activations`) during one `model(sample, training=False)`.
"""

import numbers

import keras
import numpy as np
import tensorflow as tf

from .._activations import intercepting_calls


def prepare_sample(sample, sample_size, name="sample"):
    """Returns the first `sample_size` rows of `sample` as numpy arrays.

    `sample` is an array-like, or a list, tuple or dict of them (one per
    model input) with the same number of rows.

    Raises:
        TypeError: if `sample` holds something that is not array-like.
        ValueError: if `sample` is empty, scalar, or its parts disagree on
            the number of rows.
    """
    if sample is None:
        return None
    try:
        arrays = keras.tree.map_structure(np.asarray, sample)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`{name}` must be an array-like or a list/tuple/dict of them, "
            f"received: {type(sample).__name__} ({error})"
        ) from None
    leaves = keras.tree.flatten(arrays)
    bad = [a for a in leaves if a.dtype == object or a.ndim == 0]
    if not leaves or bad:
        raise TypeError(
            f"`{name}` must be an array-like with a batch dimension, or a "
            f"list/tuple/dict of them, received: {_describe(sample)}"
        )
    rows = {a.shape[0] for a in leaves}
    if len(rows) != 1 or 0 in rows:
        raise ValueError(
            f"`{name}` must hold at least one row and the same number of "
            f"rows in every input, received row counts: {sorted(rows)}"
        )
    return keras.tree.map_structure(lambda a: a[:sample_size], arrays)


def layer_outputs(model, layers, sample):
    """Runs `model(sample, training=False)` once; returns outputs by layer.

    Returns:
        A dict mapping each layer's name to its output, flattened into one
        float tensor (nested outputs are concatenated). A layer that is not
        reached by the forward pass is absent. If a layer is called several
        times, its last output is kept.
    """
    outputs = {}

    def record(layer, args, kwargs, result):
        flat = [
            tf.reshape(tf.cast(t, tf.float32), [-1])
            for t in keras.tree.flatten(result)
            if t is not None and tf.as_dtype(_dtype(t)).is_floating
        ]
        if flat:
            outputs[layer.name] = tf.concat(flat, axis=0)

    with intercepting_calls(layers, record):
        model(sample, training=False)
    return outputs


def _dtype(tensor):
    return getattr(tensor, "dtype", tf.float32)


def _describe(sample):
    if isinstance(sample, (numbers.Number, str, bytes)):
        return repr(sample)
    return type(sample).__name__
