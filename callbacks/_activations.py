"""The package's one layer-call interceptor, and layer outputs by layer.

Sequential, Functional and subclassed models all run their layers through
`Layer.__call__`, which calls `self.call`. Shadowing `call` on the chosen
layer *instances* for the length of one eager `model(sample,
training=False)` therefore records their outputs whatever the model style,
without building a second model. The shadowing never outlives the forward
pass, so no traced training function can see it. `intercepting_calls` is
that interceptor (the Projector uses it too); `layer_outputs` collects the
outputs of several layers for activation histograms.
"""

import contextlib
import numbers

import keras
import numpy as np
import tensorflow as tf

from . import _keras_compat


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


@contextlib.contextmanager
def intercepting_calls(layers, on_call):
    """Calls `on_call(layer, args, kwargs, result)` after each call of one of
    `layers` while the context is active, then restores the layers.

    Keras 3 has no forward hooks, and subclassed models have no symbolic
    graph to cut a sub-model from, so each instance's `call` is shadowed
    (see `_keras_compat`) for the duration of the block only.
    """
    tokens = []
    try:
        for layer in layers:
            previous = _keras_compat.shadowed(layer, "call")
            call = _keras_compat.unshadowed_method(layer, "call", previous)
            tokens.append(_keras_compat.shadow(
                layer, "call", _intercepted(layer, call, on_call)
            ))
        yield
    finally:
        for token in reversed(tokens):
            _keras_compat.unshadow(token)


def _intercepted(layer, call, on_call):
    def intercepted(*args, **kwargs):
        result = call(*args, **kwargs)
        on_call(layer, args, kwargs, result)
        return result

    return intercepted


def _dtype(tensor):
    return getattr(tensor, "dtype", tf.float32)


def _describe(sample):
    if isinstance(sample, (numbers.Number, str, bytes)):
        return repr(sample)
    return type(sample).__name__
