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
import tensorflow as tf
from keras import layers

from toolkit.config import API_STYLES
from toolkit.errors import ConfigError

__all__ = [
    "API_STYLES",
    "SubclassedCNN",
    "build_functional",
    "build_model",
    "build_sequential",
    "build_subclassed",
    "compile_model",
]
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
MERGE_MODES = ("concat", "add")


def build_sequential(
    input_shape=(28, 28, 1),
    num_classes=10,
    *,
    conv_filters=(32, 64, 64),
    kernel_size=3,
    dense_units=64,
    dropout=0.0,
    batch_norm=False,
    name="sequential_cnn",
):
    """The seeds' CNN as a `keras.Sequential`: one conv block per filter count.

    Every block but the last is followed by 2x2 max pooling.
    """
    _check_fits(input_shape, conv_filters, kernel_size)
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=input_shape, name="image"))
    for layer in _conv_stack(conv_filters, kernel_size, batch_norm):
        model.add(layer)
    for layer in _classifier_head(num_classes, dense_units, dropout):
        model.add(layer)
    return model


def build_functional(
    input_shape=(28, 28, 1),
    num_classes=10,
    *,
    branch_filters=16,
    branch_kernels=(3, 5),
    merge="concat",
    residual=True,
    conv_filters=(64,),
    dense_units=64,
    dropout=0.0,
    batch_norm=False,
    name="functional_cnn",
):
    """Parallel branches with different kernels, merged, a residual block, a head."""
    if merge not in MERGE_MODES:
        raise ConfigError(
            f"merge must be one of {', '.join(MERGE_MODES)}, received: {merge!r}"
        )
    if not branch_kernels:
        raise ConfigError("branch_kernels must name at least one kernel size")
    _check_fits(input_shape, (branch_filters,) + tuple(conv_filters), 3, pools=2)
    inputs = keras.Input(shape=input_shape, name="image")
    branches = [
        layers.Conv2D(
            branch_filters, k, padding="same", activation="relu",
            name=f"branch_{k}x{k}",
        )(inputs)
        for k in branch_kernels
    ]
    if len(branches) == 1:
        x = branches[0]
    elif merge == "concat":
        x = layers.Concatenate(name="merge")(branches)
    else:
        x = layers.Add(name="merge")(branches)
    x = layers.MaxPooling2D(name="pool_1")(x)
    if residual:
        channels = x.shape[-1]
        y = _conv_bn(channels, 3, batch_norm, "residual_conv_1", padding="same")(x)
        y = layers.Conv2D(channels, 3, padding="same", name="residual_conv_2")(y)
        if batch_norm:
            y = layers.BatchNormalization(name="residual_bn_2")(y)
        x = layers.Add(name="residual_add")([x, y])
        x = layers.ReLU(name="residual_relu")(x)
    x = layers.MaxPooling2D(name="pool_2")(x)
    for i, filters in enumerate(conv_filters):
        x = _conv_bn(filters, 3, batch_norm, f"conv_{i + 1}")(x)
    for layer in _classifier_head(num_classes, dense_units, dropout):
        x = layer(x)
    return keras.Model(inputs, x, name=name)


@keras.saving.register_keras_serializable(package="ktb")
class SubclassedCNN(keras.Model):
    """The seeds' CNN as a `keras.Model` subclass with a hand-written train step.

    `train_step` and `test_step` compute the loss under `tf.GradientTape`,
    optionally with label smoothing, clip the gradients by global norm when
    `clipnorm` is set, and apply them with `self.optimizer.apply`. Compile it
    with an optimizer only: the model owns its loss and metrics.

    Args:
        num_classes: output classes. Defaults to `10`.
        conv_filters: filters of each conv block. Defaults to `(32, 64, 64)`.
        kernel_size: kernel size of the conv blocks. Defaults to `3`.
        dense_units: units of the hidden dense layer. Defaults to `64`.
        dropout: dropout rate before the output layer. Defaults to `0.0`.
        batch_norm: batch normalization after each convolution.
            Defaults to `False`.
        label_smoothing: label smoothing of the training loss.
            Defaults to `0.0`.
        clipnorm: global gradient norm clip, or `None`. Defaults to `None`.
    """

    def __init__(
        self,
        num_classes=10,
        conv_filters=(32, 64, 64),
        kernel_size=3,
        dense_units=64,
        dropout=0.0,
        batch_norm=False,
        label_smoothing=0.0,
        clipnorm=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "subclassed_cnn")
        super().__init__(**kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(
                f"label_smoothing must be in [0, 1), received: {label_smoothing!r}"
            )
        if clipnorm is not None and not clipnorm > 0:
            raise ConfigError(
                f"clipnorm must be None or > 0, received: {clipnorm!r}"
            )
        self.num_classes = num_classes
        self.conv_filters = tuple(conv_filters)
        self.kernel_size = kernel_size
        self.dense_units = dense_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.label_smoothing = float(label_smoothing)
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.blocks = _conv_stack(self.conv_filters, kernel_size, batch_norm)
        self.head = _classifier_head(num_classes, dense_units, dropout)
        if self.label_smoothing:
            self.loss_fn = keras.losses.CategoricalCrossentropy(
                label_smoothing=self.label_smoothing
            )
        else:
            self.loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self.eval_loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(
            name="accuracy"
        )

    def build(self, input_shape):
        _check_fits(input_shape[1:], self.conv_filters, self.kernel_size)
        shape = tuple(input_shape)
        for layer in self.blocks + self.head:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=False):
        x = inputs
        for layer in self.blocks + self.head:
            x = layer(x, training=training)
        return x

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def train_step(self, data):
        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            targets = y
            if self.label_smoothing:
                targets = tf.one_hot(tf.cast(y, tf.int32), self.num_classes)
            # Keras losses divide by the replica count under tf.distribute,
            # so the summed gradients of all replicas are the global ones.
            loss = self.loss_fn(targets, y_pred)
            if self.losses:
                loss += tf.add_n(self.losses) / _replicas()
        gradients = tape.gradient(loss, self.trainable_variables)
        if self.clipnorm is not None:
            gradients, _ = tf.clip_by_global_norm(gradients, self.clipnorm)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._track(loss * _replicas(), y, y_pred)

    def test_step(self, data):
        x, y = data[0], data[1]
        y_pred = self(x, training=False)
        loss = self.eval_loss_fn(y, y_pred)
        return self._track(loss * _replicas(), y, y_pred)

    def _track(self, loss, y, y_pred):
        self.loss_tracker.update_state(loss, sample_weight=tf.shape(y_pred)[0])
        self.accuracy_tracker.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            conv_filters=list(self.conv_filters),
            kernel_size=self.kernel_size,
            dense_units=self.dense_units,
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            label_smoothing=self.label_smoothing,
            clipnorm=self.clipnorm,
        )
        return config


def build_subclassed(input_shape=(28, 28, 1), num_classes=10, **hparams):
    """A built `SubclassedCNN` (its weights exist, so it can be summarized)."""
    model = SubclassedCNN(num_classes=num_classes, **hparams)
    model.build((None,) + tuple(input_shape))
    return model


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
    """A Keras optimizer by name with `learning_rate`."""
    if not learning_rate > 0:
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


def _replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


def _conv_bn(filters, kernel_size, batch_norm, name, padding="valid"):
    """Conv -> (BatchNorm) -> ReLU as one callable."""
    if not batch_norm:
        return layers.Conv2D(
            filters, kernel_size, padding=padding, activation="relu", name=name
        )
    conv = layers.Conv2D(filters, kernel_size, padding=padding, name=name)
    norm = layers.BatchNormalization(name=f"{name}_bn")
    relu = layers.ReLU(name=f"{name}_relu")
    return lambda x: relu(norm(conv(x)))


def _conv_stack(conv_filters, kernel_size, batch_norm):
    stack = []
    for i, filters in enumerate(conv_filters):
        if batch_norm:
            stack += [
                layers.Conv2D(filters, kernel_size, name=f"conv_{i + 1}"),
                layers.BatchNormalization(name=f"conv_{i + 1}_bn"),
                layers.ReLU(name=f"conv_{i + 1}_relu"),
            ]
        else:
            stack.append(
                layers.Conv2D(
                    filters, kernel_size, activation="relu", name=f"conv_{i + 1}"
                )
            )
        if i < len(conv_filters) - 1:
            stack.append(layers.MaxPooling2D(name=f"pool_{i + 1}"))
    return stack


def _classifier_head(num_classes, dense_units, dropout):
    head = [layers.Flatten(name="flatten"), layers.Dense(dense_units, activation="relu", name="dense")]
    if dropout:
        head.append(layers.Dropout(dropout, name="dropout"))
    head.append(layers.Dense(num_classes, activation="softmax", name="predictions"))
    return head


def _check_fits(input_shape, conv_filters, kernel_size, pools=None):
    """Rejects conv/pool stacks that shrink the image below 1x1."""
    if not conv_filters:
        raise ConfigError("conv_filters must name at least one conv block")
    size = min(input_shape[0], input_shape[1])
    if pools is not None:  # functional: 'same' convs, then `pools` poolings
        for _ in range(pools):
            size //= 2
        blocks = len(conv_filters) - 1
    else:
        blocks = len(conv_filters)
    for i in range(blocks):
        size -= kernel_size - 1
        if pools is None and i < blocks - 1:
            size //= 2
        if size < 1:
            raise ConfigError(
                f"{len(conv_filters)} conv blocks with kernel {kernel_size} "
                f"shrink a {input_shape[0]}x{input_shape[1]} image below 1x1; "
                "use fewer blocks or a smaller kernel"
            )
