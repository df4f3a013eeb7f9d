"""Parallel branches, a merge and a residual block: the Functional API."""

import keras
from keras import layers

from ..errors import ConfigError
from ._blocks import BATCH_NORM_MOMENTUM, check_fits, classifier_head, conv_bn

MERGE_MODES = ("concat", "add")


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
    padding="valid",
    batch_norm_momentum=BATCH_NORM_MOMENTUM,
    name="functional_cnn",
):
    """Parallel branches with different kernels, merged, a residual block, a head.

    The branches and the residual block keep the image's size; `padding` is
    that of the conv blocks after them (`"same"`: only the two poolings
    shrink the image). `batch_norm_momentum` is the BatchNormalization
    layers'.
    """
    if merge not in MERGE_MODES:
        raise ConfigError(
            f"merge must be one of {', '.join(MERGE_MODES)}, received: {merge!r}"
        )
    if not branch_kernels:
        raise ConfigError("branch_kernels must name at least one kernel size")
    check_fits(input_shape, (branch_filters,) + tuple(conv_filters), 3, pools=2,
               padding=padding)
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
        y = conv_bn(channels, 3, batch_norm, "residual_conv_1", padding="same",
                    momentum=batch_norm_momentum)(x)
        y = layers.Conv2D(channels, 3, padding="same", name="residual_conv_2")(y)
        if batch_norm:
            y = layers.BatchNormalization(momentum=batch_norm_momentum,
                                          name="residual_bn_2")(y)
        x = layers.Add(name="residual_add")([x, y])
        x = layers.ReLU(name="residual_relu")(x)
    x = layers.MaxPooling2D(name="pool_2")(x)
    for i, filters in enumerate(conv_filters):
        x = conv_bn(filters, 3, batch_norm, f"conv_{i + 1}", padding,
                    batch_norm_momentum)(x)
    for layer in classifier_head(num_classes, dense_units, dropout):
        x = layer(x)
    return keras.Model(inputs, x, name=name)
