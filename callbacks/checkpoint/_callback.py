"""Checkpoint: best top-k and last checkpoints, atomic writes, exact resume."""

import warnings

import keras

from .._copying import CopiesConfiguration
from .._summary import optimizer_steps, should_checkpoint
from .._validation import check_bool
from .._validation import check_choice
from .._validation import check_int_at_least
from .._validation import check_log_dir
from . import _files
from . import _manifest
from . import _monitor
from . import _restore

class Checkpoint(CopiesConfiguration, keras.callbacks.Callback):
    """Keeps the best `save_top_k` checkpoints and the newest, crash-safely.

    Does the work of `ModelCheckpoint` and `BackupAndRestore` together. At
    each epoch end (and every `save_freq` batches when an integer) the model
    is written as `epoch=0003-step=000300-val_loss=0.1234.keras` (mid-epoch:
    `epoch=0003-batch=0050-step=...`; epochs count from 1 as in
    `ModelCheckpoint`). The best `save_top_k` by `monitor` and the
    `keep_last` newest are kept and listed in `manifest.json` (epoch,
    batches, step, metric, kind, sha256); a pruned file is deleted only once
    the manifest no longer names it. NaN or inf never becomes best. Files
    and manifest are written to a temporary file, fsync'ed, renamed, and the
    directory fsync'ed: a process killed at any instant leaves a valid
    manifest naming complete files. The training thread only serialises
    the model; checksum, fsyncs, manifest and pruning finish on a
    background thread, one save at a time (`wait()` joins it, as do the
    next save, `on_train_end` and `restore`). Only the process the
    distribution strategy names to checkpoint writes (`should_checkpoint`:
    the chief). A mid-epoch save ranks only if `monitor` is in the batch
    logs (`val_*` metrics are not).

    `restore(model)` loads the newest checkpoint whose checksum matches and
    that loads (warning once when it skips newer ones) and returns a
    `ResumeState`; when that one holds NaN or inf weights (a diverged run),
    it loads the best-ranked checkpoint with finite weights instead and
    says which. After a mid-epoch save, resume at `initial_epoch`
    feeding only that epoch's remaining batches (skip `batches_consumed`;
    with `fit`, run them as `fit(initial_epoch=e, epochs=e + 1)` first),
    never the whole epoch again on mid-epoch weights; the callback counts
    batches from there and continues the best value. The directory belongs
    to the callback: checkpoints accumulate across `fit` calls and runs.
    The only files it deletes are its temporary files, checkpoints it
    pruned, and a file a killed save renamed into place before listing it
    (each save records both in `pending.json` first); any other unlisted
    checkpoint file is left in place with a warning. Without a manifest,
    `restore` rebuilds it from the checkpoint files that load (warning
    once), or refuses, naming them, when none does. Checkpoints and their
    manifest are private to their owner (mode 0600), unlike the files
    TensorBoard shows (0666 less the umask): they hold the whole model and
    optimizer state, and TensorBoard never reads them.

    What holds on which file system: on a local disk, all of the above. On
    a URL (`gs://`, `s3://`, `hdfs://`, `ram://`), where a rename may be a
    copy and a delete, no rename is used: the model is saved to a local
    temporary file, uploaded under its final name (never over an existing
    file) and read back to match its sha256 and size; the manifest is a
    new generation `manifest.<n>.json` sealed by its own sha256, written
    and read back before older generations (also deleted) and pruned
    checkpoints are. A save killed at any instant leaves the last verified
    generation, naming verified files, as the manifest; a torn newer one is
    ignored, a file damaged later fails its checksum and `restore` skips it.
    No fsync or permission bits there: durability and access are the
    store's (bucket ACLs, IAM).

    Args:
        directory: where checkpoints and `manifest.json` go; created when
            training starts.
        monitor: the logged metric ranking checkpoints. Defaults to
            `"val_loss"`.
        mode: `"min"`, `"max"` or `"auto"` (the metric's direction, else
            its name, as in Keras). Defaults to `"auto"`.
        save_top_k: how many best checkpoints to keep (0: none). Defaults to
            `3`.
        keep_last: how many newest checkpoints to keep. Defaults to `1`.
        save_freq: `"epoch"`, or an integer to save also every that many
            batches of each epoch. Defaults to `"epoch"`.
        save_weights_only: write `.weights.h5` files (weights and optimizer
            variables) instead of `.keras` models. Defaults to `False`.

    Raises:
        ValueError: on an argument outside what is allowed, or when the
            directory already ranks another monitor or mode.
        TypeError: on an argument of the wrong type.
        CheckpointWriteError: (an `OSError`) when the directory is not
            writable (checked in `on_train_begin`) or a save fails, e.g. on
            a full disk; the checkpoints already listed stay valid.
        CheckpointCorruptError: (a `ValueError`) from `restore` when no
            checkpoint in the directory is valid.

    Example:

    ```python
    import numpy as np
    import keras
    from keras_tb_toolkit.callbacks import Checkpoint

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.ones((8, 4)), np.ones((8, 1))
    checkpoint = Checkpoint("logs/run/checkpoints", save_top_k=2)
    state = checkpoint.restore(model)  # None on the first run
    model.fit(x, y, validation_split=0.25, epochs=1, verbose=0,
              initial_epoch=state.initial_epoch if state else 0,
              callbacks=[checkpoint])
    ```
    """

    def __init__(
        self,
        directory,
        monitor="val_loss",
        mode="auto",
        save_top_k=3,
        keep_last=1,
        save_freq="epoch",
        save_weights_only=False,
    ):
        super().__init__()
        self.directory = check_log_dir(directory, "directory")
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(
                "`monitor` must be a non-empty metric name (str), "
                f"received: {monitor!r}"
            )
        self.monitor = monitor
        self.mode = check_choice(mode, "mode", ("auto", "min", "max"))
        self.save_top_k = check_int_at_least(save_top_k, "save_top_k", 0)
        self.keep_last = check_int_at_least(keep_last, "keep_last", 1)
        if save_freq != "epoch":
            save_freq = check_int_at_least(
                save_freq, "save_freq", 1, "'epoch' or "
            )
        self.save_freq = save_freq
        self.save_weights_only = check_bool(
            save_weights_only, "save_weights_only"
        )
        self.best = None
        self._every = None if save_freq == "epoch" else save_freq
        self._begun = self._warned_missing = False
        self._resume = self._resume_at = None
        self._writer = _files.BackgroundWriter(self.directory)
        self._rejected = ()
        self._entries, self._stale, self._next_seq = [], [], 1
        self._foreign = set()
        self._epoch = self._offset = self._batches_done = self._steps = 0

    def on_train_begin(self, logs=None):
        self._epoch = self._offset = self._batches_done = 0
        self._begin()

    def _begin(self):
        self.wait()
        self._mode = _monitor.resolve_mode(self.monitor, self.mode, self.model)
        resume, self._resume, self._resume_at = self._resume, None, None
        if resume:
            self._steps = resume.global_step
            self._resume_at = (resume.initial_epoch, resume.batches_consumed)
        self._begun = True
        if not should_checkpoint(self.model):
            return
        _files.prepare_directory(self.directory)
        self._entries, self._stale, self._next_seq = _manifest.adopt(
            self.directory, self.monitor, self._mode, self._rejected
        )
        self._rejected = ()
        # Unlisted files someone else left keep their names: a new
        # checkpoint never takes one (on a URL, it could not).
        listed = {e["file"] for e in self._entries}.union(self._stale)
        self._foreign = set(_manifest.orphans(self.directory, listed))
        newest = self._entries[-1]["best_so_far"] if self._entries else None
        self.best = resume.best if resume else newest

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._offset = epoch, self._batches_saved_in(epoch)
        if self._resume_at and self._resume_at[0] == epoch:
            self._offset = self._resume_at[1]
        self._batches_done, self._resume_at = self._offset, None

    def _batches_saved_in(self, epoch):
        """Batches of `epoch` trained before a mid-epoch checkpoint that
        was restored, by any instance: `fit` numbers a resumed segment's
        batches from 0, so the count comes from what survives a kill, the
        listed entry whose step the restored optimizer holds."""
        steps = optimizer_steps(self.model)
        for entry in reversed(self._entries):
            if (entry["epoch"], entry["global_step"]) == (epoch, steps) and (
                not entry["end_of_epoch"]
            ):
                return entry["batch"]
        return 0

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1 + self._offset
        previous, self._batches_done = self._batches_done, done
        self._steps += done - previous
        if self._every and done // self._every > previous // self._every:
            self._save(self._epoch, done, False, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch
        self._save(epoch, self._batches_done, True, logs)
        self._epoch, self._offset, self._batches_done = epoch + 1, 0, 0

    def on_train_end(self, logs=None):
        self.wait()
        self._begun = False

    def wait(self):
        """Blocks until the last save is durable; raises its write error."""
        self._writer.wait()

    def _save(self, epoch, batch, end_of_epoch, logs):
        if not self._begun:
            self._begin()  # A hand-written loop may skip on_train_begin.
        if not should_checkpoint(self.model):
            return
        self.wait()
        value = _monitor.monitored_value(logs, self.monitor)
        if value is None and end_of_epoch and not self._warned_missing:
            self._warned_missing = True
            warnings.warn(
                f"Checkpoint: monitor {self.monitor!r} is not in the logs "
                f"(available: {sorted(logs or {})}); checkpoints are kept "
                "as 'last' only.",
                stacklevel=3,
            )
        best = _monitor.best_of(self.best, value, self._mode)
        entry = _manifest.new_entry(
            self._next_seq, epoch, batch, end_of_epoch, self._global_step(),
            value, best, self.save_weights_only,
        )
        taken = {e["file"] for e in self._entries}.union(self._stale, self._foreign)
        entry["file"] = _manifest.checkpoint_name(entry, self.monitor, taken)
        save = self.model.save
        if self.save_weights_only:
            save = self.model.save_weights
        temp_path = _files.write_temp(self.directory, entry["file"], save)
        self.best, self._next_seq = best, self._next_seq + 1
        kept, dropped = _manifest.retain(
            self._entries + [entry], self.save_top_k, self.keep_last, self._mode
        )
        dropped = [e["file"] for e in dropped] + self._stale
        self._entries, self._stale = kept, []
        header = {"monitor": self.monitor, "mode": self._mode,
                  "best": best, "next_seq": self._next_seq}
        self._writer.start(
            entry["file"], _manifest.publish, self.directory, temp_path,
            entry, header, list(kept), dropped,
        )

    def _global_step(self):
        steps = optimizer_steps(self.model)
        return self._steps if steps is None else steps

    def restore(self, model=None):
        """Loads the newest valid checkpoint into `model`.

        Args:
            model: a built model, compiled for its optimizer state to be
                restored. Defaults to the callback's model; with neither, a
                `.keras` checkpoint is loaded as a new model with
                `keras.saving.load_model(..., safe_mode=True)`.

        Returns:
            A `ResumeState`, or None when the directory holds no checkpoint.

        Raises:
            CheckpointCorruptError: when no listed checkpoint is valid; the
                message names the directory and each file's fault.
            ValueError: when `model` is unbuilt, or missing for weights-only
                checkpoints.
        """
        self.wait()
        model = model if model is not None else self.model
        mode = _monitor.resolve_mode(self.monitor, self.mode, model)
        newest = _restore.load_newest(self.directory, model, self.monitor, mode)
        if newest is None:
            return None
        entry, loaded, faults = newest
        if faults:
            warnings.warn(
                f"Checkpoint: skipped {len(faults)} newer checkpoint(s) in "
                f"{self.directory!r} ({_manifest.describe(faults)}); "
                f"restored {entry['file']!r} instead.",
                stacklevel=2,
            )
        self._resume = _restore.resume_state(self.directory, entry, loaded)
        self._rejected = tuple(name for name, _ in faults)
        self.best = self._resume.best
        return self._resume
