"""Pure helpers behind `EmbeddingProjector`.

They pick the sample, compute the embeddings of one layer, and write the
files the TensorBoard Projector plugin loads from a run directory:

```
<run>/train/projector_config.pbtxt    embeddings { tensor_name, metadata_path,
                                                   sprite { image_path, ... } }
<run>/train/checkpoint                state file naming `embeddings`
<run>/train/embeddings.index          tf.train.Checkpoint holding the
<run>/train/embeddings.data-*         (points, features) tf.Variable
<run>/train/metadata.tsv              one row per point
<run>/train/sprite.png                square grid of the sample's images
```

The plugin takes every directory holding event files as a run, reads
`projector_config.pbtxt` there, finds the checkpoint through the `checkpoint`
state file and resolves `metadata_path` and `sprite.image_path` relative to
the config (they must stay inside that directory).
"""

import math
import re

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins import projector

from .. import _activations
from .. import _atomic_io
from .. import _confusion
from .. import _fs
from .. import _validation

CONFIG_FILENAME = "projector_config.pbtxt"
CHECKPOINT_PREFIX = "embeddings"
METADATA_FILENAME = "metadata.tsv"
SPRITE_FILENAME = "sprite.png"
# The Projector front end refuses sprite atlases larger than this.
MAX_SPRITE_SIDE = 8192


def is_image_batch(data):
    """Whether `data` is a batch of images: (N, H, W) or (N, H, W, 1|3)."""
    shape = np.shape(data)
    if len(shape) == 3:
        return True
    return len(shape) == 4 and shape[-1] in (1, 3)


def sprite_grid_side(num_images):
    """Images per row (and column) of the square sprite atlas."""
    return max(1, math.ceil(math.sqrt(num_images)))


def sample_indices(num_examples, sample_size, seed):
    """Sorted indices of at most `sample_size` examples, drawn without
    replacement by a generator seeded with `seed` (all of them if fewer)."""
    if num_examples <= sample_size:
        return np.arange(num_examples)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_examples, size=sample_size, replace=False))


def check_labels(labels, num_examples, class_names):
    """`labels` as a 1-D array (None stays None), checked against the
    number of examples and `class_names`; raises ValueError naming them."""
    if labels is None:
        if class_names is not None:
            raise ValueError(
                "`class_names` needs `labels` to name, received labels=None"
            )
        return None
    labels = np.asarray(labels)
    try:
        normalized = _confusion.class_labels(labels, "`labels`", ids=False)
    except ValueError:
        if labels.ndim == 2 and labels.shape[1] > 1:
            raise  # Rows that are not one-hot: its message says which.
        normalized = None
    if normalized is None or len(normalized) != num_examples:
        raise ValueError(
            f"`labels` must have one entry per example of `data` "
            f"({num_examples}), received shape {np.shape(labels)}"
        )
    if class_names is not None:
        count = len(_validation.check_names(class_names, "class_names"))
        valid = np.issubdtype(normalized.dtype, np.integer) and (
            normalized.min() >= 0 and normalized.max() < count
        )
        if not valid:
            raise ValueError(
                f"`labels` must be integers in [0, {count}) to index the "
                f"{count} `class_names`, received values "
                f"{np.unique(normalized)[:10].tolist()}"
            )
    return normalized


def _tsv_cell(value):
    return re.sub(r"[\t\r\n]+", " ", str(value)) or " "


def metadata_tsv(indices, labels=None, class_names=None):
    """Text of `metadata.tsv`, one row per point, in sample order.

    Without labels: one column, the index of each point in `data`, and no
    header (the Projector's rule for single-column files). With labels: the
    header `Index\\tLabel`, then the index and the label (its class name
    when `class_names` is given).
    """
    if labels is None:
        return "".join(f"{i}\n" for i in indices)
    rows = ["Index\tLabel"]
    for index, label in zip(indices, labels):
        if class_names is not None:
            label = class_names[int(label)]
        rows.append(f"{index}\t{_tsv_cell(label)}")
    return "\n".join(rows) + "\n"


def _to_uint8(images):
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    images = images.astype(np.float64)
    low, high = float(np.min(images)), float(np.max(images))
    if low >= 0.0 and high <= 1.0:
        scaled = images * 255.0
    elif high > low:
        scaled = (images - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(images)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def sprite_png(images):
    """Encodes images (N, H, W[, 1|3]) as a square sprite atlas.

    Images fill the grid row by row from the top-left, in sample order, the
    order the Projector assumes; empty cells stay black. uint8 images are
    used as they are, floats in [0, 1] are scaled by 255 and other ranges are
    stretched to [0, 255].

    Returns:
        (png_bytes, (width, height) of one image).
    """
    images = _to_uint8(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    count, height, width, channels = images.shape
    side = sprite_grid_side(count)
    padded = np.zeros((side * side, height, width, channels), np.uint8)
    padded[:count] = images
    atlas = padded.reshape(side, side, height, width, channels)
    atlas = atlas.transpose(0, 2, 1, 3, 4).reshape(
        side * height, side * width, channels
    )
    return tf.io.encode_png(atlas).numpy(), (width, height)


def _layer_tree(model):
    """All layers of `model`, depth first, nested models' layers included."""
    for layer in model.layers:
        yield layer
        if getattr(layer, "layers", None):
            yield from _layer_tree(layer)


def layer_names(model):
    return [layer.name for layer in _layer_tree(model)]


def find_layer(model, name):
    """The layer called `name` anywhere in `model`, or ValueError."""
    for layer in _layer_tree(model):
        if layer.name == name:
            return layer
    raise ValueError(
        f"`layer` must name a layer of model {model.name!r}, received: "
        f"{name!r}. Available layers: {', '.join(layer_names(model))}"
    )


def head_layer(model):
    """The last layer of `model.layers` that owns weights: the output layer
    whose input is taken as the default embedding."""
    for layer in reversed(model.layers):
        if layer.weights:
            return layer
    raise ValueError(
        f"EmbeddingProjector with `layer=None` embeds the input of the last "
        f"layer with weights, but model {model.name!r} has no layer with "
        f"weights. Pass `layer=` one of: {', '.join(layer_names(model))}"
    )


def _flat_numpy(value):
    array = np.asarray(tf.convert_to_tensor(value))
    return array.reshape(array.shape[0], -1).astype(np.float32)


def compute_embeddings(model, inputs, layer, batch_size):
    """Embeddings of `inputs`, one row per example, as float32 (N, D).

    `layer` is None (the input of `head_layer(model)`), a layer name (that
    layer's output), or a function `(model, batch) -> (batch, ...)`. The
    model runs with `training=False` on batches of `batch_size`; outputs
    with more than two axes are flattened per example.
    """
    if not callable(layer):
        take_input = layer is None
        target = head_layer(model) if take_input else find_layer(model, layer)
    chunks = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start:start + batch_size]
        if callable(layer):
            chunks.append(_flat_numpy(layer(model, batch)))
            continue
        captured = []

        def record(layer, args, kwargs, outputs):
            if take_input:
                captured.append(args[0] if args else next(iter(kwargs.values())))
            else:
                captured.append(outputs)

        with _activations.intercepting_calls([target], record):
            model(batch, training=False)
        if not captured:
            raise ValueError(
                f"Layer {target.name!r} was not called when model "
                f"{model.name!r} ran on the sample, so it has no embedding."
            )
        chunks.append(_flat_numpy(captured[-1]))
    return np.concatenate(chunks, axis=0)


def checkpoint_tensor_name(attribute):
    """Checkpoint key of a variable saved as `tf.train.Checkpoint(attr=v)`."""
    return f"{attribute}/.ATTRIBUTES/VARIABLE_VALUE"


def write_projector(directory, attribute, embeddings, assets=None):
    """Writes the embeddings and, when `assets` is given, the files that
    describe them.

    `embeddings` are saved as the variable `attribute` of a checkpoint with
    the fixed prefix `embeddings` (TensorFlow renames each checkpoint file
    into place) and the `checkpoint` state file points at it. `assets` is
    None or `(metadata_text, sprite)` with `sprite` None or
    `(png_bytes, (width, height))`. Files are written so that every file a
    reader can see names only files that already exist: metadata and
    sprite, then the checkpoint, then the config; each one atomically (on a
    URL, each replaced whole, an earlier checkpoint deleted first).
    """
    _fs.makedirs(directory)
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = checkpoint_tensor_name(attribute)
    if assets is not None:
        metadata, sprite = assets
        _atomic_io.write_atomically(
            _fs.join(directory, METADATA_FILENAME), metadata
        )
        embedding.metadata_path = METADATA_FILENAME
        if sprite is not None:
            png, single_image_dim = sprite
            _atomic_io.write_atomically(
                _fs.join(directory, SPRITE_FILENAME), png
            )
            embedding.sprite.image_path = SPRITE_FILENAME
            embedding.sprite.single_image_dim.extend(single_image_dim)
    variable = tf.Variable(embeddings, trainable=False, name=attribute)
    prefix = _fs.join(directory, CHECKPOINT_PREFIX)
    if not _fs.is_local(directory):
        # TensorFlow's ram:// appends to the index of an earlier write.
        for name in _fs.listdir(directory):
            if name.startswith(CHECKPOINT_PREFIX + "."):
                _fs.remove_quietly(_fs.join(directory, name))
    tf.train.Checkpoint(**{attribute: variable}).write(prefix)
    # The `checkpoint` state file `tf.train.latest_checkpoint` reads; the
    # relative path keeps the run directory movable.
    _atomic_io.write_atomically(
        _fs.join(directory, "checkpoint"),
        f'model_checkpoint_path: "{CHECKPOINT_PREFIX}"\n'
        f'all_model_checkpoint_paths: "{CHECKPOINT_PREFIX}"\n',
    )
    if assets is not None:
        # The same text `projector.visualize_embeddings` writes, but atomic.
        _atomic_io.write_atomically(
            _fs.join(directory, CONFIG_FILENAME),
            text_format.MessageToString(config),
        )
