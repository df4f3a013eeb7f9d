"""Summary writers, the chief and the global step, shared by the callbacks.

Callbacks write below the run directory with the layout of
`keras.callbacks.TensorBoard` (`train/`, `validation/`), so a run directory
can be shared with it.

One events file per directory: TensorBoard's Python loader follows only the
newest events file of a run directory, so if each callback opened its own
writer, every callback but the last to open would vanish from a dashboard
watched during training. The writers are therefore shared through a
process-wide registry keyed by the directory's normalised path: every
`RunWriters` writing into `<run>/train` in one process gets the same
`tf.summary` writer, which is closed when its last holder releases it.

Only the chief writes, by the rules of the `tf.distribute` strategy itself
(`should_save_summary`, `should_checkpoint`): under a multi-worker strategy
callbacks run once per worker process, and a job must have one writer.
"""

import os
import threading

import keras
import tensorflow as tf

from . import _writable
from ._copying import CopiesConfiguration


def _strategy(model=None):
    strategy = getattr(model, "distribute_strategy", None)
    return strategy or tf.distribute.get_strategy()


def is_chief(model=None):
    """Whether this process should write summaries and files.

    Asks the distribution strategy of `model` (or the current one): a single
    process, with or without `MirroredStrategy`, is always the chief; under
    `MultiWorkerMirroredStrategy` only the chief task (or worker 0 when the
    cluster has no chief) is.
    """
    return bool(_strategy(model).extended.should_save_summary)


def should_checkpoint(model=None):
    """Whether this process should write checkpoints (the strategy's rule)."""
    return bool(_strategy(model).extended.should_checkpoint)


def optimizer_steps(model):
    """The training steps `model.optimizer` has taken (a host read), or None
    when the model has no optimizer (a hand-written loop, for one)."""
    iterations = getattr(getattr(model, "optimizer", None), "iterations", None)
    if iterations is None:
        return None
    return int(keras.ops.convert_to_numpy(iterations))


class EpochSteps:
    """Summary steps of a callback that keeps one curve over several fits.

    The step of an epoch is the epoch index, except that a `fit` whose
    `initial_epoch` starts before the last step written continues after it,
    so that no step is written twice. Call `begin()` in `on_train_begin`
    and `step(epoch)` in `on_epoch_end`.
    """

    def __init__(self):
        self._next = 0
        self._offset = None

    def begin(self):
        """Starts a new `fit`: its first epoch fixes its offset."""
        self._offset = None

    def step(self, epoch):
        """The step of `epoch` in this `fit`."""
        if self._offset is None:
            self._offset = max(0, self._next - epoch)
        step = epoch + self._offset
        self._next = step + 1
        return step


def _key(path):
    """The registry key of a directory: one per directory, however named."""
    if "://" in path:  # gs://, ram://: no local normalisation applies.
        return path.rstrip("/")
    return os.path.normcase(os.path.abspath(path))


class _Shared:
    """One directory's writer, opened on first use, and its holders."""

    def __init__(self, path):
        self.path = path
        self.holders = 0
        self.writer = None
        self.proven = False  # Writable, checked once while it is held.


class _SharedWriters:
    """The process-wide registry of `_Shared` writers, by directory.

    A hold does not open the writer (no events file appears for a callback
    that has nothing to write); the first `open` does, and the writer
    closes when its last holder releases it.
    """

    def __init__(self):
        self._lock = threading.Lock()  # Figures are written from threads.
        self._entries = {}

    def acquire(self, path):
        with self._lock:
            entry = self._entries.setdefault(_key(path), _Shared(path))
            entry.holders += 1
            return entry

    def open(self, entry):
        with self._lock:
            if entry.writer is None:
                entry.writer = tf.summary.create_file_writer(entry.path)
            return entry.writer

    def release(self, entry):
        with self._lock:
            entry.holders -= 1
            writer = entry.writer
            if entry.holders > 0:
                closing = False
            else:
                closing = True
                self._entries.pop(_key(entry.path), None)
        if writer is None:
            return
        if closing:
            writer.close()
        else:
            writer.flush()

    def holders(self, path):
        """How many holders share the writer of `path` (0: none)."""
        with self._lock:
            entry = self._entries.get(_key(path))
            return entry.holders if entry else 0


SHARED_WRITERS = _SharedWriters()


class RunWriters(CopiesConfiguration):
    """`tf.summary` writers for the subdirectories of a run, shared per
    directory within the process (see the module docstring).

    `writer("train")` returns the writer of `<log_dir>/train`, opening it
    on first use. `flush()` writes what was written to disk. `close()`
    releases every hold (the writer closes when no callback holds it any
    more); the next `writer()` call takes a new hold, so one instance can
    serve several `fit()` calls. A deep copy holds nothing.
    """

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self):
        return {"_held": {}}

    def _entry(self, subdir):
        entry = self._held.get(subdir)
        if entry is None:
            path = os.path.join(self.log_dir, subdir) if subdir else self.log_dir
            entry = SHARED_WRITERS.acquire(path)
            self._held[subdir] = entry
        return entry

    def hold(self, *subdirs):
        """Holds the writers of `subdirs` from now on, without opening them.

        A callback calls this in `on_train_begin` for the directories it
        may write into (when it is the chief): a shared writer then stays
        open until the last callback of the run releases it in
        `on_train_end`, so one `fit` writes one events file per directory,
        whatever order the callbacks write and finish in. Each directory is
        proven writable on its first hold, before any training step.

        Raises:
            LogDirError: naming the directory and the reason when it cannot
                be created or written.
        """
        for subdir in subdirs:
            entry = self._entry(subdir)
            if not entry.proven:
                _writable.prove_writable(entry.path)
                entry.proven = True

    def writer(self, subdir=""):
        return SHARED_WRITERS.open(self._entry(subdir))

    def writing(self, subdir="", step=None):
        """`writer(subdir).as_default(step)`, whose flush on exit raises
        `LogDirError` (naming the events file's directory and what is still
        intact) when the disk refuses the events, instead of TensorFlow's
        raw error."""
        entry = self._entry(subdir)
        return _Writing(SHARED_WRITERS.open(entry), entry.path, step)

    def flush(self):
        """Flushes every held writer.

        Raises:
            LogDirError: an events file could not be written (a full disk,
                a directory removed), naming it and what is still intact.
        """
        for entry in list(self._held.values()):
            if entry.writer is None:
                continue
            try:
                entry.writer.flush()
            except (tf.errors.OpError, OSError) as error:
                raise _events_error(entry.path, error) from error

    def close(self):
        held, self._held = self._held, {}
        for entry in held.values():
            SHARED_WRITERS.release(entry)


class _Writing:
    """The context of `RunWriters.writing`: errors of the body pass through;
    a failed flush on leaving becomes one `LogDirError`."""

    def __init__(self, writer, path, step):
        self._context = writer.as_default(step=step)
        self._path = path

    def __enter__(self):
        return self._context.__enter__()

    def __exit__(self, kind, value, traceback):
        try:
            return self._context.__exit__(kind, value, traceback)
        except (tf.errors.OpError, OSError) as error:
            if kind is not None:
                raise
            raise _events_error(self._path, error) from error


def _events_error(path, error):
    reason = getattr(error, "message", None) or error
    return _writable.LogDirError(
        f"could not write TensorBoard events into {path}: {reason}. What was "
        "flushed before is intact: events files are checksummed records, "
        "read up to the last whole one."
    )
