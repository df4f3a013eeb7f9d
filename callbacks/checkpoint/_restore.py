"""Loading the newest valid checkpoint back, for `Checkpoint.restore`."""

import contextlib
import dataclasses
import warnings

import keras
import numpy as np

from .. import _fs
from . import _manifest
from . import _monitor
from . import _rebuild


@dataclasses.dataclass(frozen=True)
class ResumeState:
    """Where a restored run continues (returned by `Checkpoint.restore`).

    `initial_epoch` is the epoch to continue at; `batches_consumed` the
    batches of that epoch already trained, to be skipped (0 after an
    end-of-epoch save); `global_step` the optimizer steps so far; `best` the
    best monitored value so far; `path` the file loaded; `model` the model
    holding the restored state.
    """

    path: str
    initial_epoch: int
    batches_consumed: int
    global_step: int
    best: float | None
    model: object = None


def resume_state(directory, entry, loaded):
    """The `ResumeState` after loading manifest `entry` as `loaded`."""
    end = entry["end_of_epoch"]
    return ResumeState(
        path=_fs.join(directory, entry["file"]),
        initial_epoch=entry["epoch"] + 1 if end else entry["epoch"],
        batches_consumed=0 if end else entry["batch"],
        global_step=entry["global_step"],
        best=entry["best_so_far"],
        model=loaded,
    )


def load_newest(directory, model, monitor, mode):
    """Loads the newest checkpoint of `directory` that is valid.

    A checkpoint is valid when its size and sha256 match the manifest and
    it loads; newer ones that do not are skipped. Without a manifest, the
    one listing the files that load is rebuilt first (`_rebuild`).

    Args:
        directory: the checkpoint directory.
        monitor: the callback's monitor, to rank a rebuilt manifest by.
        mode: `"min"` or `"max"`.
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
    if manifest is None:
        if model is None and _weights_only_files(directory):
            _needs_model(directory)
        return _rebuild.rebuild(
            directory, monitor, mode, lambda path: load(model, path)
        )
    if not manifest["checkpoints"]:
        return None
    entries = manifest["checkpoints"]
    if model is None and any(e["weights_only"] for e in entries):
        _needs_model(directory)
    newest = _manifest.newest_valid(
        directory, manifest, lambda path: load(model, path)
    )
    if _finite(newest[1]):
        return newest
    return _best_finite(directory, manifest, model, newest)


def _finite(model):
    return all(
        np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights
    )


def _best_finite(directory, manifest, model, diverged):
    """The best-ranked checkpoint with finite weights, else the newest.

    A run that diverged saves NaN weights as its newest checkpoint; resuming
    from them can only produce more NaN, so the best finite one is loaded
    instead, and the warning says which.
    """
    entry = diverged[0]
    rank = _monitor.rank_key(manifest["mode"])
    others = [e for e in manifest["checkpoints"] if e["seq"] < entry["seq"]]
    ranked = sorted((e for e in others if _monitor.is_finite(e["value"])), key=rank)
    ranked += sorted((e for e in others if e not in ranked),
                     key=lambda e: e["seq"], reverse=True)
    for candidate in ranked:
        path = _fs.join(directory, candidate["file"])
        if _manifest.verify(directory, candidate) is not None:
            continue
        try:
            loaded = load(model, path)
        except Exception:  # Any load failure means "invalid".
            continue
        if _finite(loaded):
            warnings.warn(
                f"Checkpoint: the newest checkpoint {entry['file']!r} holds "
                f"NaN or inf weights; restored {candidate['file']!r} instead, "
                f"the best with finite weights ({manifest['monitor']}="
                f"{candidate['value']}).",
                stacklevel=4,
            )
            return candidate, loaded, diverged[2]
    warnings.warn(
        f"Checkpoint: every checkpoint in {directory!r} holds NaN or inf "
        f"weights; restored the newest, {entry['file']!r}.",
        stacklevel=4,
    )
    return entry, load(model, _fs.join(directory, entry["file"])), diverged[2]


def _weights_only_files(directory):
    return [n for n in _fs.listdir(directory) if n.endswith(".weights.h5")]


def _needs_model(directory):
    raise ValueError(
        "restore() needs `model` for weights-only checkpoints; "
        f"received None for {directory!r}."
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
