"""Layer stacks shared by the builders."""

from keras import layers

from ..errors import ConfigError


def conv_bn(filters, kernel_size, batch_norm, name, padding="valid"):
    """Conv -> (BatchNorm) -> ReLU as one callable."""
    if not batch_norm:
        return layers.Conv2D(
            filters, kernel_size, padding=padding, activation="relu", name=name
        )
    conv = layers.Conv2D(filters, kernel_size, padding=padding, name=name)
    norm = layers.BatchNormalization(name=f"{name}_bn")
    relu = layers.ReLU(name=f"{name}_relu")
    return lambda x: relu(norm(conv(x)))


def conv_stack(conv_filters, kernel_size, batch_norm):
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
