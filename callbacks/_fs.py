"""Where files live: the local disk, or any file system TensorFlow reaches.

Every path the callbacks and `ktb` read or write is either local (a plain
path or `file://`) or a URL whose scheme TensorFlow has a file system for
(`gs://`, `ram://`, `s3://` with tensorflow-io, `hdfs://`), reached through
`tf.io.gfile`. Local paths keep what only a local disk gives: fsync,
permission bits, atomic rename and exclusive create. A URL gets what every
file system gives: whole-object writes, listing, deletion; renames there may
be a copy and a delete, so nothing relies on them being atomic.

`check_file_system` and `check_reachable` turn a path TensorFlow cannot use
into one line naming the argument, the value and what is allowed. The file
operations below (`makedirs`, `listdir`, `read_bytes`, `write_bytes`,
`remove_quietly`, ...) take either kind of path: `os` and `open` on the
local disk, `tf.io.gfile` on a URL.
"""

import os
import posixpath
import re

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
LOCAL_SCHEMES = ("", "file")


class FileSystemError(ValueError):
    """A path on a file system this TensorFlow lacks, or cannot reach."""


def scheme(path):
    """The URL scheme of `path`, lower-cased; `""` for a plain path."""
    match = _URL.match(os.fspath(path))
    return match.group(1).lower() if match else ""


def is_local(path):
    """Whether `path` is on the local disk (a plain path or `file://`)."""
    return scheme(path) in LOCAL_SCHEMES


def local_path(path):
    """`path` without a `file://` prefix; other paths unchanged."""
    path = os.fspath(path)
    return path[len("file://"):] if scheme(path) == "file" else path


def join(path, *parts):
    """Joins like `os.path.join` locally and with `/` on a URL."""
    path = os.fspath(path)
    if is_local(path):
        return os.path.join(path, *parts)
    return posixpath.join(path, *parts)


def dirname(path):
    """The parent of `path`, with `/` on a URL."""
    path = os.fspath(path)
    return os.path.dirname(path) if is_local(path) else posixpath.dirname(path.rstrip("/"))


def registered_schemes():
    """The URL schemes this TensorFlow has a file system for, sorted."""
    import tensorflow as tf  # noqa: PLC0415 (local paths never need TensorFlow)

    return sorted(s for s in tf.io.gfile.get_registered_schemes() if s)


def check_file_system(path, argument):
    """Returns `path`, or raises `FileSystemError` when TensorFlow has no file system for it."""
    name = scheme(path)
    if name in LOCAL_SCHEMES:
        return path
    available = registered_schemes()
    if name not in available:
        raise FileSystemError(
            f"{argument}: this TensorFlow has no file system for {name}://, received: "
            f"{os.fspath(path)!r}; it has {', '.join(f'{s}://' for s in available)} "
            "and local paths (s3:// and hdfs:// come with tensorflow-io)"
        )
    return path


def check_reachable(path, argument):
    """Returns `path` once its file system answers about it, else raises `FileSystemError`.

    Asks whether `path` exists: a bucket that does not resolve or refuses
    access fails here, in one line, before anything is written.
    """
    check_file_system(path, argument)
    if is_local(path):
        return path
    import tensorflow as tf  # noqa: PLC0415

    try:
        tf.io.gfile.exists(os.fspath(path))
    except tf.errors.OpError as error:
        reason = str(error.message or error).strip().splitlines()[0]
        raise FileSystemError(
            f"{argument}: cannot reach {os.fspath(path)!r}: {reason}"
        ) from None
    return path


def _gfile():
    import tensorflow as tf  # noqa: PLC0415

    return tf.io.gfile


def errors():
    """The exceptions a file operation raises: `OSError` on the local disk,
    `tf.errors.OpError` too through `tf.io.gfile`."""
    import tensorflow as tf  # noqa: PLC0415

    return (OSError, tf.errors.OpError)


def makedirs(path):
    """Creates `path` and its parents; an existing directory is fine."""
    if is_local(path):
        os.makedirs(local_path(path), exist_ok=True)
    else:
        _gfile().makedirs(os.fspath(path))


def exists(path):
    if is_local(path):
        return os.path.exists(local_path(path))
    return _gfile().exists(os.fspath(path))


def isdir(path):
    if is_local(path):
        return os.path.isdir(local_path(path))
    return _gfile().isdir(os.fspath(path))


def listdir(path):
    """Names in directory `path` (no trailing `/`); [] when it is missing
    or not a directory."""
    if is_local(path):
        try:
            return os.listdir(local_path(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
    if not _gfile().isdir(os.fspath(path)):
        return []
    return [name.rstrip("/") for name in _gfile().listdir(os.fspath(path))]


def open_file(path, mode="rb"):
    """A binary file object: `open` locally, `tf.io.gfile.GFile` on a URL.

    Raises:
        FileNotFoundError: when reading a file that does not exist, on
            either kind of path.
    """
    if is_local(path):
        return open(local_path(path), mode)  # noqa: SIM115 (the caller closes it)
    if "r" in mode and not _gfile().exists(os.fspath(path)):
        raise FileNotFoundError(2, "No such file or directory", os.fspath(path))
    return _gfile().GFile(os.fspath(path), mode)


def read_bytes(path):
    """The whole content of the file at `path`."""
    with open_file(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    """Writes `data` to `path` in one piece, replacing any file there.

    On a URL this is one object write: whole on an object store (GCS
    publishes an upload only when it is complete), possibly partial where
    the file system streams (HDFS); readers that must not see a torn file
    verify a checksum. An existing file there is deleted first: TensorFlow's
    `ram://` appends to a file it opens "wb". A reader may then find no file
    for a moment; the readers of replaceable files (TensorBoard, and
    `pending.json`'s, which then deletes nothing) tolerate that.
    """
    if not is_local(path) and _gfile().exists(os.fspath(path)):
        remove_quietly(path)
    with open_file(path, "wb") as f:
        f.write(data)


def remove_quietly(path):
    """Deletes the file at `path`; a missing file is not an error."""
    if is_local(path):
        try:
            os.remove(local_path(path))
        except FileNotFoundError:
            pass
        return
    import tensorflow as tf  # noqa: PLC0415

    try:
        tf.io.gfile.remove(os.fspath(path))
    except tf.errors.NotFoundError:
        pass
