"""Tests for `callbacks.histogram_logger.HistogramLogger`."""

import copy
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from events import summary_rows
from helpers import (
    apply_with,
    assert_warned_once,
    mirrored_strategy,
    own_warnings,
    sparse_logits_loss,
    tape_step,
    train_with_callback_list,
    tuner_search,
)
from tensorboard.plugins.histogram import summary_v2

from keras_tb_toolkit.callbacks import HistogramLogger
from keras_tb_toolkit.callbacks.histogram_logger import _buckets

CNN_VARIABLES = ["conv/kernel", "conv/bias", "logits/kernel", "logits/bias"]
CNN_TAGS = (
    {f"weights/{name}" for name in CNN_VARIABLES}
    | {f"gradients/{name}" for name in CNN_VARIABLES}
    | {"gradient_norm", "update_ratio/conv", "update_ratio/logits"}
    | {"activations/conv", "activations/flat", "activations/logits"}
)


def _events(run_dir):
    """(file, tag, step, value) for every summary under `<run_dir>/train`."""
    return summary_rows(os.path.join(run_dir, "train"))


def _steps(rows):
    steps = {}
    for _, tag, step, _ in rows:
        steps.setdefault(tag, []).append(step)
    return {tag: sorted(s) for tag, s in steps.items()}


def _last(rows, tag):
    return [value for _, t, _, value in rows if t == tag][-1]


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, size=(n,))
    return x, y


def _cnn(lr=0.1, compile_model=True, jit_compile=False):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3, name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="logits"),
        ],
        name="cnn",
    )
    if compile_model:
        model.compile(
            optimizer=keras.optimizers.SGD(lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit_compile,
        )
    return model


def _tape_gradients(model, x, y):
    with tf.GradientTape() as tape:
        loss = sparse_logits_loss(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    return {v.path: g.numpy() for v, g in zip(model.trainable_variables, grads)}


def _assert_histogram_of(histogram, values):
    """The logged `[k, 3]` histogram is the one TensorBoard makes of values."""
    expected = summary_v2._buckets(tf.constant(values, tf.float64)).numpy()
    assert histogram.shape == (30, 3)
    spread = float(values.max() - values.min()) or 1.0
    np.testing.assert_allclose(
        histogram[:, :2], expected[:, :2], rtol=1e-5, atol=1e-5 * spread
    )
    np.testing.assert_array_equal(histogram[:, 2], expected[:, 2])
    assert histogram[:, 2].sum() == values.size
    np.testing.assert_allclose(
        [histogram[0, 0], histogram[-1, 1]],
        [values.min(), values.max()],
        rtol=1e-5,
        atol=1e-5 * spread,
    )


def test_sequential_tags_and_exact_gradients(tmp_path):
    x, y = _data()
    model = _cnn(lr=0.1, jit_compile="auto")  # XLA where available.
    initial = model.get_weights()
    callback = HistogramLogger(tmp_path, sample=x, sample_size=4)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(
            x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callback]
        )
    assert own_warnings(record, "HistogramLogger") == []
    rows = _events(tmp_path)
    assert _steps(rows) == {tag: [0] for tag in CNN_TAGS}

    # One step on the whole batch: the logged gradients are those of the
    # loss at the initial weights, and the update is -lr * gradient.
    final = {v.path: v.numpy() for v in model.trainable_variables}
    model.set_weights(initial)
    expected = _tape_gradients(model, x, y)
    for name in CNN_VARIABLES:
        path = f"cnn/{name}"
        _assert_histogram_of(_last(rows, f"gradients/{name}"), expected[path])
        _assert_histogram_of(_last(rows, f"weights/{name}"), final[path])
    norm = np.sqrt(sum(np.sum(g**2) for g in expected.values()))
    np.testing.assert_allclose(_last(rows, "gradient_norm"), norm, rtol=1e-5)
    for layer in ("conv", "logits"):
        paths = [f"cnn/{layer}/kernel", f"cnn/{layer}/bias"]
        update = np.sqrt(sum(np.sum((0.1 * expected[p]) ** 2) for p in paths))
        weight = np.sqrt(sum(np.sum(final[p] ** 2) for p in paths))
        np.testing.assert_allclose(
            _last(rows, f"update_ratio/{layer}"), update / weight, rtol=1e-4
        )
    activation = _last(rows, "activations/conv")
    assert activation[:, 2].sum() == 4 * 6 * 6 * 2  # sample_size rows
    assert "apply" not in model.optimizer.__dict__


def test_functional_tags_layer_selection_and_freq(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    normed = keras.layers.BatchNormalization(name="norm")(hidden)
    outputs = keras.layers.Dense(2, name="out")(normed)
    model = keras.Model(inputs, outputs, name="functional")
    model.compile(optimizer="adam", loss="mse", jit_compile=False)
    x = np.random.default_rng(0).random((8, 6), dtype=np.float32)
    y = np.zeros((8, 2), np.float32)

    everything = HistogramLogger(tmp_path / "all", sample=x)
    selected = HistogramLogger(
        tmp_path / "selected", freq=2, layers="norm", sample=x,
        weights=False, update_ratios=False,
    )
    model.fit(x, y, epochs=3, verbose=0, callbacks=[everything, selected])

    norm_weights = ["gamma", "beta", "moving_mean", "moving_variance"]
    trainable = ["hidden/kernel", "hidden/bias", "norm/gamma", "norm/beta",
                 "out/kernel", "out/bias"]
    expected = (
        {f"weights/hidden/{v}" for v in ("kernel", "bias")}
        | {f"weights/norm/{v}" for v in norm_weights}
        | {f"weights/out/{v}" for v in ("kernel", "bias")}
        | {f"gradients/{v}" for v in trainable}
        | {"gradient_norm", "update_ratio/hidden", "update_ratio/norm"}
        | {"update_ratio/out"}
        | {"activations/hidden", "activations/norm", "activations/out"}
    )
    assert _steps(_events(tmp_path / "all")) == {t: [0, 1, 2] for t in expected}
    expected = {"gradients/norm/gamma", "gradients/norm/beta",
                "gradient_norm", "activations/norm"}
    rows = _events(tmp_path / "selected")
    assert _steps(rows) == {t: [0, 2] for t in expected}
    # The global norm covers every variable, not just the selected layer.
    np.testing.assert_allclose(
        _last(rows, "gradient_norm"),
        _last(_events(tmp_path / "all"), "gradient_norm"),
    )


class _Subclassed(keras.Model):
    """A subclassed model with its own weight and a custom train_step."""

    def __init__(self):
        super().__init__(name="subclassed")
        self.hidden = keras.layers.Dense(4, activation="tanh", name="hidden")
        self.head = keras.layers.Dense(1, name="head")
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, x):
        return self.head(self.hidden(x)) * self.scale

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self(x, training=True) - y))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return {"loss": loss}


def test_subclassed_custom_train_step_tags(tmp_path):
    keras.utils.set_random_seed(0)
    model = _Subclassed()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    x = np.random.default_rng(0).random((8, 3), dtype=np.float32)
    y = np.ones((8, 1), np.float32)
    callback = HistogramLogger(tmp_path, sample=x)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    variables = ["hidden/kernel", "hidden/bias", "head/kernel", "head/bias",
                 "subclassed/scale"]
    expected = (
        {f"weights/{v}" for v in variables}
        | {f"gradients/{v}" for v in variables}
        | {"gradient_norm", "update_ratio/hidden", "update_ratio/head"}
        | {"update_ratio/subclassed", "activations/hidden", "activations/head"}
    )
    rows = _events(tmp_path)
    assert _steps(rows) == {tag: [0, 1] for tag in expected}
    assert _last(rows, "gradient_norm") > 0


def test_two_fits_in_a_row_and_a_fit_traced_before(tmp_path):
    x, y = _data()
    model = _cnn()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # Traced without hook.
    callback = HistogramLogger(tmp_path, sample=x, activations=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
        assert "apply" not in model.optimizer.__dict__
        model.fit(x, y, batch_size=8, initial_epoch=2, epochs=4, verbose=0,
                  callbacks=[callback])
    assert own_warnings(record, "HistogramLogger") == []
    assert "apply" not in model.optimizer.__dict__
    rows = _events(tmp_path)
    tags = {t for t in CNN_TAGS if not t.startswith("activations/")}
    assert _steps(rows) == {tag: [0, 1, 2, 3] for tag in tags}
    assert len({path for path, *_ in rows}) == 2  # One event file per fit.


@pytest.mark.slow
def test_keras_tuner_search(tmp_path):
    x, y = _data()

    def build(hp):
        model = _cnn(lr=hp.Choice("lr", [0.1, 0.01]))
        return model

    callback = HistogramLogger(tmp_path / "run", sample=x)
    tuner_search(tmp_path / "tuner", build, x, y, callback, seed=0,
                 batch_size=8)
    rows = _events(tmp_path / "run")
    files = sorted({path for path, *_ in rows})
    assert len(files) == 2
    for path in files:
        assert _steps([r for r in rows if r[0] == path]) == {
            tag: [0] for tag in CNN_TAGS
        }
    assert callback.model is None  # Trials used deep copies.


def test_callback_list_gradient_tape_loop(tmp_path):
    x, y = _data()
    model = _cnn(compile_model=False)
    model.optimizer = keras.optimizers.SGD(0.0)
    callback = HistogramLogger(tmp_path, activations=False)
    train_step = tf.function(
        tape_step(model, apply_with(model.optimizer, model))
    )
    train_with_callback_list(model, [callback], x, y, train_step)
    rows = _events(tmp_path)
    tags = {t for t in CNN_TAGS if not t.startswith("activations/")}
    assert _steps(rows) == {tag: [0, 1] for tag in tags}
    expected = _tape_gradients(model, x[8:], y[8:])  # The last batch.
    _assert_histogram_of(
        _last(rows, "gradients/logits/kernel"), expected["cnn/logits/kernel"]
    )
    assert "apply" not in model.optimizer.__dict__


def test_loop_traced_before_the_callback_warns_once(tmp_path):
    x, y = _data()
    model = _cnn(compile_model=False)
    model.optimizer = keras.optimizers.SGD(0.1)

    train_step = tf.function(
        tape_step(
            model, lambda g: model.optimizer.apply(g, model.trainable_variables)
        )
    )

    train_step(x[:8], y[:8])  # Traced before the hook exists.
    callback = HistogramLogger(tmp_path, activations=False)
    with pytest.warns(UserWarning) as record:
        train_with_callback_list(model, [callback], x, y, train_step)
    assert_warned_once(record, "HistogramLogger",
                       "traced before the callback was attached")
    tags = {f"weights/{name}" for name in CNN_VARIABLES}
    assert _steps(_events(tmp_path)) == {tag: [0, 1] for tag in tags}


def test_model_without_optimizer_warns_once(tmp_path):
    x, y = _data()
    model = _cnn(compile_model=False)

    def update(grads):  # Plain SGD without an optimizer object.
        for variable, grad in zip(model.trainable_variables, grads):
            variable.assign_sub(0.1 * grad)

    train_step = tape_step(model, update)

    callback = HistogramLogger(tmp_path, activations=False)
    with pytest.warns(UserWarning) as record:
        for _ in range(2):
            train_with_callback_list(model, [callback], x, y, train_step,
                                     epochs=1)
    assert_warned_once(record, "HistogramLogger",
                       "model.compile(optimizer=...)")
    tags = {f"weights/{name}" for name in CNN_VARIABLES}
    assert _steps(_events(tmp_path)) == {tag: [0, 0] for tag in tags}


def test_model_without_weights_and_missing_sample_warn_once(tmp_path):
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Activation("relu", name="relu")]
    )
    model.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning) as record:
        model.fit(x, x, epochs=2, verbose=0,
                  callbacks=[HistogramLogger(tmp_path / "a", sample=x)])
    assert_warned_once(record, "HistogramLogger", "have no weights")
    assert _steps(_events(tmp_path / "a")) == {"activations/relu": [0, 1]}

    x, y = _data()
    model = _cnn()
    callback = HistogramLogger(tmp_path / "b", weights=False, gradients=False,
                               update_ratios=False)
    with pytest.warns(UserWarning) as record:
        for _ in range(2):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert_warned_once(record, "HistogramLogger", "need `sample=`")


def test_two_callbacks_share_one_optimizer_and_batch_freq(tmp_path):
    x, y = _data()
    model = _cnn()
    first = HistogramLogger(tmp_path / "first", activations=False)
    second = HistogramLogger(tmp_path / "second", batch_freq=2, sample=x[:2])
    model.fit(
        x, y, batch_size=4, epochs=2, verbose=0, callbacks=[first, second]
    )
    assert "apply" not in model.optimizer.__dict__
    first_rows = _events(tmp_path / "first")
    second_rows = _events(tmp_path / "second")
    np.testing.assert_array_equal(
        _last(first_rows, "gradients/conv/kernel"),
        _last(second_rows, "gradients/conv/kernel"),
    )
    steps = _steps(second_rows)
    epoch_tags = CNN_TAGS
    batch_tags = {f"batch_{tag}" for tag in CNN_TAGS}
    assert steps == {
        **{tag: [0, 1] for tag in epoch_tags},
        **{tag: [2, 4, 6, 8] for tag in batch_tags},
    }


def test_mirrored_strategy_sums_replica_gradients(tmp_path):
    x, y = _data()
    strategy = mirrored_strategy()
    with strategy.scope():
        model = _cnn(lr=0.0, jit_compile="auto")
    callback = HistogramLogger(tmp_path, sample=x[:4])
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[callback])
    rows = _events(tmp_path)
    # Exactly one writer: every tag once per epoch.
    assert _steps(rows) == {tag: [0, 1] for tag in CNN_TAGS}
    # Each replica saw half the batch; the logged gradient is their sum,
    # i.e. the gradient of the loss on the whole batch.
    expected = _tape_gradients(model, x, y)
    for name in CNN_VARIABLES:
        _assert_histogram_of(
            _last(rows, f"gradients/{name}"), expected[f"cnn/{name}"]
        )
    norm = np.sqrt(sum(np.sum(g**2) for g in expected.values()))
    np.testing.assert_allclose(_last(rows, "gradient_norm"), norm, rtol=1e-5)


def test_deepcopy_after_training_copies_configuration_only(tmp_path):
    x, y = _data()
    model = _cnn()
    callback = HistogramLogger(tmp_path, batch_freq=2, sample=x)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    clone = copy.deepcopy(callback)
    assert clone.model is None and clone._capture is None
    assert clone._layers == [] and callback._layers
    assert clone.batch_freq == 2 and clone.sample.shape == (16, 8, 8, 1)
    assert clone.on_train_batch_end.__self__ is clone


def test_unknown_layer_name_lists_available_layers(tmp_path):
    x, y = _data()
    model = _cnn()
    callback = HistogramLogger(tmp_path, layers=["conv", "nope"])
    with pytest.raises(ValueError, match=r"\['nope'\]. Available layers: "
                       r"\['conv', 'flat', 'logits'\]"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert not os.path.exists(tmp_path / "train")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"log_dir": None}, TypeError, r"`log_dir` must be a non-empty path"),
        ({"freq": 0}, ValueError, r"`freq` must be a positive integer, "
         r"received: 0"),
        ({"batch_freq": 1.5}, ValueError, r"`batch_freq` must be a positive "
         r"integer or None, received: 1.5"),
        ({"weights": "yes"}, TypeError, r"`weights` must be True or False, "
         r"received: 'yes'"),
        ({"gradients": 1}, TypeError, r"`gradients` must be True or False"),
        ({"update_ratios": None}, TypeError, r"`update_ratios` must be"),
        ({"activations": "no"}, TypeError, r"`activations` must be True"),
        ({"weights": False, "gradients": False, "update_ratios": False,
          "activations": False}, ValueError, r"At least one of `weights`"),
        ({"layers": [1]}, TypeError, r"`layers` must be None, a string or a "
         r"non-empty sequence of strings, received: \[1\]"),
        ({"sample_size": 0}, ValueError, r"`sample_size` must be a positive "
         r"integer, received: 0"),
        ({"sample": "pixels"}, TypeError, r"`sample` must be an array-like "
         r"with a batch dimension.*received: 'pixels'"),
        ({"sample": np.zeros((0, 3))}, ValueError, r"`sample` must hold at "
         r"least one row.*received row counts: \[0\]"),
        ({"sample": [np.zeros((2, 3)), np.zeros((3, 3))]}, ValueError,
         r"received row counts: \[2, 3\]"),
    ],
)
def test_argument_validation(tmp_path, kwargs, error, message):
    kwargs = {"log_dir": tmp_path, **kwargs}
    with pytest.raises(error, match=message):
        HistogramLogger(**kwargs)
    assert os.listdir(tmp_path) == []


def test_nan_weights_and_gradients_are_counted_per_layer(tmp_path):
    x, y = _data()
    x[0, 0, 0, 0] = np.nan  # One NaN input: NaN loss, gradients, weights.
    model = _cnn(lr=0.1)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0,
              callbacks=[HistogramLogger(tmp_path, activations=False)])
    rows = _events(tmp_path)
    counts = {tag: int(_last(rows, tag)) for tag in _steps(rows)
              if tag.startswith("nonfinite/")}
    sizes = {layer: sum(v.numpy().size for v in model.get_layer(layer).weights)
             for layer in ("conv", "logits")}
    # Every weight and every gradient of both layers is NaN.
    assert counts == {f"nonfinite/{layer}": 2 * size for layer, size in sizes.items()}


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).normal(size=1000),
        np.random.default_rng(2).uniform(-3, 7, size=(20, 30)),
        np.arange(30.0),  # values on bucket edges
        np.array([-1e-30, 1e-30, 0.0]),  # a range narrower than float32 steps
        np.array([-3e38, 3e38, 1.0]),  # a range wider than float32 holds
    ],
    ids=["normal", "uniform", "edges", "tiny-range", "huge-range"],
)
def test_host_and_device_bucketing_agree_with_tensorboard(values):
    """Small tensors are bucketed in NumPy, large ones in TensorFlow: both
    give TensorBoard's edges, and the same exact counts."""
    values = values.astype(np.float32)
    host = _buckets.histogram_rows(values)
    counts, low, high = (t.numpy() for t in _buckets._device_counts(values.ravel()))
    np.testing.assert_array_equal(host[:, 2], counts)
    assert (low, high) == (values.min(), values.max())
    if 1e-20 < np.ptp(values.astype(np.float64)) < 1e30:  # float32 steps, as TensorBoard's
        _assert_histogram_of(host, values.astype(np.float64))
    assert host[:, 2].sum() == values.size
    assert host[0, 0] == values.min() and host[-1, 1] == values.max()


@pytest.mark.parametrize("on_host", [True, False], ids=["numpy", "tensorflow"])
def test_bucketing_conventions_on_host_and_device(on_host, monkeypatch):
    """Both ways (NumPy for host memory, TensorFlow for a large tensor on an
    accelerator, forced here on the CPU) follow TensorBoard's conventions."""
    monkeypatch.setattr(_buckets, "_on_host", lambda data: on_host)
    size = 1000

    def rows(values):
        return _buckets.histogram_rows(np.asarray(values, np.float32))

    nan_and_inf = np.full(size, np.nan)
    nan_and_inf[::2] = np.inf
    np.testing.assert_array_equal(rows(nan_and_inf), np.zeros((30, 3)))
    # One distinct value: every edge at it, the whole count in the last bucket.
    single = rows(np.full(size, 2.5))
    np.testing.assert_array_equal(single[:, :2], np.full((30, 2), 2.5))
    assert single[-1, 2] == size and single[:-1, 2].sum() == 0
    # Non-finite values are left out of the counts and the range.
    mixed = np.linspace(-1, 1, size)
    mixed[:3] = [np.nan, np.inf, -np.inf]
    counted = rows(mixed)
    assert counted[:, 2].sum() == size - 3
    assert counted[0, 0] == np.float32(mixed[3]) and counted[-1, 1] == 1.0
    assert _buckets.nonfinite_count(mixed.astype(np.float32)) == 3
    assert _buckets.squared_norm(np.full(size, 2.0, np.float32)) == 4.0 * size


def test_mixed_precision_logs_unscaled_gradients_and_update_ratios(tmp_path):
    """Under a LossScaleOptimizer the logged gradients are those of the loss
    itself (not scaled by 2**15), and the update ratio is the SGD step's."""
    x, y = _data()
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3, name="conv", dtype="mixed_float16"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="logits", dtype="float32"),
        ],
        name="cnn",
    )
    model.compile(
        optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    initial = model.get_weights()
    before = {v.path: v.numpy() for v in model.trainable_variables}
    model.fit(x, y, batch_size=16, epochs=1, verbose=0,
              callbacks=[HistogramLogger(tmp_path, activations=False)])
    rows = _events(tmp_path)
    final = {v.path: v.numpy() for v in model.trainable_variables}
    model.set_weights(initial)
    expected = _tape_gradients(model, x, y)
    norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in expected.values()))
    np.testing.assert_allclose(_last(rows, "gradient_norm"), norm, rtol=1e-2)
    for layer in ("conv", "logits"):
        paths = [f"cnn/{layer}/kernel", f"cnn/{layer}/bias"]
        update = np.sqrt(sum(np.sum((final[p] - before[p]) ** 2) for p in paths))
        weight = np.sqrt(sum(np.sum(final[p] ** 2) for p in paths))
        np.testing.assert_allclose(
            _last(rows, f"update_ratio/{layer}"), update / weight, rtol=1e-4)
