"""Layer stacks shared by the builders."""

import math

from keras import layers

from ..errors import ConfigError

PADDINGS = ("valid", "same")
BATCH_NORM_MOMENTUM = 0.99  # Keras' default, for runs of thousands of steps
# After n steps of momentum m the moving statistics still hold m**n of
# their initial values (mean 0, variance 1); this is the share left when
# the first validation runs.
_STALE_SHARE = 0.01


def batch_norm_momentum(steps):
    """The BatchNormalization momentum whose moving statistics fit `steps` steps.

    With Keras' 0.99, 80 steps leave 45% of the initial statistics in the
    moving ones, and a model that trains well validates near chance. The
    momentum returned leaves 1% after `steps` steps (0.944 for 80) and is
    never above Keras' default.

    Raises:
        ConfigError: `steps` is not a positive integer.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"steps must be a positive integer, received: {steps!r}")
    return min(BATCH_NORM_MOMENTUM, math.exp(math.log(_STALE_SHARE) / steps))


def check_padding(padding):
    if padding not in PADDINGS:
        raise ConfigError(
            f"padding must be one of {', '.join(PADDINGS)}, received: {padding!r}"
        )
    return padding


def conv_layers(filters, kernel_size, batch_norm, name, padding="valid",
                momentum=BATCH_NORM_MOMENTUM):
    """Conv -> (BatchNorm -> ReLU), or a Conv with ReLU, as a list of layers.

    The layers are named `name`, `name_bn` and `name_relu`, the names the
    histogram and activation tags carry.
    """
    if not batch_norm:
        return [layers.Conv2D(filters, kernel_size, padding=padding, activation="relu", name=name)]
    return [
        layers.Conv2D(filters, kernel_size, padding=padding, name=name),
        layers.BatchNormalization(momentum=momentum, name=f"{name}_bn"),
        layers.ReLU(name=f"{name}_relu"),
    ]


def conv_bn(filters, kernel_size, batch_norm, name, padding="valid",
            momentum=BATCH_NORM_MOMENTUM):
    """`conv_layers` as one callable, for functional graphs."""
    stack = conv_layers(filters, kernel_size, batch_norm, name, padding, momentum)

    def apply(x):
        for layer in stack:
            x = layer(x)
        return x

    return apply


def conv_stack(conv_filters, kernel_size, batch_norm, padding="valid",
               momentum=BATCH_NORM_MOMENTUM):
    """`conv_1`, `conv_2`... blocks with 2x2 max pooling between them, as layers."""
    stack = []
    for i, filters in enumerate(conv_filters):
        stack += conv_layers(filters, kernel_size, batch_norm, f"conv_{i + 1}",
                             padding, momentum)
        if i < len(conv_filters) - 1:
            stack.append(layers.MaxPooling2D(name=f"pool_{i + 1}"))
    return stack


def classifier_head(num_classes, dense_units, dropout):
    head = [layers.Flatten(name="flatten"), layers.Dense(dense_units, activation="relu", name="dense")]
    if dropout:
        head.append(layers.Dropout(dropout, name="dropout"))
    head.append(layers.Dense(num_classes, activation="softmax", name="predictions"))
    return head


def check_fits(input_shape, conv_filters, kernel_size, pools=None, padding="valid"):
    """Rejects conv/pool stacks that shrink the image below 1x1.

    `pools` is the number of poolings before the blocks after the first
    (the functional graph's), or `None` for a pooling between blocks. With
    `padding="same"` only the poolings shrink the image.
    """
    if not conv_filters:
        raise ConfigError("conv_filters must name at least one conv block")
    shrink = 0 if check_padding(padding) == "same" else kernel_size - 1
    size = min(input_shape[0], input_shape[1])
    if pools is not None:  # functional: 'same' convs, then `pools` poolings
        for _ in range(pools):
            size //= 2
        blocks = len(conv_filters) - 1
    else:
        blocks = len(conv_filters)
    for i in range(-1, blocks):
        if i >= 0:
            size -= shrink
            if pools is None and i < blocks - 1:
                size //= 2
        if size < 1:
            raise ConfigError(
                f"{len(conv_filters)} conv blocks with kernel {kernel_size} "
                f"shrink a {input_shape[0]}x{input_shape[1]} image below 1x1; "
                "use fewer blocks or a smaller kernel"
            )
