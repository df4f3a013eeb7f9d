"""The three Keras API styles, as builders with explicit hyperparameters.

- `build_sequential`: the CNN of the Keras/TensorFlow MNIST examples,
  Conv2D(32, 3) -> MaxPool -> Conv2D(64, 3) -> MaxPool -> Conv2D(64, 3) ->
  Flatten -> Dense(64) -> Dense(10); 93,322 parameters on 28x28x1 inputs.
- `build_functional`: two parallel convolution branches with different
  kernel sizes, merged, then a residual block: a graph no Sequential can hold.
- `SubclassedCNN`: a `keras.Model` subclass with its own `train_step` and
  `test_step` written with `tf.GradientTape`, still usable with `fit()`,
  `evaluate()` and `.keras` save/load.

`build_model(api, ...)` builds and compiles any of them; the search spaces
call it with sampled hyperparameters.
"""

import keras

from ..config import API_STYLES
from ..errors import ConfigError
from ._blocks import BATCH_NORM_MOMENTUM, PADDINGS, batch_norm_momentum
from .functional import MERGE_MODES, build_functional
from .sequential import build_sequential
from .subclassed import SubclassedCNN, build_subclassed

__all__ = [
    "API_STYLES",
    "BATCH_NORM_MOMENTUM",
    "MERGE_MODES",
    "OPTIMIZERS",
    "PADDINGS",
    "SubclassedCNN",
    "batch_norm_momentum",
    "build_functional",
    "build_model",
    "build_sequential",
    "build_subclassed",
    "compile_model",
    "make_optimizer",
]

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")

BUILDERS = {
    "sequential": build_sequential,
    "functional": build_functional,
    "subclassed": build_subclassed,
}


def build_model(
    api,
    input_shape=(28, 28, 1),
    num_classes=10,
    *,
    learning_rate=1e-3,
    optimizer="adam",
    **hparams,
):
    """Builds and compiles the model of API style `api` with `hparams`.

    Raises:
        ConfigError: unknown `api` or `optimizer`, a learning rate <= 0, or
            hyperparameters that cannot build (too many pooling blocks for
            the input size, for example).
    """
    if api not in BUILDERS:
        raise ConfigError(
            f"api must be one of {', '.join(API_STYLES)}, received: {api!r}"
        )
    model = BUILDERS[api](input_shape, num_classes, **hparams)
    compile_model(model, learning_rate=learning_rate, optimizer=optimizer)
    return model


def compile_model(model, *, learning_rate=1e-3, optimizer="adam"):
    """Compiles with sparse categorical cross-entropy and accuracy.

    A `SubclassedCNN` owns its loss and metrics and gets the optimizer only.
    """
    optimizer = make_optimizer(optimizer, learning_rate)
    if isinstance(model, SubclassedCNN):
        model.compile(optimizer=optimizer)
    else:
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    return model


def make_optimizer(name, learning_rate):
    """A Keras optimizer by name with `learning_rate` (a number or a schedule)."""
    schedule = isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule)
    if not schedule and not learning_rate > 0:
        raise ConfigError(
            f"learning_rate must be > 0, received: {learning_rate!r}"
        )
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    raise ConfigError(
        f"optimizer must be one of {', '.join(OPTIMIZERS)}, received: {name!r}"
    )
