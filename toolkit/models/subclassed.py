"""A `keras.Model` subclass with its own GradientTape train and test steps."""

import keras
import tensorflow as tf

from ..errors import ConfigError
from ._blocks import BATCH_NORM_MOMENTUM, check_fits, check_padding, classifier_head, conv_stack


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
        padding: the convolutions' padding, `"valid"` or `"same"`.
            Defaults to `"valid"`.
        batch_norm_momentum: momentum of the BatchNormalization layers.
            Defaults to `0.99`.
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
        padding="valid",
        batch_norm_momentum=BATCH_NORM_MOMENTUM,
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
        self.padding = check_padding(padding)
        self.batch_norm_momentum = float(batch_norm_momentum)
        self.blocks = conv_stack(self.conv_filters, kernel_size, batch_norm, padding,
                                 self.batch_norm_momentum)
        self.head = classifier_head(num_classes, dense_units, dropout)
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
        check_fits(input_shape[1:], self.conv_filters, self.kernel_size,
                   padding=self.padding)
        shape = tuple(input_shape)
        for layer in self.blocks + self.head:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.blocks + self.head:
            shape = layer.compute_output_shape(shape)
        return shape

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
            padding=self.padding,
            batch_norm_momentum=self.batch_norm_momentum,
        )
        return config


def build_subclassed(input_shape=(28, 28, 1), num_classes=10, **hparams):
    """A built `SubclassedCNN` (its weights exist, so it can be summarized)."""
    model = SubclassedCNN(num_classes=num_classes, **hparams)
    model.build((None,) + tuple(input_shape))
    return model


def _replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync
