"""Each Keras internal that `callbacks/_keras_compat.py` relies on still holds.

A failure names the installed Keras version: the assumption listed in the
compatibility module's docstring no longer holds there, and that module
(only) must be adapted.
"""

import keras
import numpy as np
import pytest

from keras_tb_toolkit.callbacks import _keras_compat

BROKEN = (
    f"Keras {keras.__version__}: callbacks/_keras_compat.py relies on "
    "{what}, which this version no longer provides"
)


def _require(condition, what):
    if not condition:
        pytest.fail(BROKEN.format(what=what))


def test_version_is_the_installed_one():
    assert _keras_compat.KERAS_VERSION == keras.__version__


@pytest.mark.parametrize(
    "metric, direction",
    [
        (keras.metrics.SparseCategoricalAccuracy(), "up"),
        (keras.metrics.AUC(), "up"),
        (keras.metrics.MeanSquaredError(), "down"),
    ],
)
def test_metric_direction_is_the_private_direction(metric, direction):
    _require(hasattr(metric, "_direction"), "`Metric._direction`")
    assert _keras_compat.metric_direction(metric) == direction


def test_optimizer_keeps_the_variables_it_was_built_with():
    variable = keras.Variable(np.ones(3, "float32"))
    optimizer = keras.optimizers.SGD(0.5)
    optimizer.build([variable])
    _require(
        hasattr(optimizer, "_trainable_variables"),
        "`Optimizer._trainable_variables`",
    )
    assert _keras_compat.built_variables(optimizer) == [variable]
    optimizer.apply([keras.ops.ones(3)])  # The form that needs them.
    np.testing.assert_allclose(variable.numpy(), np.full(3, 0.5))


def test_apply_gradients_goes_through_the_instance_apply():
    variable = keras.Variable(np.ones(2, "float32"))
    optimizer = keras.optimizers.SGD(1.0)
    optimizer.build([variable])
    calls = []
    original = _keras_compat.unshadowed_method(optimizer, "apply")

    def apply(grads, variables=None):
        calls.append(len(grads))
        return original(grads, variables)

    token = _keras_compat.shadow(optimizer, "apply", apply)
    try:
        optimizer.apply_gradients([(keras.ops.ones(2), variable)])
    finally:
        _keras_compat.unshadow(token)
    _require(calls == [1], "`apply_gradients` calling `self.apply`")
    assert "apply" not in optimizer.__dict__
    np.testing.assert_allclose(variable.numpy(), np.zeros(2))


def test_layer_call_goes_through_the_instance_call():
    layer = keras.layers.Dense(2)
    model = keras.Sequential([keras.Input((3,)), layer])
    seen = []
    original = _keras_compat.unshadowed_method(layer, "call")

    def call(*args, **kwargs):
        seen.append(args[0].shape)
        return original(*args, **kwargs)

    weights_before = len(layer.weights)
    token = _keras_compat.shadow(layer, "call", call)
    try:
        model(np.ones((4, 3), "float32"), training=False)
        _require(
            len(layer.weights) == weights_before,
            "`object.__setattr__` bypassing the tracking of layer attributes",
        )
    finally:
        _keras_compat.unshadow(token)
    _require(seen and tuple(seen[0]) == (4, 3),
             "`Layer.__call__` calling `self.call` looked up on the instance")
    assert "call" not in layer.__dict__


def test_a_failed_assumption_names_the_keras_version():
    with pytest.raises(pytest.fail.Exception, match=f"Keras {keras.__version__}"):
        _require(False, "something")
