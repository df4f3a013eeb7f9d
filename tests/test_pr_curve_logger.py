"""Tests for `callbacks.pr_curve_logger.PRCurveLogger`."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from events import plugin_context, plugin_tensors, summary_rows
from helpers import (
    mirrored_strategy,
    not_chief,
    tiny_classifier,
    tiny_classifier_build,
    train_with_callback_list,
    tuner_search,
)

from tensorboard import context as tb_context
from tensorboard.plugins.pr_curve import pr_curves_plugin

from keras_tb_toolkit.callbacks import PRCurveLogger

NAMES = ["low", "mid", "high"]
THRESHOLDS = 11
TAGS = {f"pr_curve/{name}/pr_curves" for name in NAMES}


def expected_curves(probabilities, labels, classes):
    """{class index: (6, THRESHOLDS) array} computed here by brute force:
    rows tp, fp, tn, fn, precision, recall, as the plugin stores them."""
    thresholds = np.linspace(0.0, 1.0, THRESHOLDS)
    curves = {}
    for k in classes:
        predicted = probabilities[:, k][:, None] >= thresholds[None, :]
        actual = (labels == k)[:, None]
        tp = (predicted & actual).sum(axis=0)
        fp = (predicted & ~actual).sum(axis=0)
        fn = (~predicted & actual).sum(axis=0)
        tn = (~predicted & ~actual).sum(axis=0)
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
        curves[k] = np.stack([tp, fp, tn, fn, precision, recall])
    return curves


class CurveRecorder(keras.callbacks.Callback):
    """Records `expected_curves` at every epoch end, after the logger."""

    def __init__(self, x, y, to_probabilities=tf.nn.softmax,
                 classes=(0, 1, 2)):
        super().__init__()
        self.x, self.y, self.curves = x, y, []
        self.to_probabilities, self.classes = to_probabilities, classes

    def on_epoch_end(self, epoch, logs=None):
        outputs = self.to_probabilities(self.model(self.x, training=False))
        self.curves.append(expected_curves(np.asarray(outputs), self.y,
                                           self.classes))


def assert_curves(log_dir, steps, expected, names=NAMES, classes=(0, 1, 2)):
    """The PR curves at `steps` equal the `expected` ones, exactly once."""
    written = plugin_tensors(os.path.join(log_dir, "validation"),
                             "pr_curves")
    assert set(written) == {f"pr_curve/{names[k]}/pr_curves"
                            for k in classes}
    for k in classes:
        events = written[f"pr_curve/{names[k]}/pr_curves"]
        assert [step for step, _ in events] == steps
        for (_, data), curves in zip(events, expected):
            assert data.shape == (6, THRESHOLDS)
            np.testing.assert_allclose(data, curves[k], atol=1e-6)


def test_fit_writes_curves_every_freq_epochs_from_logits(tmp_path):
    model, x, y = tiny_classifier()  # Logits.
    logger = PRCurveLogger(str(tmp_path), (x, y), freq=2, class_names=NAMES,
                           num_thresholds=THRESHOLDS, batch_size=20)
    assert not os.listdir(str(tmp_path))  # Nothing before training.
    recorder = CurveRecorder(x, y)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[logger, recorder])
    assert os.listdir(str(tmp_path)) == ["validation"]
    assert_curves(str(tmp_path), [0, 2], recorder.curves[::2])
    # The curve moves with training: not the same data at both steps.
    assert not np.allclose(recorder.curves[0][0], recorder.curves[2][0])


def test_softmax_probabilities_and_one_hot_labels_are_used_as_they_are(
        tmp_path):
    model, x, y = tiny_classifier(activation="softmax")
    one_hot = keras.utils.to_categorical(y, 3)
    logger = PRCurveLogger(str(tmp_path), (x, one_hot),
                           num_thresholds=THRESHOLDS)
    recorder = CurveRecorder(x, y, to_probabilities=lambda p: p)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger, recorder])
    assert_curves(str(tmp_path), [0], recorder.curves, names=["0", "1", "2"])


@pytest.mark.parametrize("activation", ["sigmoid", None])
def test_binary_classifier_gets_its_positive_class_curve(tmp_path,
                                                         activation):
    keras.utils.set_random_seed(0)
    x = np.random.RandomState(1).rand(40, 8).astype("float32")
    y = (x[:, 0] > 0.5).astype("int64")
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(1, activation=activation)])
    model.compile("adam", keras.losses.BinaryCrossentropy(
        from_logits=activation is None))
    logger = PRCurveLogger(str(tmp_path), (x, y), class_names=["no", "yes"],
                           num_thresholds=THRESHOLDS)
    to_positive = tf.sigmoid if activation is None else (lambda p: p)
    recorder = CurveRecorder(
        x, y, lambda out: tf.concat([1 - to_positive(out), to_positive(out)],
                                    axis=1), classes=(1,))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[logger, recorder])
    assert_curves(str(tmp_path), [0, 1], recorder.curves, names=["no", "yes"],
                  classes=(1,))


def test_pr_curves_dashboard_serves_each_class(tmp_path):
    model, x, y = tiny_classifier()
    recorder = CurveRecorder(x, y)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        PRCurveLogger(str(tmp_path), (x, y), class_names=NAMES,
                      num_thresholds=THRESHOLDS), recorder])
    plugin = pr_curves_plugin.PrCurvesPlugin(plugin_context(tmp_path))
    request = tb_context.RequestContext()
    tags = plugin.tags_impl(request, "")
    assert {tag: info["displayName"] for tag, info in
            tags["validation"].items()} == {
        f"pr_curve/{name}/pr_curves": f"{name} vs. rest" for name in NAMES}
    for k, name in enumerate(NAMES):
        served = plugin.pr_curves_impl(request, "", ["validation"],
                                       f"pr_curve/{name}/pr_curves")
        (entry,) = served["validation"]
        # The dashboard stops where nothing is predicted positive any more.
        shown = len(entry["thresholds"])
        expected = recorder.curves[0][k][:, :shown]
        assert entry["step"] == 0
        assert entry["true_positives"] == list(expected[0])
        assert entry["false_positives"] == list(expected[1])
        np.testing.assert_allclose(entry["precision"], expected[4],
                                   rtol=1e-6)
        np.testing.assert_allclose(entry["recall"], expected[5], rtol=1e-6)


def test_gradient_tape_loop_with_callback_list(tmp_path):
    model, x, y = tiny_classifier()
    recorder = CurveRecorder(x, y)
    train_with_callback_list(model, [
        PRCurveLogger(str(tmp_path), (x, y), class_names=NAMES,
                      num_thresholds=THRESHOLDS),
        recorder,
    ], x, y, batch_size=16)
    assert_curves(str(tmp_path), [0, 1], recorder.curves)


def test_mirrored_strategy_writes_each_step_once(tmp_path):
    with mirrored_strategy().scope():
        model, x, y = tiny_classifier()
    recorder = CurveRecorder(x[:21], y[:21])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[
        PRCurveLogger(str(tmp_path), (x[:21], y[:21]), class_names=NAMES,
                      num_thresholds=THRESHOLDS, batch_size=8),
        recorder,
    ])
    assert_curves(str(tmp_path), [0, 1], recorder.curves)


def test_one_instance_serves_two_fits(tmp_path):
    model, x, y = tiny_classifier()
    logger = PRCurveLogger(str(tmp_path), (x, y), class_names=NAMES,
                           num_thresholds=THRESHOLDS)
    for _ in range(2):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])
    rows = summary_rows(os.path.join(str(tmp_path), "validation"))
    files = sorted({path for path, *_ in rows})
    assert len(files) == 2  # One event file per fit, closed at its end.
    for path in files:
        assert sorted((tag, step) for p, tag, step, _ in rows if p == path) \
            == sorted((tag, step) for tag in TAGS for step in (0, 1))


@pytest.mark.slow
def test_keras_tuner_search(tmp_path):
    log_dir = str(tmp_path / "run")
    _, x, y = tiny_classifier()
    tuner_search(tmp_path / "tuner", tiny_classifier_build, x, y,
                 PRCurveLogger(log_dir, (x, y), class_names=NAMES),
                 max_trials=1, epochs=2)
    written = plugin_tensors(os.path.join(log_dir, "validation"),
                             "pr_curves")
    assert set(written) == TAGS
    assert [step for step, _ in written["pr_curve/low/pr_curves"]] == [0, 1]


def test_only_the_chief_writes(tmp_path, monkeypatch):
    not_chief(monkeypatch)
    model, x, y = tiny_classifier()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[PRCurveLogger(str(tmp_path), (x, y))])
    assert os.listdir(str(tmp_path)) == []


def fit_raises(logger, model, x, y, match):
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])


def test_model_not_matching_the_classes_fails_before_training(tmp_path):
    x, y = np.ones((6, 8), "float32"), np.array([0, 1, 2, 0, 1, 2])
    regression = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    regression.compile("sgd", "mse")
    fit_raises(PRCurveLogger(str(tmp_path), (x, y)), regression, x, y,
               r"PRCurveLogger: `validation_data` has labels up to 2 but the "
               r"model outputs 1 score\(s\), i.e. 2 classes \(a regression")
    model, _, _ = tiny_classifier()
    fit_raises(PRCurveLogger(str(tmp_path), (x, y), class_names=list("abcd")),
               model, x, y,
               r"the model outputs 3 score\(s\) per example, i.e. 3 classes, "
               r"but `validation_data`/`class_names` have 4")
    fit_raises(PRCurveLogger(str(tmp_path), (x, y + 1)), model, x, y,
               "has labels up to 3 but the model outputs 3")
    sequence = keras.Sequential([keras.Input((8,)), keras.layers.Reshape(
        (2, 4))])
    sequence.compile("sgd", "mse")
    fit_raises(PRCurveLogger(str(tmp_path), (x, y)), sequence, x,
               np.ones((6, 2, 4)), r"PRCurveLogger needs a classifier: the "
               r"model must output shape \(batch, num_classes\), or \(batch, "
               r"1\) for a binary one, received output \(1, 2, 4\)")
    assert os.listdir(str(tmp_path)) == []


X, Y = np.zeros((4, 8)), np.array([0, 1, 2, 1])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"log_dir": ""}, TypeError, "`log_dir` must be a non-empty path"),
    ({"freq": 0}, ValueError,
     "`freq` must be a positive integer, received: 0"),
    ({"num_thresholds": 1}, ValueError,
     "`num_thresholds` must be an integer >= 2, received: 1"),
    ({"batch_size": 2.5}, ValueError,
     "`batch_size` must be a positive integer, received: 2.5"),
    ({"class_names": ["a", "a"]}, ValueError,
     r"`class_names` must be unique, received: \['a', 'a'\]"),
    ({"class_names": [0, 1, 2]}, TypeError,
     "`class_names` must be None, a string or a non-empty sequence"),
    ({"validation_data": (X, keras.utils.to_categorical(Y, 3)),
      "class_names": ["a", "b"]}, ValueError,
     r"`class_names` must have one name per class \(3\), received 2"),
    ({"validation_data": X}, TypeError,
     r"`validation_data` must be a tuple `\(x, y\)` of arrays, received: "
     r"ndarray"),
    ({"validation_data": (5, Y)}, TypeError,
     "received elements of types int and ndarray"),
    ({"validation_data": (X, Y[:3])}, ValueError,
     "same non-zero number of inputs and labels, received 4 inputs and 3"),
    ({"validation_data": (X, -Y)}, ValueError,
     r"sparse labels must be non-negative integers"),
])
def test_constructor_errors(tmp_path, kwargs, error, match):
    kwargs = {"log_dir": str(tmp_path), "validation_data": (X, Y), **kwargs}
    with pytest.raises(error, match=match):
        PRCurveLogger(**kwargs)
