"""Tests for `callbacks.confusion_matrix_logger.ConfusionMatrixLogger`."""

import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from events import images, scalars
from helpers import (
    assert_warned_once,
    mirrored_strategy,
    not_chief,
    own_warnings,
    tiny_classifier,
    tiny_classifier_build,
    train_with_callback_list,
    tuner_search,
)

from keras_tb_toolkit.callbacks import _confusion
from keras_tb_toolkit.callbacks import ConfusionMatrixLogger, LogDirError

NAMES = ["low", "mid", "high"]
TAGS = {"confusion_matrix"} | {
    f"{kind}/{name}" for kind in ("precision", "recall") for name in NAMES
}


def expected_scores(model, x, y):
    """{tag: value} computed here from the model's own predictions."""
    predicted = np.argmax(model(x, training=False), axis=1)
    matrix = tf.math.confusion_matrix(y, predicted, num_classes=3).numpy()
    scores = {}
    for k, name in enumerate(NAMES):
        predicted_k, actual_k = matrix[:, k].sum(), matrix[k, :].sum()
        scores[f"precision/{name}"] = matrix[k, k] / predicted_k if (
            predicted_k) else 0.0
        scores[f"recall/{name}"] = matrix[k, k] / actual_k if actual_k else 0.0
    return scores


class ScoreRecorder(keras.callbacks.Callback):
    """Records `expected_scores` at every epoch end, after the logger."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.scores = x, y, []

    def on_epoch_end(self, epoch, logs=None):
        self.scores.append(expected_scores(self.model, self.x, self.y))


def logged(run_dir):
    """{tag: {step: value}} of the scalars of a run."""
    return {tag: dict(values) for tag, values in scalars(run_dir).items()}


def assert_scores(run_dir, steps, expected):
    """The scalars at `steps` equal the `expected` {tag: value} dicts."""
    written = logged(run_dir)
    assert set(written) == TAGS - {"confusion_matrix"}
    for tag, values in written.items():
        assert sorted(values) == steps, tag
        for step, scores in zip(steps, expected):
            assert values[step] == pytest.approx(scores[tag], abs=1e-6), tag


def image_shape(num_classes, names):
    figure = _confusion.confusion_matrix_figure(
        np.zeros((num_classes, num_classes), int), names)
    width, height = figure.get_size_inches() * figure.dpi
    return (int(height), int(width), 4)


def test_fit_logs_matrix_image_and_scores_every_freq_epochs(tmp_path):
    log_dir = str(tmp_path)
    model, x, y = tiny_classifier()  # Logits, sparse labels.
    logger = ConfusionMatrixLogger(log_dir, (x, y), freq=2, class_names=NAMES,
                                   batch_size=20)
    assert not os.listdir(log_dir)  # Nothing written by the constructor.
    recorder = ScoreRecorder(x, y)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[logger, recorder])
    run = os.path.join(log_dir, "validation")
    assert os.listdir(log_dir) == ["validation"]
    written = images(run)
    assert set(written) == {"confusion_matrix"}
    assert [step for step, _ in written["confusion_matrix"]] == [0, 2]
    assert written["confusion_matrix"][0][1].shape == image_shape(3, NAMES)
    assert set(scalars(run)) | set(written) == TAGS
    assert_scores(run, [0, 2], recorder.scores[::2])


def test_probabilities_one_hot_labels_and_a_dataset(tmp_path):
    keras.utils.set_random_seed(1)
    model, x, y = tiny_classifier(activation="softmax")
    one_hot = keras.utils.to_categorical(y, 3)
    model.compile("adam", "categorical_crossentropy")
    dataset = tf.data.Dataset.from_tensor_slices((x, one_hot)).batch(10)
    logger = ConfusionMatrixLogger(str(tmp_path), dataset, class_names=NAMES)
    recorder = ScoreRecorder(x, y)
    model.fit(x, one_hot, epochs=2, verbose=0, callbacks=[logger, recorder])
    assert_scores(os.path.join(str(tmp_path), "validation"), [0, 1],
                  recorder.scores)


def test_class_never_predicted_has_precision_zero(tmp_path):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(
        3, kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant([1.0, 0.0, 0.0]))])
    y = np.array([0, 0, 0, 1])  # Always predicts 0; class 2 never occurs.
    logger = ConfusionMatrixLogger(str(tmp_path), (np.ones((4, 8)), y))
    callbacks = keras.callbacks.CallbackList([logger], model=model)
    callbacks.on_train_begin()
    callbacks.on_epoch_end(0)
    callbacks.on_train_end()
    assert logged(os.path.join(str(tmp_path), "validation")) == {
        "precision/0": {0: 0.75}, "precision/1": {0: 0.0},
        "precision/2": {0: 0.0}, "recall/0": {0: 1.0}, "recall/1": {0: 0.0},
        "recall/2": {0: 0.0},
    }


def test_gradient_tape_loop_with_callback_list(tmp_path):
    model, x, y = tiny_classifier()
    recorder = ScoreRecorder(x, y)
    train_with_callback_list(model, [
        ConfusionMatrixLogger(str(tmp_path), (x, y), class_names=NAMES),
        recorder,
    ], x, y, batch_size=16, validate=True)
    run = os.path.join(str(tmp_path), "validation")
    assert [s for s, _ in images(run)["confusion_matrix"]] == [0, 1]
    assert_scores(run, [0, 1], recorder.scores)


def test_two_fits_continue_the_steps(tmp_path):
    model, x, y = tiny_classifier()
    logger = ConfusionMatrixLogger(str(tmp_path), (x, y), class_names=NAMES)
    recorder = ScoreRecorder(x, y)
    for _ in range(2):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[logger, recorder])
    run = os.path.join(str(tmp_path), "validation")
    assert [s for s, _ in images(run)["confusion_matrix"]] == [0, 1, 2, 3]
    assert_scores(run, [0, 1, 2, 3], recorder.scores)


def test_keras_tuner_search_with_a_dataset(tmp_path):
    log_dir = str(tmp_path / "run")
    _, x, y = tiny_classifier()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    tuner_search(tmp_path / "tuner", tiny_classifier_build, x, y,
                 ConfusionMatrixLogger(log_dir, dataset, class_names=NAMES),
                 max_trials=1, epochs=2)
    run = os.path.join(log_dir, "validation")
    assert [s for s, _ in images(run)["confusion_matrix"]] == [0, 1]
    assert set(scalars(run)) == TAGS - {"confusion_matrix"}


def test_mirrored_strategy_writes_each_step_once(tmp_path):
    with mirrored_strategy().scope():
        model, x, y = tiny_classifier()
    logger = ConfusionMatrixLogger(str(tmp_path), (x[:21], y[:21]),
                                   class_names=NAMES, batch_size=8)
    recorder = ScoreRecorder(x[:21], y[:21])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[logger, recorder])
    run = os.path.join(str(tmp_path), "validation")
    assert [s for s, _ in images(run)["confusion_matrix"]] == [0, 1]
    assert_scores(run, [0, 1], recorder.scores)  # Each step once.


def test_only_the_chief_writes(tmp_path, monkeypatch):
    not_chief(monkeypatch)
    model, x, y = tiny_classifier()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[ConfusionMatrixLogger(str(tmp_path), (x, y))])
    assert os.listdir(str(tmp_path)) == []


def fit_expecting_one_warning(logger, model, x, y, match):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])
    assert_warned_once(caught, "ConfusionMatrixLogger", match)


class BinarySubclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1, activation="sigmoid")

    def call(self, inputs):
        return self.dense(inputs)


def binary_model(style):
    keras.utils.set_random_seed(0)
    if style == "subclassed":
        model = BinarySubclassed()
    elif style == "sequential":
        model = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(1, activation="sigmoid")])
    else:
        inputs = keras.Input((8,))
        model = keras.Model(
            inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile("sgd", "binary_crossentropy")
    return model


@pytest.mark.parametrize("style", ["sequential", "functional", "subclassed"])
@pytest.mark.parametrize("labels", ["both", "zeros"])
def test_binary_sigmoid_model_logs_two_classes(tmp_path, style, labels):
    x = np.random.default_rng(0).random((16, 8)).astype("float32")
    y = (x[:, 0] > 0.5).astype("int64") if labels == "both" else np.zeros(16, "int64")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        binary_model(style).fit(x, y, epochs=1, verbose=0, callbacks=[
            ConfusionMatrixLogger(str(tmp_path), (x, y), threshold=0.3)])
    assert own_warnings(caught, "ConfusionMatrixLogger") == []
    written = scalars(str(tmp_path / "validation"))
    assert set(written) == {"precision/0", "precision/1", "recall/0", "recall/1"}


def test_a_threshold_outside_0_and_1_is_an_error():
    with pytest.raises(ValueError, match="`threshold` must be a number strictly "
                       "between 0 and 1, received: 1"):
        ConfusionMatrixLogger("logs", (X, Y), threshold=1)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, inputs):
        return self.dense(inputs)


def test_mismatch_found_only_at_the_epoch_warns_once(tmp_path):
    model = Subclassed()  # No static output shape before the first epoch.
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    x, y = np.ones((8, 8)), np.zeros(8)
    fit_expecting_one_warning(
        ConfusionMatrixLogger(str(tmp_path), (x, y), class_names=["a", "b"]),
        model, x, y, "`class_names` must have one name per class (3), "
        "received 2: ['a', 'b']; nothing is logged.")
    model, x, y = tiny_classifier()
    dataset = tf.data.Dataset.from_tensor_slices((x, y + 1)).batch(16)
    fit_expecting_one_warning(
        ConfusionMatrixLogger(str(tmp_path), dataset), model, x, y,
        "`validation_data` has labels up to 3 but the model predicts only 3 "
        "classes")
    assert os.listdir(str(tmp_path)) == []


def test_an_unwritable_directory_fails_before_training(tmp_path):
    (tmp_path / "validation").write_text("a file, not a directory")
    model, x, y = tiny_classifier()
    with pytest.raises(LogDirError, match="validation' is not writable: File exists"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[ConfusionMatrixLogger(str(tmp_path), (x, y))])
    assert int(model.optimizer.iterations) == 0


def test_a_write_the_disk_refuses_later_stops_training(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(tf.summary, "image", full_disk)
    model, x, y = tiny_classifier()
    with pytest.raises(LogDirError, match=(
            "^ConfusionMatrixLogger could not write a figure: No space left on "
            "device. What it wrote before is intact")):
        model.fit(x, y, epochs=2, verbose=0,
                  callbacks=[ConfusionMatrixLogger(str(tmp_path), (x, y))])


def test_mismatch_known_before_training_fails_fast(tmp_path):
    model, x, y = tiny_classifier()
    logger = ConfusionMatrixLogger(str(tmp_path), (x, y), class_names=["a"])
    with pytest.raises(ValueError, match=r"`class_names` must have one name "
                       r"per class \(3\), received 1: \['a'\]"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    logger = ConfusionMatrixLogger(str(tmp_path), (x, y + 3))
    with pytest.raises(ValueError, match="`validation_data` has labels up to "
                       "5 but the model predicts only 3 classes"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert os.listdir(str(tmp_path)) == []


X, Y = np.zeros((4, 8)), np.array([0, 1, 2, 1])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"log_dir": ""}, TypeError, "`log_dir` must be a non-empty path"),
    ({"freq": 0}, ValueError,
     "`freq` must be a positive integer, received: 0"),
    ({"batch_size": 2.5}, ValueError,
     "`batch_size` must be a positive integer, received: 2.5"),
    ({"dpi": "high"}, ValueError, "`dpi` must be a positive integer"),
    ({"class_names": ["a", "a"]}, ValueError,
     r"`class_names` must be unique, received: \['a', 'a'\]"),
    ({"class_names": [0, 1, 2]}, TypeError,
     "`class_names` must be None, a string or a non-empty sequence"),
    ({"validation_data": (X, keras.utils.to_categorical(Y, 3)),
      "class_names": ["a", "b"]}, ValueError,
     r"`class_names` must have one name per class \(3\), received 2"),
    ({"validation_data": X}, TypeError,
     r"`validation_data` must be a tuple `\(x, y\)` of arrays or a "
     r"tf.data.Dataset of `\(x, y\)`, received: <class 'numpy.ndarray'>"),
    ({"validation_data": (X, Y, Y)}, TypeError,
     "`validation_data` must be a tuple"),
    ({"validation_data": {"x": X, "y": Y}}, TypeError,
     "`validation_data` must be a tuple"),
    ({"validation_data": (5, Y)}, TypeError,
     "`validation_data` must be a tuple `\\(x, y\\)` of arrays, received "
     "elements of types <class 'int'>"),
    ({"validation_data": (X, Y[:3])}, ValueError,
     "same non-zero number of inputs and labels, received 4 inputs and 3"),
    ({"validation_data": (X[:0], Y[:0])}, ValueError,
     "received 0 inputs and 0 labels"),
    ({"validation_data": (X, -Y)}, ValueError,
     r"sparse labels must be non-negative integers, received values such "
     r"as \[-1 -2 -1\]"),
    ({"validation_data": (X, Y + 0.5)}, ValueError,
     r"non-negative integers, received values such as \[0.5 1.5 2.5\]"),
    ({"validation_data": (X, np.zeros((4, 2, 2)))}, ValueError,
     r"labels must be sparse class ids, .* received shape \(4, 2, 2\)"),
    ({"validation_data": (X, np.array(list("abcd")))}, ValueError,
     "of dtype <U1"),
    ({"validation_data": tf.data.Dataset.from_tensor_slices(
        (X, Y)).repeat()}, ValueError,
     r"finite, non-empty dataset, received one of cardinality -1"),
    ({"validation_data": tf.data.Dataset.from_tensor_slices(
        (X, Y)).take(0)}, ValueError, "received one of cardinality 0"),
    ({"validation_data": tf.data.Dataset.from_tensor_slices(X)}, TypeError,
     r"must be a dataset of `\(x, y\)` batches"),
])
def test_constructor_errors(tmp_path, kwargs, error, match):
    kwargs = {"log_dir": str(tmp_path), "validation_data": (X, Y), **kwargs}
    with pytest.raises(error, match=match):
        ConfusionMatrixLogger(**kwargs)
