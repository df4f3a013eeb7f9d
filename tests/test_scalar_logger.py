"""Tests for `ScalarLogger`: Keras' scalar tags, throughput, live flushing."""

import glob
import os

import keras
import numpy as np
import pytest

from keras_tb_toolkit.callbacks import ScalarLogger

from events import scalars
from helpers import (
    DenseClassifier,
    image_data,
    mirrored_strategy,
    tiny_classifier,
    train_with_callback_list,
    tuner_search,
    tiny_classifier_build,
)


def _fit(model, x, y, callbacks, epochs=3, **kwargs):
    return model.fit(x, y, batch_size=16, epochs=epochs, validation_data=(x, y),
                     callbacks=callbacks, verbose=0, shuffle=False, **kwargs)


def test_fit_writes_keras_tags_with_the_logged_values(tmp_path):
    model, x, y = tiny_classifier()
    history = _fit(model, x, y, [ScalarLogger(tmp_path, batch_size=16)])
    train = scalars(tmp_path / "train")
    validation = scalars(tmp_path / "validation")
    assert set(train) == {
        "epoch_loss", "epoch_accuracy", "epoch_learning_rate",
        "epoch_steps_per_second", "epoch_examples_per_second",
    }
    assert set(validation) == {"epoch_loss", "epoch_accuracy"}
    for name in ("loss", "accuracy"):
        assert [s for s, _ in train[f"epoch_{name}"]] == [0, 1, 2]
        np.testing.assert_allclose(
            [v for _, v in train[f"epoch_{name}"]], history.history[name], rtol=1e-6)
        np.testing.assert_allclose(
            [v for _, v in validation[f"epoch_{name}"]],
            history.history[f"val_{name}"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.05] * 3)
    # 48 samples in batches of 16: three steps an epoch.
    for (_, steps), (_, examples) in zip(train["epoch_steps_per_second"],
                                         train["epoch_examples_per_second"]):
        assert steps > 0
        assert examples == pytest.approx(16 * steps, rel=1e-5)


def test_every_epoch_is_on_disk_before_the_next_begins(tmp_path):
    seen = []

    class Reader(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(sorted(s for s, _ in scalars(tmp_path / "validation")["epoch_loss"]))

    model, x, y = tiny_classifier()
    _fit(model, x, y, [ScalarLogger(tmp_path), Reader()])
    assert seen == [[0], [0, 1], [0, 1, 2]]


def test_update_freq_writes_batch_scalars_at_the_optimizer_step(tmp_path):
    model, x, y = tiny_classifier()
    _fit(model, x, y, [ScalarLogger(tmp_path, update_freq=2)], epochs=2)
    train = scalars(tmp_path / "train")
    # Batches 2 of each 3-step epoch: optimizer steps 2 and 5.
    assert [s for s, _ in train["batch_loss"]] == [2, 5]
    assert [s for s, _ in train["batch_learning_rate"]] == [2, 5]
    assert "epoch_examples_per_second" not in train


def test_one_instance_serves_two_fits(tmp_path):
    model, x, y = tiny_classifier()
    logger = ScalarLogger(tmp_path)
    _fit(model, x, y, [logger], epochs=2)
    _fit(model, x, y, [logger], epochs=4, initial_epoch=2)
    assert [s for s, _ in scalars(tmp_path / "validation")["epoch_loss"]] == [0, 1, 2, 3]


def test_gradient_tape_loop_through_callback_list(tmp_path):
    model = DenseClassifier()
    model.compile(keras.optimizers.SGD(0.1))
    x, y = image_data(32)
    model(x[:1])
    train_with_callback_list(model, [ScalarLogger(tmp_path)], x, y, validate=True)
    train = scalars(tmp_path / "train")
    assert [s for s, _ in train["epoch_loss"]] == [0, 1]
    assert train["epoch_learning_rate"][0][1] == pytest.approx(0.1)
    assert [s for s, _ in scalars(tmp_path / "validation")["epoch_loss"]] == [0, 1]


def test_mirrored_strategy_writes_once(tmp_path):
    strategy = mirrored_strategy()
    with strategy.scope():
        model, x, y = tiny_classifier()
    _fit(model, x, y, [ScalarLogger(tmp_path)], epochs=2)
    assert [s for s, _ in scalars(tmp_path / "train")["epoch_loss"]] == [0, 1]
    assert len(glob.glob(os.path.join(tmp_path, "train", "events.out.tfevents.*"))) == 1


@pytest.mark.slow
def test_keras_tuner_trials(tmp_path):
    model, x, y = tiny_classifier()
    logs = tmp_path / "trial"
    tuner_search(tmp_path / "search", tiny_classifier_build, x, y, ScalarLogger(logs),
                 max_trials=1, validation_data=(x, y))
    assert [s for s, _ in scalars(logs / "validation")["epoch_loss"]] == [0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"log_dir": 3}, "`log_dir` must be a non-empty path"),
        ({"log_dir": "x", "update_freq": "batch"},
         "`update_freq` must be 'epoch' or an integer >= 1, received: 'batch'"),
        ({"log_dir": "x", "update_freq": 0},
         "`update_freq` must be 'epoch' or an integer >= 1, received: 0"),
        ({"log_dir": "x", "batch_size": 0},
         "`batch_size` must be a positive integer or None, received: 0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message.replace("(", r"\(")):
        ScalarLogger(**kwargs)
