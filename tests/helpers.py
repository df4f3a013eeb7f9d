"""Tiny models, data and training drivers shared by the callback tests.

Every callback is tested under `model.fit`, a Keras Tuner search, a
hand-written GradientTape loop driven by `keras.callbacks.CallbackList` and
`tf.distribute.MirroredStrategy`; the drivers for the last three live here,
with the bounded HTTP polling the TensorBoard server tests share.
"""

import json
import time
import urllib.error
import urllib.request

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

NUM_CLASSES = 3


def mirrored_strategy():
    """A two-replica `MirroredStrategy` over the logical CPUs of conftest.

    It reduces with `ReductionToOneDevice`: the default collective
    all-reduce keys clash between strategies created in one process, so
    tests in different modules could not run in one pytest session. Skips
    the calling test when the CPU could not be split in two.
    """
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        pytest.skip(
            "two logical CPUs could not be configured: TensorFlow "
            "initialised its devices before tests/conftest.py"
        )
    return tf.distribute.MirroredStrategy(
        [device.name for device in devices[:2]],
        cross_device_ops=tf.distribute.ReductionToOneDevice(),
    )


def image_data(n):
    """`n` seeded 8x8 float32 images in [0, 1) and class ids in [0, 3)."""
    rng = np.random.default_rng(0)
    x = rng.random((n, 8, 8)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=n)
    return x, y


def tiny_classifier(activation=None):
    """A 3-class classifier on 8 features, compiled, and 48 seeded samples.

    Without `activation` the model outputs logits.
    """
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(NUM_CLASSES, activation=activation),
    ])
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(
            from_logits=activation is None),
        metrics=["accuracy"],
    )
    x = np.random.RandomState(0).rand(48, 8).astype("float32")
    y = (x[:, 0] * NUM_CLASSES).astype("int64")
    return model, x, y


def tiny_classifier_build(hp):
    """A tuner build function with a single choice: `tiny_classifier`."""
    hp.Choice("units", [NUM_CLASSES])
    return tiny_classifier()[0]


class DenseClassifier(keras.Model):
    """A subclassed classifier of 8x8 images, returning logits.

    Layers: `flat`, `hidden` (Dense, relu), `norm` (BatchNormalization, only
    with `norm=True`) and `head` (Dense, 3 units).
    """

    def __init__(self, units=4, norm=False, **kwargs):
        super().__init__(**kwargs)
        self.flat = keras.layers.Flatten(name="flat")
        self.hidden = keras.layers.Dense(units, activation="relu",
                                         name="hidden")
        self.norm = None
        if norm:
            self.norm = keras.layers.BatchNormalization(name="norm")
        self.head = keras.layers.Dense(NUM_CLASSES, name="head")

    def call(self, inputs, training=False):
        x = self.hidden(self.flat(inputs))
        if self.norm is not None:
            x = self.norm(x, training=training)
        return self.head(x)


def sparse_logits_loss(y, logits):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        y, logits)


def apply_with(optimizer, model):
    """An `update(gradients)` applying them to `model` with `optimizer`."""

    def update(gradients):
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    return update


def tape_step(model, update=None, loss_fn=sparse_logits_loss):
    """A training step `step(x, y) -> loss` computed with a GradientTape.

    The gradients of `loss_fn(y, model(x, training=True))` go to
    `update(gradients)`, by default `model.optimizer.apply_gradients`.
    """

    update = update or apply_with(model.optimizer, model)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        update(tape.gradient(loss, model.trainable_variables))
        return loss

    return step


def train_with_callback_list(model, callbacks, x, y, step=None, epochs=2,
                             batch_size=8, validate=False):
    """Trains by hand, driving `callbacks` like `fit` does.

    A `keras.callbacks.CallbackList` gets on_train_begin, on_epoch_begin,
    on_train_batch_begin/end (logs: the batch loss), on_epoch_end (logs:
    the last batch's loss and, with `validate`, `val_loss` on all of `x`)
    and on_train_end. `step(x_batch, y_batch) -> loss` trains one batch;
    it defaults to `tape_step(model)`.
    """
    step = step or tape_step(model)
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    callback_list.on_train_begin()
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        for batch, start in enumerate(range(0, len(x), batch_size)):
            callback_list.on_train_batch_begin(batch)
            rows = slice(start, start + batch_size)
            loss = step(x[rows], y[rows])
            callback_list.on_train_batch_end(batch, {"loss": loss})
        logs = {"loss": float(loss)}
        if validate:
            outputs = model(x, training=False)
            logs["val_loss"] = float(sparse_logits_loss(y, outputs))
        callback_list.on_epoch_end(epoch, logs)
    callback_list.on_train_end()


def tuner_search(directory, build, x, y, callback, max_trials=2, seed=1,
                 objective="loss", **fit_kwargs):
    """Runs a `keras_tuner.RandomSearch` of `build` with `callback` attached.

    The search fits one epoch (unless `epochs` is given) per trial; returns
    the tuner.
    """
    tuner = keras_tuner.RandomSearch(
        build, objective=objective, max_trials=max_trials, seed=seed,
        directory=str(directory), project_name="search", overwrite=True,
    )
    fit_kwargs = {"epochs": 1, "verbose": 0, **fit_kwargs}
    tuner.search(x, y, callbacks=[callback], **fit_kwargs)
    return tuner


def image_search_build(compile_model):
    """A tuner build function: a classifier of 8x8 images whose `hidden`
    width (2 to 16 units) is searched, compiled by `compile_model`."""

    def build(hp):
        return compile_model(keras.Sequential([
            keras.Input((8, 8)), keras.layers.Flatten(),
            keras.layers.Dense(hp.Int("units", 2, 16), name="hidden"),
            keras.layers.Dense(NUM_CLASSES, name="head"),
        ]))

    return build


def own_warnings(record, owner):
    """The messages of the warnings in `record` that `owner` raised."""
    messages = [str(w.message) for w in record]
    return [m for m in messages if m.startswith(owner)]


def assert_warned_once(record, owner, text):
    """`owner` raised exactly one warning in `record`, containing `text`."""
    messages = own_warnings(record, owner)
    assert len(messages) == 1, messages
    assert text in messages[0]


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def poll_json(url, ready, deadline_s=60):
    """GETs `url` until `ready(answer)` or the deadline; returns the answer."""
    deadline = time.monotonic() + deadline_s
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = get_json(url)
            if ready(answer):
                return answer
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"{url} not ready after {deadline_s} s; last answer: {answer}")


def not_chief(monkeypatch):
    """Makes this process answer as a multi-worker worker that is not the
    chief: the default strategy's `should_save_summary` and
    `should_checkpoint` become False, as `MultiWorkerMirroredStrategy`'s
    are on such a worker, for the length of the test."""
    import tensorflow as tf

    extended = type(tf.distribute.get_strategy().extended)
    monkeypatch.setattr(extended, "should_save_summary", False)
    monkeypatch.setattr(extended, "should_checkpoint", False)


def stop_process(process, grace_s=10):
    """Stops `process` if it still runs: SIGTERM, then SIGKILL after `grace_s`."""
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace_s)


def files_under(root):
    """Every file below `root`, as sorted paths relative to it."""
    import os

    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _, files in os.walk(root) for f in files
    )


def assert_refused_before_tensorflow_loads(tmp_path, argv, message):
    """`ktb ARGV` in a fresh interpreter exits 2 with the one line `message`,
    without importing TensorFlow and without writing into `tmp_path`."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from keras_tb_toolkit.toolkit.cli import main\n"
        "status = main(sys.argv[1:])\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was loaded'\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *argv, "--logdir", str(tmp_path / "logs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == message + "\n"
    assert list(tmp_path.iterdir()) == []


def conv_classifier():
    """A compiled 3-class softmax CNN on 8x8x1 images (a 4-D layer `conv`
    for Grad-CAM), and 16 seeded images with class ids."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(2, 3, name="conv"),
        keras.layers.GlobalAveragePooling2D(),
        # Named: Keras numbers unnamed layers per process, and the suite
        # runs in several processes.
        keras.layers.Dense(NUM_CLASSES, activation="softmax", name="dense"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 1)).astype("float32")
    return model, x, rng.integers(0, NUM_CLASSES, size=16)
