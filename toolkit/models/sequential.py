"""The seeds' CNN as a `keras.Sequential`."""

import keras

from ._blocks import BATCH_NORM_MOMENTUM, check_fits, classifier_head, conv_stack


def build_sequential(
    input_shape=(28, 28, 1),
    num_classes=10,
    *,
    conv_filters=(32, 64, 64),
    kernel_size=3,
    dense_units=64,
    dropout=0.0,
    batch_norm=False,
    padding="valid",
    batch_norm_momentum=BATCH_NORM_MOMENTUM,
    name="sequential_cnn",
):
    """The seeds' CNN as a `keras.Sequential`: one conv block per filter count.

    Every block but the last is followed by 2x2 max pooling. `padding` is
    the convolutions' (`"same"` keeps the size, so only the poolings shrink
    the image); `batch_norm_momentum` the BatchNormalization layers'.
    """
    check_fits(input_shape, conv_filters, kernel_size, padding=padding)
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=input_shape, name="image"))
    for layer in conv_stack(conv_filters, kernel_size, batch_norm, padding,
                            batch_norm_momentum):
        model.add(layer)
    for layer in classifier_head(num_classes, dense_units, dropout):
        model.add(layer)
    return model
