"""Tests for `callbacks.mistakes_logger.MistakesLogger`."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from events import images, plugin_tensors, summary_rows
from helpers import (
    image_data,
    mirrored_strategy,
    not_chief,
    tiny_classifier,
    tiny_classifier_build,
    train_with_callback_list,
    tuner_search,
)

from keras_tb_toolkit.callbacks import MistakesLogger, mistakes_logger

NAMES = ["low", "mid", "high"]
HEADER = ("| rank | index | true | predicted | confidence |\n"
          "|---:|---:|---|---|---:|")


def expected_table(model, x, y, count, names=NAMES):
    """The Markdown table, computed here from the model's probabilities."""
    probabilities = np.asarray(tf.nn.softmax(model(x, training=False)))
    predicted = probabilities.argmax(axis=1)
    wrong = [i for i in range(len(y)) if predicted[i] != y[i]]
    # Most confident first; Python's sort is stable, so ties keep index order.
    wrong.sort(key=lambda i: -probabilities[i, predicted[i]])
    rows = [f"| {rank} | {i} | {names[y[i]]} | {names[predicted[i]]} | "
            f"{probabilities[i, predicted[i]]:.3f} |"
            for rank, i in enumerate(wrong[:count], 1)]
    return "\n".join([HEADER, *rows])


class TableRecorder(keras.callbacks.Callback):
    """Records `expected_table` at every epoch end, after the logger."""

    def __init__(self, x, y, count):
        super().__init__()
        self.x, self.y, self.count, self.tables = x, y, count, []

    def on_epoch_end(self, epoch, logs=None):
        self.tables.append(expected_table(self.model, self.x, self.y,
                                          self.count))


def tables(log_dir):
    written = plugin_tensors(os.path.join(log_dir, "validation"), "text")
    assert set(written) == {"mistakes_table"}
    return [(step, data.item().decode()) for step, data in
            written["mistakes_table"]]


def grid_shape(count, dpi=100):
    """(height, width, 4) of the image of a grid of `count` cells."""
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    return (int(rows * 1.8 * dpi), int(columns * 1.8 * dpi), 4)


def assert_logged(log_dir, steps, expected_tables, count):
    written = images(os.path.join(log_dir, "validation"))
    assert set(written) == {"mistakes"}
    assert [step for step, _ in written["mistakes"]] == steps
    assert written["mistakes"][0][1].shape == grid_shape(count)
    assert tables(log_dir) == list(zip(steps, expected_tables))


def test_fit_logs_the_most_confident_mistakes_every_freq_epochs(tmp_path):
    model, x, y = tiny_classifier()  # Logits, 8 features: not images.
    logger = MistakesLogger(str(tmp_path), (x, y), num_mistakes=5, freq=2,
                            class_names=NAMES, batch_size=20)
    assert not os.listdir(str(tmp_path))
    recorder = TableRecorder(x, y, 5)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[logger, recorder])
    assert os.listdir(str(tmp_path)) == ["validation"]
    assert_logged(str(tmp_path), [0, 2], recorder.tables[::2], 5)
    assert recorder.tables[0].count("\n") == 6  # Five mistakes were made.


def test_images_are_drawn_as_images(tmp_path):
    x, y = image_data(12)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    logger = MistakesLogger(str(tmp_path), (x, y), num_mistakes=4,
                            class_names=NAMES)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    mistakes = mistakes_logger.worst_mistakes(np.asarray(model(x)), y, 4)
    # Softmax outputs are used as they are: the table agrees with them.
    assert tables(str(tmp_path))[0][1] == "\n".join([HEADER, *(
        f"| {rank} | {i} | {NAMES[t]} | {NAMES[p]} | {c:.3f} |"
        for rank, (i, t, p, c) in enumerate(mistakes, 1))])
    # The first cell shows the worst mistake's pixels, in grey.
    drawn = mistakes_logger.mistakes_figure(
        mistakes, NAMES, mistakes_logger.image_inputs(x), 4)
    assert drawn.axes[0].images[0].get_array().shape == (8, 8)
    np.testing.assert_allclose(
        drawn.axes[0].images[0].get_array(),
        (x[mistakes[0][0]] - x.min()) / (x.max() - x.min()), rtol=1e-6)


def test_a_perfect_model_logs_an_empty_table(tmp_path):
    x = np.eye(3, 8, dtype="float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(
        3, kernel_initializer=keras.initializers.Constant(np.eye(8, 3)))])
    callbacks = keras.callbacks.CallbackList(
        [MistakesLogger(str(tmp_path), (x, np.arange(3)))], model=model)
    callbacks.on_train_begin()
    callbacks.on_epoch_end(0)
    callbacks.on_train_end()
    assert tables(str(tmp_path)) == [
        (0, HEADER + "\n| - | - | - | - | no mistake |")]


def test_gradient_tape_loop_with_callback_list(tmp_path):
    model, x, y = tiny_classifier()
    recorder = TableRecorder(x, y, 3)
    train_with_callback_list(model, [
        MistakesLogger(str(tmp_path), (x, y), num_mistakes=3,
                       class_names=NAMES),
        recorder,
    ], x, y, batch_size=16)
    assert_logged(str(tmp_path), [0, 1], recorder.tables, 3)


def test_mirrored_strategy_writes_each_step_once(tmp_path):
    with mirrored_strategy().scope():
        model, x, y = tiny_classifier()
    recorder = TableRecorder(x[:21], y[:21], 4)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[
        MistakesLogger(str(tmp_path), (x[:21], y[:21]), num_mistakes=4,
                       class_names=NAMES, batch_size=8),
        recorder,
    ])
    assert_logged(str(tmp_path), [0, 1], recorder.tables, 4)


def test_one_instance_serves_two_fits(tmp_path):
    model, x, y = tiny_classifier()
    logger = MistakesLogger(str(tmp_path), (x, y), num_mistakes=2)
    for _ in range(2):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])
    rows = summary_rows(os.path.join(str(tmp_path), "validation"))
    files = sorted({path for path, *_ in rows})
    assert len(files) == 2  # One event file per fit, closed at its end.
    for path in files:
        assert sorted((tag, step) for p, tag, step, _ in rows if p == path) \
            == [("mistakes", 0), ("mistakes", 1), ("mistakes_table", 0),
                ("mistakes_table", 1)]


@pytest.mark.slow
def test_keras_tuner_search(tmp_path):
    log_dir = str(tmp_path / "run")
    _, x, y = tiny_classifier()
    tuner_search(tmp_path / "tuner", tiny_classifier_build, x, y,
                 MistakesLogger(log_dir, (x, y), class_names=NAMES),
                 max_trials=1, epochs=2)
    assert [step for step, _ in tables(log_dir)] == [0, 1]


def test_only_the_chief_writes(tmp_path, monkeypatch):
    not_chief(monkeypatch)
    model, x, y = tiny_classifier()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[MistakesLogger(str(tmp_path), (x, y))])
    assert os.listdir(str(tmp_path)) == []


def test_model_not_matching_the_classes_fails_before_training(tmp_path):
    x, y = np.ones((6, 8), "float32"), np.array([0, 1, 2, 0, 1, 2])
    regression = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    regression.compile("sgd", "mse")
    with pytest.raises(ValueError, match=(
            r"MistakesLogger: `validation_data` has labels up to 2 but the "
            r"model outputs 1 score\(s\), i.e. 2 classes \(a regression")):
        regression.fit(x, y, epochs=1, verbose=0,
                       callbacks=[MistakesLogger(str(tmp_path), (x, y))])
    model, _, _ = tiny_classifier()
    with pytest.raises(ValueError, match=(
            r"the model outputs 3 score\(s\) per example, i.e. 3 classes, "
            r"but `validation_data`/`class_names` have 2")):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[MistakesLogger(
            str(tmp_path), (x, y % 2), class_names=["a", "b"])])
    assert os.listdir(str(tmp_path)) == []


X, Y = np.zeros((4, 8)), np.array([0, 1, 2, 1])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"log_dir": ""}, TypeError, "`log_dir` must be a non-empty path"),
    ({"num_mistakes": 0}, ValueError,
     "`num_mistakes` must be a positive integer, received: 0"),
    ({"freq": -1}, ValueError,
     "`freq` must be a positive integer, received: -1"),
    ({"batch_size": None}, ValueError,
     "`batch_size` must be a positive integer, received: None"),
    ({"dpi": 0}, ValueError, "`dpi` must be a positive integer"),
    ({"class_names": [0, 1, 2]}, TypeError,
     "`class_names` must be None, a string or a non-empty sequence"),
    ({"validation_data": (X, keras.utils.to_categorical(Y, 3)),
      "class_names": ["a", "b"]}, ValueError,
     r"`class_names` must have one name per class \(3\), received 2"),
    ({"validation_data": [X]}, TypeError,
     r"`validation_data` must be a tuple `\(x, y\)` of arrays, received: "
     r"list"),
    ({"validation_data": (X, Y[:3])}, ValueError,
     "same non-zero number of inputs and labels, received 4 inputs and 3"),
    ({"validation_data": (X, Y + 0.5)}, ValueError,
     r"sparse labels must be non-negative integers"),
])
def test_constructor_errors(tmp_path, kwargs, error, match):
    kwargs = {"log_dir": str(tmp_path), "validation_data": (X, Y), **kwargs}
    with pytest.raises(error, match=match):
        MistakesLogger(**kwargs)
