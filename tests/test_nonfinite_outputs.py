"""A diverged model (NaN weights) is never logged as if it were healthy."""

import warnings

import numpy as np
import pytest
from helpers import conv_classifier, own_warnings

from keras_tb_toolkit import callbacks as cb

pytestmark = pytest.mark.timeout(60)


def nan_classifier():
    model, x, y = conv_classifier()
    for w in model.weights:  # A diverged model.
        w.assign(np.full(w.shape, np.nan, "float32"))
    return model, x, y


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
