"""Layer selection and tag names for `HistogramLogger`.

Tags group variables by the model's top-level layer (`model.layers`), the
level a user names in `layers=`: `weights/<layer>/<variable>`, where
`<variable>` is the variable's path below that layer (`kernel`, or
`dense/kernel` inside a nested model).

Histograms are bucketed here rather than by `tf.summary.histogram`, whose
one-hot bucketing costs memory and time proportional to values x buckets
(seconds for the activations of one convolution on 128 images); the result
has the same `[k, 3]` (left edge, right edge, count) layout and edges, so
TensorBoard's Histograms and Distributions dashboards read it as usual.
"""

import keras
import tensorflow as tf
from tensorboard.plugins.histogram import metadata as histogram_metadata

BUCKETS = 30


def write_histogram(tag, data):
    """Writes a TensorBoard histogram of `data` at the default step.

    Non-finite values are left out, so a diverging run still gets its
    histograms (TensorBoard's own bucketing turns them into garbage).
    """
    data = tf.reshape(tf.cast(tf.convert_to_tensor(data), tf.float32), [-1])
    return tf.summary.write(
        tag=tag,
        tensor=_buckets(data),
        metadata=histogram_metadata.create_summary_metadata(
            display_name=None, description=None
        ),
    )


@tf.function(
    input_signature=[tf.TensorSpec([None], tf.float32)], autograph=False
)
def _buckets(data):
    """`[BUCKETS, 3]` rows of (left edge, right edge, count), in O(n).

    Indices are computed in float32 (five times faster than TensorBoard's
    float64 on large activations), so a value lying on a bucket edge may be
    counted in the neighbouring bucket; counts are exact integers.
    """
    finite = tf.math.is_finite(data)
    size = tf.reduce_sum(tf.cast(finite, tf.float64))
    low = tf.reduce_min(tf.where(finite, data, float("inf")))
    high = tf.reduce_max(tf.where(finite, data, float("-inf")))
    low64 = tf.cast(low, tf.float64)
    high64 = tf.cast(high, tf.float64)

    def empty():
        return tf.zeros([BUCKETS, 3], tf.float64)

    def single_value():
        # TensorBoard's convention: all edges at the value, the whole count
        # in the last bucket.
        edges = tf.fill([BUCKETS], high64)
        counts = tf.concat([tf.zeros([BUCKETS - 1], tf.float64), [size]], 0)
        return tf.stack([edges, edges, counts], axis=1)

    def several_values():
        width = (high - low) / BUCKETS
        indices = tf.cast(tf.floor((data - low) / width), tf.int32)
        # Non-finite values get index BUCKETS, which bincount skips.
        indices = tf.where(finite, tf.minimum(indices, BUCKETS - 1), BUCKETS)
        counts = tf.math.bincount(
            indices, minlength=BUCKETS, maxlength=BUCKETS, dtype=tf.float64
        )
        edges = tf.linspace(low64, high64, BUCKETS + 1)
        edges = tf.concat([edges[:-1], [high64]], 0)
        return tf.stack([edges[:-1], edges[1:], counts], axis=1)

    return tf.cond(
        tf.equal(size, 0.0),
        empty,
        lambda: tf.cond(tf.equal(low, high), single_value, several_values),
    )


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
        count = sum(
            int(tf.reduce_sum(tf.cast(
                ~tf.math.is_finite(tf.cast(tf.convert_to_tensor(t), tf.float32)),
                tf.int64)))
            for t in tensors
        )
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
        squares = [capture.update_sq_norm(v) for v in trainable]
        squares = [s for s in squares if s is not None]
        if update_ratios and squares:
            weight_norm = tf.linalg.global_norm(
                [tf.convert_to_tensor(v) for v in trainable]
            )
            tf.summary.scalar(
                f"{prefix}update_ratio/{layer}",
                tf.math.divide_no_nan(tf.sqrt(tf.add_n(squares)), weight_norm),
            )
    gradients = capture.gradients()
    if histograms and gradients:
        tf.summary.scalar(
            f"{prefix}gradient_norm", tf.linalg.global_norm(gradients)
        )


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
