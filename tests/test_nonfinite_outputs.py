"""A diverged model (NaN weights) is never logged as if it were healthy."""

import warnings

import keras
import numpy as np
import pytest
from helpers import own_warnings

from keras_tb_toolkit import callbacks as cb

pytestmark = pytest.mark.timeout(60)


def nan_classifier():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(2, 3, name="conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile("sgd", "sparse_categorical_crossentropy")
    for w in model.weights:
        w.assign(np.full(w.shape, np.nan, "float32"))
    rng = np.random.default_rng(0)
    return model, rng.random((8, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 8)


@pytest.mark.parametrize("make", [
    lambda d, x, y: cb.ConfusionMatrixLogger(d, (x, y)),
    lambda d, x, y: cb.PRCurveLogger(d, (x, y)),
    lambda d, x, y: cb.MistakesLogger(d, (x, y)),
    lambda d, x, y: cb.GradCAMLogger(d, x[:2]),
], ids=["ConfusionMatrixLogger", "PRCurveLogger", "MistakesLogger", "GradCAMLogger"])
def test_nan_outputs_skip_the_epoch_with_one_warning(tmp_path, make):
    model, x, y = nan_classifier()
    logger = make(str(tmp_path), x, y)
    logger.set_model(model)
    name = type(logger).__name__
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        logger.on_train_begin()
        logger.on_epoch_end(0)
        logger.on_train_end()
    assert own_warnings(record, name) == [
        f"{name}: the model's outputs at epoch 0 are NaN or inf (training "
        "diverged?); nothing is logged for this epoch."]
    assert not list(tmp_path.rglob("events.out.tfevents*"))
