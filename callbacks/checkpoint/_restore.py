"""Loading the newest valid checkpoint back, for `Checkpoint.restore`."""

import contextlib

import keras

from . import _manifest


def load_newest(directory, model):
    """Loads the newest checkpoint of `directory` that is valid.

    A checkpoint is valid when its size and sha256 match the manifest and
    it loads; newer ones that do not are skipped.

    Args:
        directory: the checkpoint directory.
        model: a built model to load the weights (and, once compiled, the
            optimizer state) into, or None to load a `.keras` checkpoint as
            a new model with `keras.saving.load_model(..., safe_mode=True)`.

    Returns:
        None when the directory holds no checkpoint, else `(manifest entry,
        the model loaded, [(file, fault), ...] of the newer files skipped)`.

    Raises:
        CheckpointCorruptError: when no listed checkpoint is valid; the
            message names the directory and each file's fault.
        ValueError: when `model` is unbuilt, or None for weights-only
            checkpoints.
    """
    if model is not None and not model.built:
        raise ValueError(
            "restore() needs a built model (call it on a batch or "
            f"build() it first); received unbuilt {model.name!r}."
        )
    manifest = _manifest.read(directory)
    if not manifest or not manifest["checkpoints"]:
        return None
    entries = manifest["checkpoints"]
    if model is None and any(e["weights_only"] for e in entries):
        raise ValueError(
            "restore() needs `model` for weights-only checkpoints; "
            f"received None for {directory!r}."
        )
    return _manifest.newest_valid(
        directory, manifest, lambda path: load(model, path)
    )


def load(model, path):
    """Loads the checkpoint at `path` into `model` (or as a new model)."""
    if model is None:
        return keras.saving.load_model(path, safe_mode=True)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        strategy = getattr(model, "distribute_strategy", None)
        with strategy.scope() if strategy else contextlib.nullcontext():
            optimizer.build(model.trainable_variables)
    model.load_weights(path)
    return model
