"""The toolkit's files on the local disk or on any file system TensorFlow reaches.

A path with a scheme (`gs://bucket/logs`, `ram://x`, `file:///tmp/logs`)
is read and written through `tf.io.gfile`; a plain path keeps `os`, whose
errors name the file and whose guarantees (exclusive create, fsync, atomic
rename) only a local disk gives. Telling the two apart needs no TensorFlow,
so a usage error about a local path still answers at once; what a URL may
be is decided by `callbacks._fs`, the one place that knows the schemes
TensorFlow has.

The readers here turn TensorFlow's errors into `OSError`s naming the file,
so their callers handle a refused read the same way on both.
"""

import contextlib
import errno
import os


def is_url(path):
    """Whether `path` has a scheme, and so goes through `tf.io.gfile`.

    `file://` counts: gfile reads it like any URL. Answered without
    importing TensorFlow.
    """
    return "://" in os.fspath(path)


def check_url(path, argument):
    """Returns `path`; a URL must be on a file system TensorFlow has and reaches.

    A plain path is returned unchecked (its own checks follow where it is
    used). Asks the remote file system once, writing nothing.

    Args:
        path: a local path or a URL.
        argument: the argument's name in the error, e.g. `"--logdir"`.

    Raises:
        FileSystemError: (from `callbacks._fs`, a `ValueError`) the scheme
            is not one of this TensorFlow's, or the path cannot be reached;
            one line naming `argument`, the value and what is allowed.
    """
    if is_url(path):
        _fs().check_reachable(path, argument)
    return path


@contextlib.contextmanager
def os_errors(path):
    """Turns TensorFlow's file system errors inside the block into `OSError`s.

    `NotFoundError` becomes `FileNotFoundError`, `PermissionDeniedError`
    `PermissionError`, any other `OpError` an `OSError` (EIO), each naming
    `path` and keeping TensorFlow's message as its `strerror`.
    """
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as error:
        kinds = {
            tf.errors.NotFoundError: (FileNotFoundError, errno.ENOENT),
            tf.errors.PermissionDeniedError: (PermissionError, errno.EACCES),
        }
        kind, number = kinds.get(type(error), (OSError, errno.EIO))
        lines = (error.message or str(error) or "").strip().splitlines()
        message = lines[0] if lines else type(error).__name__
        raise kind(number, message, os.fspath(path)) from None


def exists(path):
    """`os.path.exists`, or `tf.io.gfile.exists` for a URL."""
    if not is_url(path):
        return os.path.exists(path)
    with os_errors(path):
        return _fs().exists(path)


def isdir(path):
    """`os.path.isdir`, or `tf.io.gfile.isdir` for a URL."""
    if not is_url(path):
        return os.path.isdir(path)
    with os_errors(path):
        return _fs().isdir(path)


def read_bytes(path):
    """The whole content of the file `path`, local or a URL.

    Raises:
        OSError: the file is missing or cannot be read.
    """
    if not is_url(path):
        with open(path, "rb") as handle:
            return handle.read()
    with os_errors(path):
        return _fs().read_bytes(path)


def write_object(path, content):
    """Writes `content` (bytes or str) to the URL `path` as one whole object.

    No temporary file and rename: on an object store a rename is a copy
    and a delete, no safer than writing the object itself, which readers
    see only once it is whole (`callbacks._fs.write_bytes`, which also
    deletes a file already there: `ram://` would append to it).

    Raises:
        OSError: the file system refused the write.
    """
    if isinstance(content, str):
        content = content.encode()
    with os_errors(path):
        _fs().write_bytes(path, content)


def remove(path):
    """Deletes the URL `path`; a missing one is not an error."""
    with os_errors(path):
        _fs().remove_quietly(path)


def _fs():
    """`callbacks._fs`, imported when a URL is used (it brings TensorFlow)."""
    from ..callbacks import _fs

    return _fs
