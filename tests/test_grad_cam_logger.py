"""Tests for `callbacks.grad_cam_logger.GradCAMLogger`."""

import os

import keras
import numpy as np
import pytest
from events import images, summary_rows
from helpers import (
    image_data,
    mirrored_strategy,
    not_chief,
    train_with_callback_list,
    tuner_search,
)

from keras_tb_toolkit.callbacks import GradCAMLogger, grad_cam_logger


def quadrant_data(n, seed=0):
    """Dim noise images, 8x8x1; label 1 iff the top-left quadrant is bright,
    so the answer depends on that quadrant only."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 1)).astype("float32") * 0.3
    y = rng.integers(0, 2, n)
    x[y == 1, :4, :4, 0] += 0.7
    return x, y


def conv_classifier(outputs=1):
    """Conv -> global average pooling -> logits, compiled, seeded."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                            name="conv"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(outputs, name="head"),
    ])
    model.compile(keras.optimizers.Adam(0.02),
                  keras.losses.BinaryCrossentropy(from_logits=True)
                  if outputs == 1 else
                  keras.losses.SparseCategoricalCrossentropy(True))
    return model


def top_left_mass(model, layer, x):
    """The fraction of each heatmap's mass in the top-left quadrant."""
    heatmaps = grad_cam_logger.grad_cam_heatmaps(model, layer, x)
    return heatmaps[:, :4, :4].sum(axis=(1, 2)) / np.maximum(
        heatmaps.sum(axis=(1, 2)), 1e-12)


class GridRecorder(keras.callbacks.Callback):
    """Records the grid expected at every epoch end, after the logger."""

    def __init__(self, layer_name, x, class_index=None):
        super().__init__()
        self.layer_name, self.x, self.class_index = layer_name, x, class_index
        self.grids = []

    def on_epoch_end(self, epoch, logs=None):
        layer = [layer for layer in grad_cam_logger.all_layers(self.model)
                 if layer.name == self.layer_name][0]
        heatmaps = grad_cam_logger.grad_cam_heatmaps(
            self.model, layer, self.x, self.class_index)
        self.grids.append(grad_cam_logger.grad_cam_grid(self.x, heatmaps)[0])


def assert_grids(log_dir, steps, expected):
    written = images(os.path.join(log_dir, "train"))
    assert set(written) == {"grad_cam"}
    assert [step for step, _ in written["grad_cam"]] == steps
    for (_, image), grid in zip(written["grad_cam"], expected):
        np.testing.assert_array_equal(image, grid)


def test_attention_forms_in_the_quadrant_that_decides(tmp_path):
    x, y = quadrant_data(256)
    x_shown, y_shown = quadrant_data(16, seed=1)
    shown = x_shown[y_shown == 1]  # The images whose top-left is bright.
    model = conv_classifier()
    before = top_left_mass(model, model.layers[0], shown)
    logger = GradCAMLogger(str(tmp_path), shown, freq=3)
    assert not os.listdir(str(tmp_path))
    recorder = GridRecorder("conv", shown)
    model.fit(x, y, epochs=10, batch_size=32, verbose=0,
              callbacks=[logger, recorder])
    after = top_left_mass(model, model.layers[0], shown)
    # A quadrant is a quarter of the image: untrained, the heatmap is
    # elsewhere; trained, about three quarters of it are on the quadrant.
    assert before.max() < 0.25 and after.min() > 0.6, (before, after)
    assert_grids(str(tmp_path), [0, 3, 6, 9], recorder.grids[::3])
    # Eight 8x8 images in rows of 3, tiles enlarged 16 times, 2-pixel gaps.
    assert recorder.grids[0].shape == (3 * 128 + 4, 3 * 128 + 4, 3)


class Block(keras.layers.Layer):
    """A custom layer holding a convolution: not in any `layers` list."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner_conv = keras.layers.Conv2D(3, 3, activation="relu",
                                              name="inner_conv")

    def call(self, x):
        return self.inner_conv(x)


class Subclassed(keras.Model):
    """Layers nested two ways: a Sequential block and a custom layer."""

    def __init__(self):
        super().__init__()
        self.stem = keras.Sequential([keras.layers.Conv2D(
            2, 3, padding="same", name="stem_conv")], name="stem")
        self.block = Block(name="block")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(3)

    def call(self, x):
        return self.head(self.pool(self.block(self.stem(x))))


@pytest.mark.parametrize("layer_name, target", [
    (None, "inner_conv"), ("stem_conv", "stem_conv")])
def test_subclassed_model_with_nested_layers(tmp_path, layer_name, target):
    x, y = quadrant_data(8)
    keras.utils.set_random_seed(0)
    model = Subclassed()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    logger = GradCAMLogger(str(tmp_path), x[:4], layer_name=layer_name,
                           class_index=2)
    recorder = GridRecorder(target, x[:4], class_index=2)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[logger, recorder])
    assert_grids(str(tmp_path), [0, 1], recorder.grids)
    # The layers' calls are restored after each forward pass.
    assert all("call" not in vars(layer)
               for layer in grad_cam_logger.all_layers(model))


def test_functional_model_and_a_named_layer(tmp_path):
    x, y = quadrant_data(16)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    first = keras.layers.Conv2D(2, 3, padding="same", name="first")(inputs)
    second = keras.layers.Conv2D(2, 3, name="second")(first)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(second))
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    recorder = GridRecorder("first", x[:3])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        GradCAMLogger(str(tmp_path), x[:3], layer_name="first"), recorder])
    assert_grids(str(tmp_path), [0], recorder.grids)


def image_classifier():
    """Classifies the 8x8 images of `helpers.image_data` into 3 classes."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8)), keras.layers.Reshape((8, 8, 1), name="reshape"),
        keras.layers.Conv2D(2, 3, name="conv"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(3, name="head"),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    return model


def test_gradient_tape_loop_with_callback_list(tmp_path):
    x, y = image_data(16)
    model = image_classifier()
    recorder = GridRecorder("conv", x[:2])
    train_with_callback_list(model, [
        GradCAMLogger(str(tmp_path), x[:2]), recorder], x, y)
    assert_grids(str(tmp_path), [0, 1], recorder.grids)


def test_mirrored_strategy_writes_each_step_once(tmp_path):
    x, y = image_data(32)
    with mirrored_strategy().scope():
        model = image_classifier()
    recorder = GridRecorder("conv", x[:3])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[
        GradCAMLogger(str(tmp_path), x[:3]), recorder])
    assert_grids(str(tmp_path), [0, 1], recorder.grids)


def test_one_instance_serves_two_fits(tmp_path):
    x, y = image_data(16)
    model = image_classifier()
    logger = GradCAMLogger(str(tmp_path), x, max_images=2)
    for _ in range(2):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])
    rows = summary_rows(os.path.join(str(tmp_path), "train"))
    assert len({path for path, *_ in rows}) == 2  # One file per fit.
    assert [(tag, step) for _, tag, step, _ in rows] == [
        ("grad_cam", 0), ("grad_cam", 1)] * 2


@pytest.mark.slow
def test_keras_tuner_search(tmp_path):
    x, y = image_data(16)
    log_dir = str(tmp_path / "run")

    def build(hp):
        hp.Choice("filters", [2])
        return image_classifier()

    tuner_search(tmp_path / "tuner", build, x, y,
                 GradCAMLogger(log_dir, x[:2]), max_trials=1, epochs=2)
    written = images(os.path.join(log_dir, "train"))
    assert [step for step, _ in written["grad_cam"]] == [0, 1]


def test_only_the_chief_writes(tmp_path, monkeypatch):
    not_chief(monkeypatch)
    x, y = image_data(8)
    image_classifier().fit(x, y, epochs=1, verbose=0,
                           callbacks=[GradCAMLogger(str(tmp_path), x)])
    assert os.listdir(str(tmp_path)) == []


def set_model_raises(logger, model, match):
    with pytest.raises(ValueError, match=match):
        keras.callbacks.CallbackList([logger], model=model)


def test_models_that_do_not_fit_fail_at_set_model(tmp_path):
    x, _ = image_data(4)
    dense = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(),
                              keras.layers.Dense(3, name="head")])
    set_model_raises(GradCAMLogger(str(tmp_path), x), dense, (
        r"GradCAMLogger needs a layer with a 4-D output \(batch, height, "
        r"width, channels\), such as a convolution; the model has none"))
    set_model_raises(GradCAMLogger(str(tmp_path), x, layer_name="head"),
                     dense, "layer 'head' does not output one")
    set_model_raises(
        GradCAMLogger(str(tmp_path), x, layer_name="nope"), image_classifier(),
        r"`layer_name` 'nope' is not a layer of the model; its layers are: "
        r"\['conv', 'flatten', 'head', 'reshape'\]")
    set_model_raises(GradCAMLogger(str(tmp_path), x, class_index=3),
                     image_classifier(), "`class_index` is 3 but the model "
                     r"outputs 3 score\(s\) per example")
    set_model_raises(GradCAMLogger(str(tmp_path), np.zeros((2, 5, 5))),
                     image_classifier(), r"the model does not accept "
                     r"`images` of shape \(5, 5\)")
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("kwargs, error, match", [
    ({"log_dir": ""}, TypeError, "`log_dir` must be a non-empty path"),
    ({"images": np.zeros((4, 8))}, ValueError,
     r"`images` must be a non-empty batch of images, an array of shape "
     r"\(n, height, width\) or \(n, height, width, channels\), received: "
     r"\(4, 8\)"),
    ({"images": np.zeros((0, 8, 8))}, ValueError, r"received: \(0, 8, 8\)"),
    ({"images": np.full((2, 8, 8), "a")}, ValueError,
     r"received: \(2, 8, 8\)"),
    ({"images": [np.zeros((2, 8, 8))]}, ValueError, "received: list"),
    ({"layer_name": 5}, TypeError,
     "`layer_name` must be None or a layer's name, received: 5"),
    ({"class_index": -1}, ValueError,
     "`class_index` must be None or an integer >= 0, received: -1"),
    ({"freq": 0}, ValueError,
     "`freq` must be a positive integer, received: 0"),
    ({"max_images": 0}, ValueError,
     "`max_images` must be a positive integer, received: 0"),
])
def test_constructor_errors(tmp_path, kwargs, error, match):
    kwargs = {"log_dir": str(tmp_path), "images": np.zeros((2, 8, 8)),
              **kwargs}
    with pytest.raises(error, match=match):
        GradCAMLogger(**kwargs)
