"""`GradCAMLogger`: Grad-CAM heatmaps over fixed images, once per epoch."""

import math

import keras
import numpy as np
import tensorflow as tf
from matplotlib import colormaps

from . import _activations
from ._class_scores import warn_not_finite
from ._copying import CopiesConfiguration
from ._summary import RunWriters, is_chief
from ._validation import (
    check_int_at_least,
    check_log_dir,
    check_positive_int,
)

__all__ = ["GradCAMLogger"]

# Tiles are enlarged to about this many pixels: MNIST-sized images would
# otherwise be a few dozen pixels wide in TensorBoard.
_TILE_PIXELS = 128
_GAP = 2  # White pixels between tiles.
_HEAT_OPACITY = 0.45


def all_layers(model):
    """Every layer below `model`, depth first, through public attributes:
    `layers` of a model or block, and layers (or lists of layers) held as
    attributes of a subclassed model or custom layer."""
    found, seen = [], {id(model)}

    def visit(layer):
        children = list(getattr(layer, "layers", None) or [])
        for name, value in vars(layer).items():
            if name.startswith("_"):
                continue  # Keras' own bookkeeping, not the user's layers.
            values = value if isinstance(value, (list, tuple)) else [value]
            children += [v for v in values
                         if isinstance(v, keras.layers.Layer)]
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                found.append(child)
                visit(child)

    visit(model)
    return found


def spatial_outputs(model, layers, images):
    """[(layer, output shape)] of the `layers` whose output is a 4-D float
    tensor, in the order of one forward pass on `images`."""
    calls = {}

    def record(layer, args, kwargs, result):
        if tf.is_tensor(result) and result.shape.rank == 4 and (
                result.dtype.is_floating):
            calls.pop(id(layer), None)  # Keep the last call's position.
            calls[id(layer)] = (layer, tuple(result.shape))

    with _activations.intercepting_calls(layers, record):
        model(images, training=False)
    return list(calls.values())


def grad_cam_heatmaps(model, layer, images, class_index=None):
    """Grad-CAM of `layer` for `images`, in [0, 1], shape (n, h, w) of the
    images.

    The output of `layer` is taken during one eager forward pass (its call
    is intercepted, which works for every model style, subclassed included)
    and watched by a `tf.GradientTape`; the channel weights are the spatial
    means of the gradients of the class score, and the map is the ReLU of
    the weighted sum of channels, scaled to a maximum of 1 per image.

    Args:
        model: the model.
        layer: a layer of `model` with a 4-D output.
        images: (n, h, w) or (n, h, w, c) model inputs.
        class_index: the class whose score is explained, or None for each
            image's predicted class. A model with one output (binary)
            always explains that output.
    """
    captured = []
    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:

        def record(called, args, kwargs, result):
            tape.watch(result)
            captured[:] = [result]

        with _activations.intercepting_calls([layer], record):
            outputs = tf.cast(model(images, training=False), tf.float32)
        if outputs.shape[-1] == 1:
            scores = outputs[:, 0]
        else:
            classes = (tf.argmax(outputs, axis=-1) if class_index is None
                       else tf.fill([tf.shape(outputs)[0]], class_index))
            scores = tf.gather(outputs, classes, axis=1, batch_dims=1)
    activations = captured[0]
    gradients = tape.gradient(scores, activations)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    maps = tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))
    maps = maps / tf.maximum(tf.reduce_max(maps, axis=(1, 2), keepdims=True),
                             1e-12)
    size = images.shape[1:3]
    return tf.image.resize(maps[..., None], size)[..., 0].numpy()


def display_images(images):
    """(n, h, w, 3) float RGB in [0, 1] of the inputs, scaled over the set."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] != 3:
        images = np.repeat(images[..., :1], 3, axis=-1)
    low, high = images.min(), images.max()
    return (images - low) / max(high - low, 1e-12)


def grad_cam_grid(images, heatmaps):
    """One uint8 RGB grid [1, H, W, 3] of the images under their heatmaps
    (jet colours), enlarged by a whole factor, in rows of ceil(sqrt(n))."""
    rgb = display_images(images)
    count, height, width = rgb.shape[:3]
    heat = colormaps["jet"](np.clip(heatmaps, 0.0, 1.0))[..., :3]
    tiles = (1 - _HEAT_OPACITY) * rgb + _HEAT_OPACITY * heat
    scale = max(1, _TILE_PIXELS // max(height, width))
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    tile_h, tile_w = height * scale, width * scale
    grid = np.ones((rows * (tile_h + _GAP) - _GAP,
                    columns * (tile_w + _GAP) - _GAP, 3), np.float32)
    for k, tile in enumerate(tiles):
        top = (k // columns) * (tile_h + _GAP)
        left = (k % columns) * (tile_w + _GAP)
        grid[top:top + tile_h, left:left + tile_w] = tile
    return np.round(grid * 255).astype(np.uint8)[None]


class GradCAMLogger(CopiesConfiguration, keras.callbacks.Callback):
    """Shows where the model looks: Grad-CAM heatmaps over fixed images.

    Every `freq` epochs (where `epoch % freq == 0`, step = epoch) it
    computes the Grad-CAM heatmap of each of the fixed `images` and writes
    to `<log_dir>/train` the image `grad_cam`: one grid of the images, in
    grey (or colour), under their heatmaps (jet colours: red where the
    class score depends most on the layer's activations), so the steps of
    the Images dashboard show attention forming over training.

    The target layer is `layer_name`, or else the last layer, in call order,
    whose output is 4-D (batch, height, width, channels): typically the
    last convolution or pooling. Layers are found in Sequential, Functional
    and subclassed models, including nested blocks, through `layers` and
    the layers a model holds as attributes. Its output is taken by
    intercepting its call during one eager forward pass on the images (for
    every model style: a subclassed model has no graph to cut a sub-model
    from), restored right after.

    Args:
        log_dir: The run directory; the grid goes to `<log_dir>/train`.
        images: Model inputs that are images, (n, h, w) or (n, h, w, c).
        layer_name: The name of the target layer, or None to choose the
            last spatial one. Defaults to `None`.
        class_index: The class whose score is explained, or None for each
            image's predicted class. Defaults to `None`.
        freq: Log every `freq` epochs. Defaults to `1`.
        max_images: How many of `images` to use. Defaults to `16`.

    Raises:
        TypeError: If `log_dir` or `layer_name` has the wrong type.
        ValueError: If `images` is not a non-empty batch of images,
            `class_index` is negative, `freq` or `max_images` is not a
            positive integer; or, at `set_model`, if the model does not
            accept the images, has no layer with a 4-D output, has no
            layer named `layer_name`, or fewer outputs than `class_index`.

    Example:

    ```python
    import keras
    import numpy as np
    from keras_tb_toolkit.callbacks import GradCAMLogger

    x = np.random.rand(16, 8, 8, 1).astype("float32")
    y = np.random.randint(0, 2, size=16)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        GradCAMLogger("logs/grad_cam", x[:4])])
    ```
    """

    def __init__(self, log_dir, images, layer_name=None, class_index=None,
                 freq=1, max_images=16):
        super().__init__()
        self.log_dir = check_log_dir(log_dir)
        self.freq = check_positive_int(freq, "freq")
        self.max_images = check_positive_int(max_images, "max_images")
        if layer_name is not None and (
                not isinstance(layer_name, str) or not layer_name):
            raise TypeError("`layer_name` must be None or a layer's name, "
                            f"received: {layer_name!r}")
        self.layer_name = layer_name
        self.class_index = None if class_index is None else (
            check_int_at_least(class_index, "class_index", 0, "None or "))
        self.images = self._check_images(images)[:self.max_images]
        self.__dict__.update(self._fresh_state())

    @staticmethod
    def _check_images(images):
        array = np.asarray(images) if not isinstance(
            images, (dict, list, tuple)) else None
        if array is None or array.dtype.kind not in "uif" or (
                array.ndim not in (3, 4)) or 0 in array.shape:
            shape = getattr(array, "shape", type(images).__name__)
            raise ValueError(
                "`images` must be a non-empty batch of images, an array of "
                "shape (n, height, width) or (n, height, width, channels), "
                f"received: {shape}")
        return array

    def _fresh_state(self):
        # The target layer is found again in each model (a KerasTuner trial
        # has its own).
        return {"_writers": RunWriters(self.log_dir), "_layer": None}

    def set_model(self, model):
        super().set_model(model)
        layers = all_layers(model)
        if self.layer_name is not None:
            layers = [l for l in layers if l.name == self.layer_name]
            if not layers:
                names = sorted({l.name for l in all_layers(model)})
                raise ValueError(
                    f"GradCAMLogger: `layer_name` {self.layer_name!r} is not "
                    f"a layer of the model; its layers are: {names}")
        try:
            spatial = spatial_outputs(model, layers, self.images[:1])
            outputs = model(self.images[:1], training=False)
        except (ValueError, TypeError, tf.errors.OpError) as error:
            raise ValueError(
                "GradCAMLogger: the model does not accept `images` of shape "
                f"{self.images.shape[1:]}: {type(error).__name__}: "
                f"{str(error).splitlines()[0]}") from None
        if not spatial:
            raise ValueError(
                "GradCAMLogger needs a layer with a 4-D output (batch, "
                "height, width, channels), such as a convolution; "
                + (f"layer {self.layer_name!r} does not output one"
                   if self.layer_name else "the model has none"))
        width = outputs.shape[-1]
        if self.class_index is not None and self.class_index >= width:
            raise ValueError(
                f"GradCAMLogger: `class_index` is {self.class_index} but the "
                f"model outputs {width} score(s) per example")
        self._layer = spatial[-1][0]

    def on_train_begin(self, logs=None):
        self._writers.close()
        if is_chief(self.model):
            self._writers.hold("train")

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.freq or not is_chief(self.model):
            return
        heatmaps = grad_cam_heatmaps(self.model, self._layer, self.images,
                                     self.class_index)
        if not np.isfinite(heatmaps).all():  # Not drawn as a cold map.
            warn_not_finite("GradCAMLogger", epoch)
            return
        with self._writers.writing("train", step=epoch):
            tf.summary.image("grad_cam",
                             grad_cam_grid(self.images, heatmaps))
        self._writers.flush()

    def on_train_end(self, logs=None):
        self._writers.close()
