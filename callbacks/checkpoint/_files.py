"""The checkpoint directory's files: saving off the training thread, and
the errors a save reports.

Every file is written with the steps of `callbacks._atomic_io` (temporary
file, fsync, rename, fsync of the directory); here are what only
checkpoints need: a temporary file written by Keras' own `save`, one
background save at a time, and a writable directory proven before
training starts.
"""

import os
import threading

from .. import _atomic_io
from .._copying import CopiesConfiguration


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the previous ones are intact."""


class BackgroundWriter(CopiesConfiguration):
    """Runs one write at a time on a thread; `wait` re-raises its failure.

    The training thread only hands over a finished temporary file; the
    fsyncs, renames and manifest happen here. The thread is not a daemon,
    so the interpreter waits for it before exiting. A deep copy has no
    write under way.
    """

    def __init__(self, directory):
        self.directory = directory
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self):
        return {"_thread": None, "_failure": None}

    def start(self, name, write, *args):
        """Runs `write(*args)` for checkpoint `name` once the last is done."""
        self.wait()

        def run():
            try:
                write(*args)
            except BaseException as e:  # Re-raised on the training thread.
                self._failure = (name, e)

        self._thread = threading.Thread(target=run, name="ktb-checkpoint")
        self._thread.start()

    def wait(self):
        """Blocks until the write is durable; raises CheckpointWriteError."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        failure, self._failure = self._failure, None
        if failure is not None:
            name, error = failure
            raise write_error(name, self.directory, error) from error


def write_error(name, directory, error):
    """The CheckpointWriteError for `error` while writing `name`."""
    message = (
        f"Could not write checkpoint {name!r} in {directory!r}: {error}. "
        "The checkpoints named in its manifest.json are intact."
    )
    code = getattr(error, "errno", None)
    if code is None:
        return CheckpointWriteError(message)
    return CheckpointWriteError(code, message)


def write_temp(directory, name, save):
    """Runs `save(path)` on a new temporary file beside `name`; returns path.

    Raises:
        CheckpointWriteError: when `save` fails with an OSError (a full
            disk, for one); the temporary file is removed.
    """
    temp_path = None
    try:
        temp_path = _atomic_io.reserve_temp(directory, name)
        save(temp_path)
    except BaseException as e:
        if temp_path is not None:
            _atomic_io.remove_quietly(temp_path)
        if isinstance(e, OSError):
            raise write_error(name, directory, e) from e
        raise
    return temp_path


def prepare_directory(directory):
    """Creates `directory`, proves it writable and removes stale temp files.

    Raises:
        CheckpointWriteError: if the directory cannot be created or written.
    """
    try:
        os.makedirs(directory, exist_ok=True)
        probe = _atomic_io.reserve_temp(directory, "probe")
        try:
            with open(probe, "wb") as f:
                f.write(b"probe")
                f.flush()
                os.fsync(f.fileno())
        finally:
            _atomic_io.remove_quietly(probe)
    except OSError as e:
        raise CheckpointWriteError(
            e.errno,
            f"Checkpoint directory {directory!r} is not writable: {e}. "
            "Choose a directory you can write to (checked before training "
            "starts).",
        ) from e
    _atomic_io.remove_temp_files(directory)
