"""Layer stacks shared by the builders."""

from keras import layers

from ..errors import ConfigError


def conv_layers(filters, kernel_size, batch_norm, name, padding="valid"):
    """Conv -> (BatchNorm -> ReLU), or a Conv with ReLU, as a list of layers.

    The layers are named `name`, `name_bn` and `name_relu`, the names the
    histogram and activation tags carry.
    """
    if not batch_norm:
        return [layers.Conv2D(filters, kernel_size, padding=padding, activation="relu", name=name)]
    return [
        layers.Conv2D(filters, kernel_size, padding=padding, name=name),
        layers.BatchNormalization(name=f"{name}_bn"),
        layers.ReLU(name=f"{name}_relu"),
    ]


def conv_bn(filters, kernel_size, batch_norm, name, padding="valid"):
    """`conv_layers` as one callable, for functional graphs."""
    stack = conv_layers(filters, kernel_size, batch_norm, name, padding)

    def apply(x):
        for layer in stack:
            x = layer(x)
        return x

    return apply


def conv_stack(conv_filters, kernel_size, batch_norm):
    """`conv_1`, `conv_2`... blocks with 2x2 max pooling between them, as layers."""
    stack = []
    for i, filters in enumerate(conv_filters):
        stack += conv_layers(filters, kernel_size, batch_norm, f"conv_{i + 1}")
        if i < len(conv_filters) - 1:
            stack.append(layers.MaxPooling2D(name=f"pool_{i + 1}"))
    return stack


def classifier_head(num_classes, dense_units, dropout):
    head = [layers.Flatten(name="flatten"), layers.Dense(dense_units, activation="relu", name="dense")]
    if dropout:
        head.append(layers.Dropout(dropout, name="dropout"))
    head.append(layers.Dense(num_classes, activation="softmax", name="predictions"))
    return head


def check_fits(input_shape, conv_filters, kernel_size, pools=None):
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
