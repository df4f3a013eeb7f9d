"""The checkpoint directory's files: saving off the training thread, and
the errors a save reports.

Every file is written with the steps of `callbacks._atomic_io` (temporary
file, fsync, rename, fsync of the directory; on a URL, a local temporary
file uploaded under a new name and read back); here are what only
checkpoints need: a temporary file written by Keras' own `save`, one
background save at a time, and a writable directory proven before
training starts.
"""

import threading

from .. import _atomic_io
from .. import _fs
from .. import _writable
from . import _manifest
from .._copying import CopiesConfiguration


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the message says what is intact."""


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
        f"{describe_intact(directory)}"
    )
    code = getattr(error, "errno", None)
    if code is None:
        return CheckpointWriteError(message)
    return CheckpointWriteError(code, message)


def describe_intact(directory):
    """What the directory holds that can be trusted, checked now: a failed
    save may come with a deleted directory or a damaged file."""
    name = _manifest.MANIFEST_NAME
    if not _fs.is_local(directory):
        name = "newest verified manifest.<n>.json"
    try:
        manifest = _manifest.read(directory)
    except _manifest.CheckpointCorruptError:
        return f"Its {name} is not valid: no checkpoint is known intact."
    if manifest is None:
        return f"It holds no {name}: no checkpoint is known intact."
    listed = manifest["checkpoints"]
    intact = [e["file"] for e in listed if _manifest.verify(directory, e) is None]
    if len(intact) == len(listed):
        return f"The {len(listed)} checkpoint(s) named in its {name} are intact."
    return (f"Of the {len(listed)} checkpoint(s) named in its {name}, these "
            f"are intact: {', '.join(intact) or 'none'}.")


def write_temp(directory, name, save):
    """Runs `save(path)` on a new temporary file beside `name`; returns path.

    Raises:
        CheckpointWriteError: when `save` fails with an OSError (a full
            disk, for one); the temporary file is removed.
    """
    temp_path = None
    try:
        temp_path = _atomic_io.reserve_temp(directory, name, private=True)
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
    _writable.prove_writable(directory, "Checkpoint directory",
                             CheckpointWriteError, keep=True)
    _atomic_io.remove_temp_files(directory)
