"""Crash-safe file writes: plots, Projector files and checkpoints.

A file becomes visible under its final name only once its bytes are on disk:
it is written to a temporary file in the same directory, flushed and
fsync'ed, moved over the final name with `os.replace` (atomic on POSIX and
Windows), and the directory is fsync'ed so that the rename itself survives a
power loss. A process killed at any instant leaves either the old file or the
new one, never a torn one; at worst a temporary file (`TEMP_PREFIX`), which
the checkpoint callback deletes on its next start (`remove_temp_files`).
`write_atomically` does this for any file (plots, Projector files); the
checkpoint callback builds on the same steps and adds pause points.

Test-only pause points (checkpoint saves only): `pause(stage, path)` is
called between the steps of a save (see `STAGES`). It calls the module-level
`test_hook(stage, path)` when one is set, and sleeps when the environment
variable `KTB_CHECKPOINT_TEST_PAUSE` is `"<seconds>"` (every stage) or
`"<stage>:<seconds>"` (that stage only), after printing one line
`KTB_CHECKPOINT_TEST_PAUSE stage=<stage> path=<path>` to stderr, so that a
test can kill the process in the middle of a save. Never set either outside
tests.
"""

import errno
import hashlib
import os
import sys
import tempfile
import threading
import time

TEMP_PREFIX = ".ktb-tmp-"
PAUSE_ENV = "KTB_CHECKPOINT_TEST_PAUSE"
STAGES = (
    "checkpoint_written",  # temporary file complete and fsync'ed, not renamed
    "checkpoint_replaced",  # checkpoint in place, manifest not yet naming it
    "manifest_written",  # new manifest in its temporary file, not renamed
    "manifest_replaced",  # new manifest in place, pruned files not deleted
)
_CHUNK = 1 << 20

# Test-only: a callable(stage, path) run at each pause point.
test_hook = None


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the previous ones are intact."""


def pause(stage, path):
    """Test-only pause point between two steps of a save."""
    hook = test_hook
    if hook is not None:
        hook(stage, path)
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    wanted, _, seconds = spec.rpartition(":")
    if wanted and wanted != stage:
        return
    sys.stderr.write(f"{PAUSE_ENV} stage={stage} path={path}\n")
    sys.stderr.flush()
    time.sleep(float(seconds))


class BackgroundWriter:
    """Runs one write at a time on a thread; `wait` re-raises its failure.

    The training thread only hands over a finished temporary file; the
    fsyncs, renames and manifest happen here. The thread is not a daemon,
    so the interpreter waits for it before exiting.
    """

    def __init__(self, directory):
        self.directory = directory
        self._thread = None
        self._failure = None

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
        temp_path = reserve_temp(directory, name)
        save(temp_path)
    except BaseException as e:
        if temp_path is not None:
            remove_quietly(temp_path)
        if isinstance(e, OSError):
            raise write_error(name, directory, e) from e
        raise
    return temp_path


def reserve_temp(directory, final_name):
    """Creates an empty temporary file beside `final_name`; returns its path.

    The temporary name ends with `final_name`, so its extension (which Keras
    checks when saving) is kept.
    """
    fd, path = tempfile.mkstemp(
        prefix=TEMP_PREFIX, suffix="-" + final_name, dir=directory
    )
    os.close(fd)
    return path


def file_digest(path, sync=False):
    """Returns `(sha256 hex digest, size in bytes)`; fsyncs when `sync`."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "r+b" if sync else "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
        if sync:
            os.fsync(f.fileno())
    return digest.hexdigest(), size


def fsync_dir(directory):
    """Makes renames in `directory` durable (a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory.
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def commit_file(temp_path, final_path):
    """Durably moves a finished temporary file to its final name.

    Returns:
        `(sha256 hex digest, size)` of the committed file.
    """
    digest = file_digest(temp_path, sync=True)
    pause("checkpoint_written", final_path)
    os.replace(temp_path, final_path)
    fsync_dir(os.path.dirname(final_path))
    return digest


def write_atomically(path, content, mode=None):
    """Atomically and durably replaces the file at `path`.

    Args:
        path: the file to write; its directory must exist.
        content: bytes, a str (written as UTF-8), or a callable that writes
            to the binary file object it is given.
        mode: permission bits for the file, or None to keep those of a
            temporary file (owner read and write only).
    """
    directory, name = os.path.split(path)
    temp_path = reserve_temp(directory, name)
    try:
        with open(temp_path, "wb") as f:
            if isinstance(content, str):
                content = content.encode()
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(temp_path, mode)
        os.replace(temp_path, path)
    except BaseException:
        remove_quietly(temp_path)
        raise
    fsync_dir(directory)


def write_manifest_bytes(path, data):
    """`write_atomically(path, data)` with the `manifest_written` pause."""

    def write_then_pause(f):
        f.write(data)
        f.flush()
        pause("manifest_written", path)

    write_atomically(path, write_then_pause)


def prepare_directory(directory):
    """Creates `directory`, proves it writable and removes stale temp files.

    Raises:
        CheckpointWriteError: if the directory cannot be created or written.
    """
    try:
        os.makedirs(directory, exist_ok=True)
        probe = reserve_temp(directory, "probe")
        try:
            with open(probe, "wb") as f:
                f.write(b"probe")
                f.flush()
                os.fsync(f.fileno())
        finally:
            remove_quietly(probe)
    except OSError as e:
        raise CheckpointWriteError(
            e.errno,
            f"Checkpoint directory {directory!r} is not writable: {e}. "
            "Choose a directory you can write to (checked before training "
            "starts).",
        ) from e
    remove_temp_files(directory)


def remove_temp_files(directory):
    """Deletes temporary files left by a save that was interrupted."""
    for name in os.listdir(directory):
        if name.startswith(TEMP_PREFIX):
            remove_quietly(os.path.join(directory, name))


def remove_quietly(path):
    """Deletes `path`; a missing file is not an error."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
