"""Bucketing for `HistogramLogger`: TensorBoard's `[k, 3]` histogram rows.

Histograms are bucketed here rather than by `tf.summary.histogram`, whose
one-hot bucketing costs memory and time proportional to values x buckets
(seconds for the activations of one convolution on 128 images); the result
has the same `[k, 3]` (left edge, right edge, count) layout and edges, so
TensorBoard's Histograms and Distributions dashboards read it as usual.
A tensor in host memory, or one of up to `HOST_LIMIT` values on an
accelerator, is bucketed in NumPy with few temporaries: on the CPU that is
about 2 to 14 times faster than a call of the traced TensorFlow version, at
every size `bench/histogram_cost.py` measures (144 to 1.6 million values).
A larger tensor on an accelerator is bucketed there, and only its `[k, 3]`
rows are read back. Both ways use the same float32 arithmetic, so they count
the same values in the same buckets.
"""

import keras
import numpy as np
import tensorflow as tf

BUCKETS = 30
HOST_LIMIT = 1 << 18  # values read back from an accelerator, at most


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


def where_bucketed(data):
    """`data` as a float32 host array if it is bucketed in NumPy (see
    `_on_host`), else unchanged: read once, it serves every later use."""
    return to_host(data) if _on_host(data) else data


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
    """Whether to bucket `data` in NumPy: it is in host memory (an array, a
    tensor on the CPU), or it holds at most `HOST_LIMIT` values."""
    if isinstance(data, np.ndarray):
        return True
    if isinstance(data, keras.Variable):
        data = data.value
    device = getattr(data, "device", None)
    if isinstance(device, str) and "device:CPU" in device:
        return True
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
        scaled = values - low
        scaled /= width  # In place: a large tensor makes few temporaries.
    else:  # A range too wide or too narrow for float32 steps.
        low64 = np.float64(low)
        scaled = (values - low64) / ((np.float64(high) - low64) / BUCKETS)
    np.floor(scaled, out=scaled)
    np.minimum(scaled, BUCKETS - 1, out=scaled)
    counts = np.bincount(scaled.astype(np.intp), minlength=BUCKETS)
    return counts.astype(np.float64), low, high


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
