"""Layer selection, tag names and bucketing for `HistogramLogger`.

Tags group variables by the model's top-level layer (`model.layers`), the
level a user names in `layers=`: `weights/<layer>/<variable>`, where
`<variable>` is the variable's path below that layer (`kernel`, or
`dense/kernel` inside a nested model).

Histograms are bucketed here rather than by `tf.summary.histogram`, whose
one-hot bucketing costs memory and time proportional to values x buckets
(seconds for the activations of one convolution on 128 images); the result
has the same `[k, 3]` (left edge, right edge, count) layout and edges, so
TensorBoard's Histograms and Distributions dashboards read it as usual.
A tensor in host memory, or one of up to `HOST_LIMIT` values on an
accelerator (the weights and gradients of most layers), is bucketed in
NumPy, which costs microseconds where a call of the traced TensorFlow
version costs milliseconds; a larger one on an accelerator is bucketed
where it lives and only its `[k, 3]` rows are read back. Both ways use the same float32 arithmetic, so
they count the same values in the same buckets.
"""

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.histogram import metadata as histogram_metadata

BUCKETS = 30
HOST_LIMIT = 1 << 16  # values read back from an accelerator, at most

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


def histogram_rows(data):
    """`[BUCKETS, 3]` float64 rows of (left edge, right edge, count).

    Non-finite values are not counted. With no finite value every row is
    zero; with a single distinct value, TensorBoard's convention applies:
    every edge at the value and the whole count in the last bucket.
    """
    if _on_host(data):
        counts, low, high = _host_counts(data)
    else:
        counts, low, high = (t.numpy() for t in _device_counts(_flat(data)))
    rows = np.zeros([BUCKETS, 3])
    if counts.sum() == 0:
        return rows
    low, high = np.float64(low), np.float64(high)
    if low == high:
        rows[:, :2] = high
        rows[-1, 2] = counts.sum()
        return rows
    edges = np.linspace(low, high, BUCKETS + 1)
    edges[-1] = high
    rows[:, 0], rows[:, 1], rows[:, 2] = edges[:-1], edges[1:], counts
    return rows


def to_host(data):
    """`data` (a tensor, variable or array) as a float32 NumPy array.

    A variable is read as `tf.convert_to_tensor` reads it, so a
    distributed one gives its aggregated (cross-replica) value.
    """
    if not isinstance(data, np.ndarray):
        data = tf.convert_to_tensor(data).numpy()
    return np.asarray(data, dtype=np.float32)


def nonfinite_count(data):
    """How many NaN or infinite values `data` holds."""
    if _on_host(data):
        return int(np.count_nonzero(~np.isfinite(to_host(data))))
    flat = _flat(data)
    return int(tf.reduce_sum(tf.cast(~tf.math.is_finite(flat), tf.int64)))


def squared_norm(data):
    """The sum of the squares of `data`'s values, as a Python float."""
    if _on_host(data):
        values = to_host(data).astype(np.float64)
        return float(np.dot(values.ravel(), values.ravel()))
    return float(tf.reduce_sum(tf.square(tf.cast(_flat(data), tf.float64))))


def _on_host(data):
    """Whether to bucket `data` in NumPy: it is in host memory, or small."""
    if isinstance(data, keras.Variable):
        data = data.value
    device = getattr(data, "device", None)
    if not isinstance(device, str) or "device:CPU" in device:
        return True  # NumPy arrays, and tensors on the CPU.
    size = tf.TensorShape(getattr(data, "shape", None)).num_elements()
    return size is not None and size <= HOST_LIMIT


def _flat(data):
    return tf.reshape(tf.cast(tf.convert_to_tensor(data), tf.float32), [-1])


def _host_counts(data):
    values = to_host(data).ravel()
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    if values.size == 0:
        return np.zeros(BUCKETS), 0.0, 0.0
    low, high = values.min(), values.max()
    if low == high:
        counts = np.zeros(BUCKETS)
        counts[-1] = values.size
        return counts, low, high
    with np.errstate(over="ignore"):  # Checked below.
        width = (high - low) / np.float32(BUCKETS)
    if np.isfinite(width) and width > 0:
        scaled = (values - low) / width
    else:  # A range too wide or too narrow for float32 steps.
        low64 = np.float64(low)
        scaled = (values - low64) / ((np.float64(high) - low64) / BUCKETS)
    indices = np.minimum(np.floor(scaled), BUCKETS - 1).astype(np.int32)
    return np.bincount(indices, minlength=BUCKETS).astype(np.float64), low, high


@tf.function(
    input_signature=[tf.TensorSpec([None], tf.float32)], autograph=False
)
def _device_counts(data):
    """`_host_counts` in TensorFlow, for tensors too large to read back."""
    finite = tf.math.is_finite(data)
    low = tf.reduce_min(tf.where(finite, data, float("inf")))
    high = tf.reduce_max(tf.where(finite, data, float("-inf")))
    width = (high - low) / BUCKETS
    float32_steps = tf.math.is_finite(width) & (width > 0)
    scaled = tf.cond(
        float32_steps,
        lambda: tf.cast((data - low) / width, tf.float64),
        # A range too wide or too narrow for float32 steps.
        lambda: (tf.cast(data, tf.float64) - tf.cast(low, tf.float64))
        / ((tf.cast(high, tf.float64) - tf.cast(low, tf.float64)) / BUCKETS),
    )
    # Non-finite values (and every value when low == high) get index
    # BUCKETS, which bincount skips.
    valid = finite & (high > low)
    indices = tf.cast(tf.minimum(tf.floor(scaled), BUCKETS - 1), tf.int32)
    indices = tf.where(valid, indices, BUCKETS)
    counts = tf.math.bincount(
        indices, minlength=BUCKETS, maxlength=BUCKETS, dtype=tf.float64
    )
    size = tf.reduce_sum(tf.cast(finite, tf.float64))
    # A single distinct value: the whole count in the last bucket.
    counts = tf.where(
        high > low, counts,
        tf.concat([tf.zeros([BUCKETS - 1], tf.float64), [size]], 0),
    )
    return counts, low, high


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
        squares = [capture.update_sq_norm(v) for v in trainable]
        squares = [s for s in squares if s is not None]
        if update_ratios and squares:
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
