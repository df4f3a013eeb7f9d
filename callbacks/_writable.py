"""Proving, before training starts, that a callback can write where it will.

A callback that finds its directory unwritable only when it first writes
fails after an epoch or more of training, or at the end of it. Each
callback therefore creates its directories and writes (then removes) a
probe file in `on_train_begin`, and a failure is one error naming the path
and the reason. Directories made only for the probe are removed again,
so that nothing appears for a callback that has nothing to write. A URL
(`gs://`, `ram://`: see `_fs`) is first asked whether it is reachable, then
probed through `tf.io.gfile`, which is how TensorFlow's writers reach it;
the directories made there stay (an object store has none to remove).
"""

import os
import uuid

import tensorflow as tf

from . import _fs

_PROBE_PREFIX = ".ktb-probe-"


class LogDirError(OSError):
    """A callback cannot create or write one of its directories."""


def prove_writable(directory, what="Log directory", error=LogDirError,
                   keep=False):
    """Creates `directory` and writes a probe file in it, then removes it.

    Args:
        directory: the directory a callback is about to write into; any of
            it that did not exist is removed again after the probe unless
            `keep`.
        what: how the message names the directory. Defaults to
            `"Log directory"`.
        error: the `OSError` subclass raised. Defaults to `LogDirError`.
        keep: leave the directory in place even when the probe created it.
            Defaults to `False`.

    Raises:
        error: naming `directory` and the reason (a file in its path, a
            read-only file system, no permission, a full disk, a bucket
            that does not answer).
        FileSystemError: (a `ValueError`) for a URL whose scheme this
            TensorFlow has no file system for.
    """
    probe = _PROBE_PREFIX + uuid.uuid4().hex
    if not _fs.is_local(directory):
        _fs.check_file_system(directory, what)
        try:
            _fs.check_reachable(directory, what)
        except _fs.FileSystemError as e:
            raise error(str(e)) from e.__cause__
    try:
        if not _fs.is_local(directory):
            tf.io.gfile.makedirs(directory)
            path = _fs.join(directory, probe)
            with tf.io.gfile.GFile(path, "wb") as f:
                f.write(b"probe")
            tf.io.gfile.remove(path)
            return
        directory = _fs.local_path(directory)
        created = [] if keep else _missing_ancestors(directory)
        try:
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, probe)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"probe")
                os.fsync(fd)
            finally:
                os.close(fd)
                _fs.remove_quietly(path)
        finally:
            # A callback that writes nothing (or cannot) leaves no directory.
            for made in created:
                _remove_empty(made)
    except (OSError, tf.errors.OpError) as e:
        reason = getattr(e, "strerror", None) or getattr(e, "message", None)
        message = (
            f"{what} {directory!r} is not writable: {reason or e}. Choose a "
            "directory you can write to (checked before training starts)."
        )
        code = getattr(e, "errno", None)
        raise (error(code, message) if code else error(message)) from e


def _missing_ancestors(directory):
    """The directories `makedirs` would create, deepest first."""
    missing, path = [], os.path.abspath(directory)
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _remove_empty(directory):
    try:
        os.rmdir(directory)
    except OSError:
        pass  # Written to meanwhile, by another callback: it stays.
