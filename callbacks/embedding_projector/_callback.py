"""`EmbeddingProjector`: layer embeddings for the TensorBoard Projector.

Keras 3's `TensorBoard(embeddings_freq=...)` only covers `Embedding`
layers and saves them as a `.weights.h5` file, which the Projector cannot
read, under a config naming a TF-checkpoint tensor (keras-team/keras#20210);
this callback writes the whole layout the Projector loads itself.
"""

import numbers
import re
import warnings

import keras
import numpy as np
import tensorflow as tf

from .. import _fs
from .. import _summary
from .. import _validation
from .._copying import CopiesConfiguration
from . import _projector


class EmbeddingProjector(CopiesConfiguration, keras.callbacks.Callback):
    """Writes the embeddings of one layer for the TensorBoard Projector.

    A sample of `data` is fixed when the callback is created. At the end of
    training (and, if `freq` is set, at the end of every epoch where
    `epoch % freq == 0`, Keras' `histogram_freq` rule) the model runs on it with
    `training=False` and the chosen layer's activations, flattened to one
    row per example, are written to `<log_dir>/train` in the layout the
    Projector plugin loads: a checkpoint holding them as a variable,
    `projector_config.pbtxt`, `metadata.tsv` and, for image inputs,
    `sprite.png`. The Projector lists the run `train` (the directory holds
    event files; an empty one is created if it has none).

    Which activations:

    - `layer=None`: the input of the last layer in `model.layers` that owns
      weights, i.e. what the output layer sees (the last hidden
      representation). For Sequential and Functional models this is the
      layer order of the graph; for subclassed models it is the order in
      which `__init__` assigned the layers.
    - `layer="name"`: the output of the layer with that name, searched in
      `model.layers` and in nested models, for all three API styles. A
      layer called several times in one forward pass gives its last call.
    - `layer=fn`: `fn(model, batch)` returns the embeddings of a batch,
      e.g. `lambda model, x: model.encoder(x)` for a subclassed model that
      has a sub-model; it receives the model of the current fit, so it
      keeps working when Keras Tuner copies the callback.

    Every write replaces the previous one under the same file names, each
    file atomically, so two fits (or an interrupted one) leave a consistent
    set: the sample, metadata and sprite never change for one instance.

    `metadata.tsv` has one row per point in sample order. Without labels it
    is a single column (no header, as the Projector requires) holding each
    point's index in `data`; with labels it has the header `Index\\tLabel`.

    Args:
        log_dir: The run directory, shared with `keras.callbacks.TensorBoard`.
        data: Array of model inputs, shape (N, ...), from which the sample
            is drawn (a single-input model's `x`).
        labels: Array of N labels (one-hot rows are turned into class
            indices), or None. Defaults to `None`.
        layer: None, a layer name or a function `(model, batch) -> array`;
            see above. Defaults to `None`.
        sample_size: How many examples of `data` to embed, drawn at random
            (all of them if `data` is smaller). Defaults to `1000`.
        class_names: Names for integer labels, written instead of the label
            numbers, or None. Defaults to `None`.
        freq: Also write at the end of epochs where `epoch % freq == 0`
            (so epoch 0 is always written), or only at the end of training
            when None. Defaults to `None`.
        sprite: Whether to write a sprite image of the sample so the
            Projector shows each point as its image; needs images of shape
            (N, H, W) or (N, H, W, 1|3). Defaults to `True`.
        batch_size: Examples per forward pass. Defaults to `256`.
        seed: Seed of the sample's random draw. Defaults to `0`.

    Raises:
        TypeError: If `log_dir`, `layer`, `sprite` or `class_names` has the
            wrong type.
        ValueError: If `data` is empty, `labels` does not have one entry per
            example, `class_names` does not cover the labels, a count is not
            a positive integer, or (at the start of training) `layer` names
            no layer of the model.

    Example:

    ```python
    import numpy as np
    import keras
    from keras_tb_toolkit.callbacks import EmbeddingProjector

    x = np.random.rand(16, 8, 8).astype("float32")
    y = np.random.randint(0, 3, size=16)
    model = keras.Sequential([
        keras.Input((8, 8)), keras.layers.Flatten(),
        keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    projector = EmbeddingProjector("logs/run", x, labels=y, sample_size=8)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[projector])
    ```
    """

    # The sample is fixed and read-only: the copies KerasTuner makes for
    # each trial share it.
    _SHARED = ("_indices", "_sample", "_labels")

    def __init__(
        self,
        log_dir,
        data,
        labels=None,
        layer=None,
        sample_size=1000,
        class_names=None,
        freq=None,
        sprite=True,
        batch_size=256,
        seed=0,
    ):
        super().__init__()
        self.log_dir = _validation.check_log_dir(log_dir)
        self.sample_size = _validation.check_positive_int(
            sample_size, "sample_size"
        )
        self.freq = _validation.check_positive_int(freq, "freq", True)
        self.batch_size = _validation.check_positive_int(
            batch_size, "batch_size"
        )
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"`seed` must be an integer, received: {seed!r}")
        _validation.check_bool(sprite, "sprite")
        self.layer = _check_layer(layer)
        data = np.asarray(data)
        if data.ndim < 1 or len(data) == 0:
            raise ValueError(
                "`data` must be an array of at least one example, shape "
                f"(N, ...), received shape {data.shape}"
            )
        indices = _projector.sample_indices(len(data), self.sample_size, seed)
        self._indices = indices
        self._sample = data[indices]
        self._labels = _projector.check_labels(labels, len(data), class_names)
        if self._labels is not None:
            self._labels = self._labels[indices]
        self.class_names = _validation.check_names(class_names, "class_names")
        self.sprite = sprite and _sprite_possible(self._sample)
        self._sprite_png = None
        self._active = False
        self._writers = _summary.RunWriters(self.log_dir)

    def on_train_begin(self, logs=None):
        self._active = _summary.is_chief(self.model)
        if self._active:
            self._writers.hold("train")
        self._assets_written = False
        self._stale = True
        if isinstance(self.layer, str):
            _projector.find_layer(self.model, self.layer)

    def on_epoch_begin(self, epoch, logs=None):
        self._stale = True

    def on_epoch_end(self, epoch, logs=None):
        if self.freq and epoch % self.freq == 0:
            self._write()

    def on_train_end(self, logs=None):
        try:
            if self._stale:
                self._write()
        finally:
            self._writers.close()

    def _write(self):
        if not self._active:
            return
        try:
            embeddings = _projector.compute_embeddings(
                self.model, self._sample, self.layer, self.batch_size
            )
        except Exception as error:  # pylint: disable=broad-except
            # Never stop training for the Projector: say why once per fit.
            self._active = False
            warnings.warn(
                f"EmbeddingProjector could not compute the embeddings of "
                f"model {self.model.name!r}, so none are written: {error}",
                stacklevel=2,
            )
            return
        train_dir = _fs.join(self.log_dir, "train")
        assets = None
        if not self._assets_written:
            assets = (self._metadata(), self._sprite())
        _projector.write_projector(
            train_dir, self._attribute(), embeddings, assets
        )
        if not self._assets_written:
            _ensure_event_file(self._writers, train_dir)
            self._assets_written = True
        self._stale = False

    def _attribute(self):
        """Checkpoint attribute, shown by the Projector as the tensor name."""
        if callable(self.layer):
            return "embeddings"
        if self.layer is None:
            name = _projector.head_layer(self.model).name + "_input"
        else:
            name = self.layer
        name = re.sub(r"\W", "_", name)
        if name.startswith("_") or hasattr(tf.train.Checkpoint, name):
            name = "embeddings_" + name
        return name

    def _metadata(self):
        return _projector.metadata_tsv(
            self._indices, self._labels, self.class_names
        )

    def _sprite(self):
        if self.sprite and self._sprite_png is None:
            self._sprite_png = _projector.sprite_png(self._sample)
        return self._sprite_png


def _check_layer(layer):
    if isinstance(layer, keras.layers.Layer):
        raise TypeError(
            "`layer` must be None, a layer name or a function (model, batch) "
            f"-> embeddings, received the layer object {layer.name!r}; pass "
            f"its name, or `lambda model, x: ...` calling it"
        )
    if layer is None or callable(layer):
        return layer
    if not isinstance(layer, str) or not layer:
        raise TypeError(
            "`layer` must be None, a layer name or a function (model, batch) "
            f"-> embeddings, received: {layer!r}"
        )
    return layer


def _sprite_possible(sample):
    """Whether a sprite can be drawn; warns (once, here) why not."""
    shape = sample.shape
    if not _projector.is_image_batch(sample):
        warnings.warn(
            "EmbeddingProjector: `sprite=True` needs image inputs of shape "
            f"(N, H, W) or (N, H, W, 1|3), received data of shape "
            f"{(None,) + shape[1:]}; no sprite is written. Pass sprite=False "
            "to silence this warning.",
            stacklevel=3,
        )
        return False
    side = _projector.sprite_grid_side(len(sample)) * max(shape[1:3])
    if side > _projector.MAX_SPRITE_SIDE:
        warnings.warn(
            f"EmbeddingProjector: a sprite of {len(sample)} images of "
            f"{shape[1]}x{shape[2]} pixels would be {side} pixels wide, more "
            f"than the Projector's limit of {_projector.MAX_SPRITE_SIDE}; no "
            "sprite is written. Lower `sample_size` or pass sprite=False.",
            stacklevel=3,
        )
        return False
    return True


def _ensure_event_file(writers, run_dir):
    """TensorBoard lists a directory as a run only if it holds event files;
    the writer the run's callbacks share makes one if none is there."""
    if not tf.io.gfile.glob(_fs.join(run_dir, "events.out.tfevents*")):
        writers.writer("train")
        writers.flush()
