"""MNIST-style image data as ready `tf.data` pipelines.

One entry point, `load_data(source, ...)`, takes

- `"mnist-mini"` (the default): a real MNIST subset shipped in this package
  (the first 10,000 training and 2,000 test images of MNIST);
- `"mnist"` or `"fashion_mnist"`: the full sets through `keras.datasets`
  (downloaded on first use; offline this fails fast with a one-line message);
- a path to an `.npz` file with the four Keras keys `x_train`, `y_train`,
  `x_test`, `y_test`,

checks the arrays (`_arrays`), and returns a `DataPipelines` with normalized,
batched and prefetched `tf.data.Dataset`s. TensorFlow is imported only to build the
pipelines, so the checks of names and files answer before it loads.

The training order is a pure function of `(seed, epoch)`: each epoch is
shuffled with a stateless shuffle seeded by both, and the training dataset
spans epochs `initial_epoch .. epochs - 1` in one stream. Training can
therefore resume at any epoch (and skip the batches of that epoch already
consumed) and see exactly the batches an uninterrupted run would have seen.
Pass `steps_per_epoch` to `fit()` so Keras keeps one iterator across epochs.
"""

import dataclasses
import importlib.resources
import math
import os

import numpy as np

from ..errors import DataError
from ._arrays import DEFAULT_DATASET, Arrays, load_keras_dataset, load_npz, with_channels

__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "Arrays",
    "DataPipelines",
    "eval_dataset",
    "load_arrays",
    "load_data",
    "normalize",
    "normalize_array",
    "train_dataset",
]

KERAS_DATASETS = ("mnist", "fashion_mnist")
DATASETS = (DEFAULT_DATASET,) + KERAS_DATASETS
# The embedded subset ships in the toolkit package (setup.cfg package_data).
_ASSETS_PACKAGE = __package__.rpartition(".")[0]


@dataclasses.dataclass(frozen=True)
class DataPipelines:
    """Ready pipelines and what `fit()` needs to know about them."""

    name: str
    train: "tf.data.Dataset"
    validation: "tf.data.Dataset"
    test: "tf.data.Dataset"
    steps_per_epoch: int
    input_shape: tuple
    num_classes: int
    arrays: Arrays
    validation_arrays: tuple = None

    def validation_sample(self, count):
        """The first `count` validation images (normalized) and labels, as NumPy."""
        x, y = self.validation_arrays
        return normalize_array(x[:count]), y[:count]


def load_arrays(source=DEFAULT_DATASET):
    """Loads and checks the arrays of `source` (a data set name or npz path).

    Raises:
        DataError: the name is unknown, the download fails, or the file is
            missing or malformed. The message names the source and the
            problem.
    """
    source = os.fspath(source) if isinstance(source, os.PathLike) else source
    if not (isinstance(source, str) and source):
        raise DataError(
            f"data source must be a data set name ({', '.join(DATASETS)}) "
            f"or a path to an .npz file, received: {source!r}"
        )
    if source == DEFAULT_DATASET:
        ref = importlib.resources.files(_ASSETS_PACKAGE) / "_assets" / "mnist_mini.npz"
        with importlib.resources.as_file(ref) as path:
            return load_npz(str(path), name=DEFAULT_DATASET)
    if source in KERAS_DATASETS:
        return load_keras_dataset(source)
    if source.endswith(".npz") or os.sep in source or os.path.exists(source):
        return load_npz(source, name=source)
    raise DataError(
        f"unknown data set {source!r}: expected one of "
        f"{', '.join(DATASETS)}, or a path to an .npz file"
    )


def load_data(
    source=DEFAULT_DATASET,
    *,
    batch_size=128,
    seed=0,
    epochs=1,
    initial_epoch=0,
    skip_batches=0,
    validation_split=0.0,
    limit=None,
):
    """Returns `DataPipelines` for `source`, ready for `fit()`.

    Args:
        source: `"mnist-mini"`, `"mnist"`, `"fashion_mnist"` or a path to an
            `.npz` file. Defaults to `"mnist-mini"`.
        batch_size: images per batch. Defaults to `128`.
        seed: seeds the per-epoch shuffle. Defaults to `0`.
        epochs: the epoch `fit()` stops before. Defaults to `1`.
        initial_epoch: the first epoch the training stream yields, for
            resuming. Defaults to `0`.
        skip_batches: batches of `initial_epoch` already consumed, skipped.
            Defaults to `0`.
        validation_split: fraction of the training images (taken from the
            end, before shuffling) held out as validation data; with `0`, the
            test split serves as validation data, as in the Keras MNIST
            examples. Defaults to `0.0`.
        limit: keep only the first `limit` training and test images, for
            quick runs. Defaults to `None` (all).

    Raises:
        DataError: see `load_arrays`, or an argument outside its range.
    """
    arrays = source if isinstance(source, Arrays) else load_arrays(source)
    if limit is not None:
        arrays = dataclasses.replace(
            arrays,
            x_train=arrays.x_train[:limit],
            y_train=arrays.y_train[:limit],
            x_test=arrays.x_test[:limit],
            y_test=arrays.y_test[:limit],
        )
    if not 0.0 <= validation_split < 1.0:
        raise DataError(
            f"validation_split must be in [0, 1), received: {validation_split!r}"
        )
    x_train, y_train = arrays.x_train, arrays.y_train
    if validation_split:
        n_val = max(1, int(round(len(x_train) * validation_split)))
        if n_val >= len(x_train):
            raise DataError(
                f"validation_split={validation_split} leaves no training "
                f"images out of {len(x_train)}"
            )
        x_val, y_val = x_train[-n_val:], y_train[-n_val:]
        x_train, y_train = x_train[:-n_val], y_train[:-n_val]
    else:
        x_val, y_val = arrays.x_test, arrays.y_test

    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    if not 0 <= skip_batches < steps_per_epoch:
        raise DataError(
            f"skip_batches must be in [0, {steps_per_epoch}), "
            f"received: {skip_batches!r}"
        )
    return DataPipelines(
        name=arrays.name,
        train=train_dataset(
            x_train,
            y_train,
            batch_size=batch_size,
            seed=seed,
            epochs=epochs,
            initial_epoch=initial_epoch,
            skip_batches=skip_batches,
        ),
        validation=eval_dataset(x_val, y_val, batch_size),
        test=eval_dataset(arrays.x_test, arrays.y_test, batch_size),
        steps_per_epoch=steps_per_epoch,
        input_shape=tuple(arrays.input_shape),
        num_classes=arrays.num_classes,
        arrays=arrays,
        validation_arrays=(x_val, y_val),
    )


def train_dataset(
    x, y, *, batch_size, seed, epochs, initial_epoch=0, skip_batches=0
):
    """Batches of epochs `initial_epoch .. epochs - 1`, each shuffled by (seed, epoch).

    Images are gathered per batch from the uint8 arrays and normalized
    afterwards, which moves a quarter of the bytes a float pipeline would.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(with_channels(x))
    labels = tf.convert_to_tensor(y)
    count = len(x)
    seed = int(seed)

    def epoch_order(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64),
            seed=tf.stack([tf.constant(seed, tf.int64), epoch]),
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def gather(indices):
        return normalize(tf.gather(images, indices)), tf.gather(labels, indices)

    batches = tf.data.Dataset.range(initial_epoch, max(epochs, initial_epoch))
    batches = batches.flat_map(epoch_order)
    if skip_batches:
        batches = batches.skip(skip_batches)
    return batches.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )


def eval_dataset(x, y, batch_size):
    """Normalized, batched, prefetched (x, y) in their stored order."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((with_channels(x), y))
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(
        lambda images, labels: (normalize(images), labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def normalize(images):
    """uint8 0..255 (or float 0..1) images to float32 0..1."""
    import tensorflow as tf

    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) * (1.0 / 255.0)
    return tf.cast(images, tf.float32)


def normalize_array(x):
    """NumPy twin of `normalize`: images with a channel axis, float32 0..1."""
    x = with_channels(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(1.0 / 255.0)
    return x.astype(np.float32)
