"""Layer selection, tag names and summaries for `HistogramLogger`.

Tags group variables by the model's top-level layer (`model.layers`), the
level a user names in `layers=`: `weights/<layer>/<variable>`, where
`<variable>` is the variable's path below that layer (`kernel`, or
`dense/kernel` inside a nested model). The rows of each histogram, the norms
and the non-finite counts come from `_buckets`.
"""

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.histogram import metadata as histogram_metadata

from ._buckets import histogram_rows, nonfinite_count, squared_norm

# The same for every histogram: serialized once, not per summary.
_METADATA = histogram_metadata.create_summary_metadata(
    display_name=None, description=None
).SerializeToString()


def write_histogram(tag, data):
    """Writes a TensorBoard histogram of `data` at the default step.

    Non-finite values are left out, so a diverging run still gets its
    histograms (TensorBoard's own bucketing turns them into garbage).
    """
    return tf.summary.write(tag=tag, tensor=histogram_rows(data), metadata=_METADATA)


def write_weights(groups, prefix):
    """`<prefix>weights/<layer>/<variable>` for `layer_variables` groups."""
    for layer, entries in groups:
        for name, variable, _ in entries:
            write_histogram(f"{prefix}weights/{layer}/{name}", variable)


def write_nonfinite(groups, capture, prefix):
    """`<prefix>nonfinite/<layer>`: NaN and inf values in the layer's
    weights and last gradients, written only for a layer that holds some.

    The histograms leave such values out, so this count is what tells a
    diverged layer from a healthy one in TensorBoard.
    """
    for layer, entries in groups:
        tensors = [v for _, v, _ in entries]
        if capture is not None:
            gradients = (capture.gradient(v) for _, v, _ in entries)
            tensors += [g for g in gradients if g is not None]
        count = sum(nonfinite_count(t) for t in tensors)
        if count:
            tf.summary.scalar(f"{prefix}nonfinite/{layer}", count)


def write_gradients(capture, groups, prefix, histograms, update_ratios):
    """Gradient histograms, `gradient_norm` and `update_ratio/<layer>`.

    Args:
        capture: a `_gradient_capture.GradientCapture` holding the last step.
        groups: `layer_variables` groups.
        prefix: tag prefix (`""` or `"batch_"`).
        histograms: whether to write gradient histograms and the global
            norm (over every captured variable, selected or not).
        update_ratios: whether to write ||Δw|| / ||w|| per layer, with w
            the layer's trainable variables after the step.
    """
    for layer, entries in groups:
        trainable = [v for _, v, is_trainable in entries if is_trainable]
        if histograms:
            for name, variable, _ in entries:
                gradient = capture.gradient(variable)
                if gradient is not None:
                    tag = f"{prefix}gradients/{layer}/{name}"
                    write_histogram(tag, gradient)
        squares = [capture.update_sq_norm(v) for v in trainable] if update_ratios else []
        squares = [s for s in squares if s is not None]
        if squares:
            weight_norm = np.sqrt(sum(squared_norm(v) for v in trainable))
            ratio = np.sqrt(sum(squares)) / weight_norm if weight_norm else 0.0
            tf.summary.scalar(f"{prefix}update_ratio/{layer}", ratio)
    gradients = capture.gradients()
    if histograms and gradients:
        norm = np.sqrt(sum(squared_norm(g) for g in gradients))
        tf.summary.scalar(f"{prefix}gradient_norm", norm)


def selectable_layers(model):
    """The top-level layers of `model`, without `InputLayer`s."""
    return [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]


def select_layers(model, names):
    """Returns the layers named by `names` (all of them for None).

    Raises:
        ValueError: if a name is not a layer of `model`; the message lists
            the available names.
    """
    available = selectable_layers(model)
    if names is None:
        return available
    by_name = {layer.name: layer for layer in available}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(
            f"`layers` names layers that model {model.name!r} does not "
            f"have: {unknown}. Available layers: {list(by_name)}"
        )
    return [by_name[name] for name in names]


def layer_variables(model, layers, include_model_variables):
    """Groups the variables of `layers` under tag-safe names.

    Returns:
        A list of `(layer_name, [(variable_name, variable, trainable)])`.
        With `include_model_variables`, variables the model owns directly
        (a subclassed model's `add_weight`) come last, under the model's
        name.
    """
    groups = []
    seen = set()
    for layer in layers:
        trainable = {id(v) for v in layer.trainable_weights}
        entries = _named(layer.name, layer.weights, trainable)
        seen.update(id(v) for v in layer.weights)
        groups.append((layer.name, entries))
    if include_model_variables:
        own = [v for v in model.weights if id(v) not in seen]
        if own:
            trainable = {id(v) for v in model.trainable_weights}
            groups.append((model.name, _named(model.name, own, trainable)))
    return [(name, entries) for name, entries in groups if entries]


def _named(layer_name, variables, trainable):
    entries = []
    used = set()
    for variable in variables:
        name = _relative_name(layer_name, variable)
        unique, suffix = name, 1
        while unique in used:
            unique = f"{name}_{suffix}"
            suffix += 1
        used.add(unique)
        entries.append((unique, variable, id(variable) in trainable))
    return entries


def _relative_name(layer_name, variable):
    path = getattr(variable, "path", None) or variable.name
    parts = path.replace(":", "_").split("/")
    if layer_name in parts[:-1]:
        return "/".join(parts[parts.index(layer_name) + 1 :])
    return parts[-1]
