"""Pure helpers behind `ModelInfoLogger`: summary text, parameter counts
and the forward graph of a Keras model.

Keras 3's `TensorBoard(write_graph=True)` writes the graph of
`model.train_function` (ops of the loss, gradients and optimizer too) and a
conceptual Keras graph for Sequential and Functional models only. Here the
graph is the inference forward pass, `model(x, training=False)`, traced as a
`tf.function` on a `tf.TensorSpec` of the model's inputs: it exists for the
three API styles and its node names follow the layers' name scopes
(`<model>/<layer>/MatMul`).
"""

import math

import keras
import numpy as np
import tensorflow as tf


def summary_markdown(model):
    """`model.summary()` as Markdown: every line indented by four spaces,
    the code block TensorBoard's Text dashboard shows in a fixed-width font
    (its table rules would otherwise be reflowed as prose)."""
    captured = []
    model.summary(print_fn=lambda text, **kwargs: captured.append(text))
    lines = "\n".join(captured).splitlines()
    return "\n".join("    " + line.rstrip() for line in lines)


def parameter_counts(model):
    """Trainable, non-trainable and total scalar weights of the model (its
    own variables, not the optimizer's)."""
    def count(weights):
        return int(sum(math.prod(w.shape) for w in weights))

    trainable = count(model.trainable_weights)
    non_trainable = count(model.non_trainable_weights)
    return {
        "trainable": trainable,
        "non_trainable": non_trainable,
        "total": trainable + non_trainable,
    }


def _spec(shape, dtype, name=None):
    return tf.TensorSpec((None,) + tuple(shape), tf.as_dtype(dtype), name=name)


def input_signature(model, input_shape=None):
    """The `tf.TensorSpec` (or list of them) the model is called on, with a
    free batch size, or None when it cannot be told.

    In order: `input_shape` (per example, without the batch axis); the
    symbolic `model.inputs` of Sequential and Functional models; for a
    built subclassed model with one input, the shape it was built with
    (`model.get_build_config()["input_shape"]`).
    """
    dtype = getattr(model, "input_dtype", None) or keras.config.floatx()
    if input_shape is not None:
        return _spec(input_shape, dtype)
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        specs = [_spec(x.shape[1:], x.dtype, x.name) for x in inputs]
        return specs[0] if len(specs) == 1 else specs
    shape = None
    if model.built:
        shape = (model.get_build_config() or {}).get("input_shape")
    if isinstance(shape, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in shape
    ):
        return _spec(shape[1:], dtype)
    return None


def forward_graph(model, signature):
    """The `tf.Graph` of `model(x, training=False)` for `x` of `signature`.

    Only traced (nothing runs), so it costs one trace at the start of
    training and reads no data.
    """
    def forward(inputs):
        return model(inputs, training=False)

    return tf.function(forward).get_concrete_function(signature).graph
