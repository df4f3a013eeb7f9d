"""Whether an events file holds whole records only, from its framing.

TensorBoard reads an events file up to its last whole record and takes a
cut tail for data still being written, without a word (`RawEventFileLoader`
logs the `DataLossError` at debug level and retries later). A report would
then rank a run on a value that is not its last. Walking the record headers
tells where the whole records end; the data itself is not read.
"""

import os
import struct

from . import _remote

# TFRecord framing: uint64 length, uint32 masked CRC-32C of the length, the
# data, uint32 masked CRC-32C of the data.
_RECORD_HEADER = struct.Struct("<QI")
_RECORD_FOOTER = 4


def truncated_files(directory, logdir):
    """`[(file relative to logdir, bytes read, size)]` of truncated files."""
    from ._tensorboard_compat import is_events_file

    if _remote.is_url(directory):
        return _truncated_url_files(directory, logdir)
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if is_events_file(path) and os.path.isfile(path):
            size = os.path.getsize(path)
            read = truncated_at(path, size)
            if read is not None:
                relative = os.path.relpath(path, logdir).replace(os.sep, "/")
                found.append((relative, read, size))
    return found


def _truncated_url_files(directory, logdir):
    """`truncated_files` of a directory given as a URL, through `tf.io.gfile`.

    Its listing gives subdirectories a trailing "/" and no events file name
    ends in one; the size comes from one `stat` per events file.
    """
    import tensorflow as tf

    from ._tensorboard_compat import is_events_file

    found = []
    with _remote.os_errors(directory):
        names = sorted(tf.io.gfile.listdir(directory))
    for name in names:
        path = f"{directory.rstrip('/')}/{name}"
        if name.endswith("/") or not is_events_file(path):
            continue
        with _remote.os_errors(path):
            size = tf.io.gfile.stat(path).length
            with tf.io.gfile.GFile(path, "rb") as handle:
                read = _walk_records(handle, size)
        if read is not None:
            found.append((path[len(logdir.rstrip("/")) + 1:], read, size))
    return found


def truncated_at(path, size=None):
    """Where the whole records of an events file end, if bytes follow.

    Walks the record headers only (no data is read): the file is whole when
    the last record ends exactly at its size. A header whose checksum is
    wrong ends the walk too, as it ends TensorBoard's reading.

    Args:
        path: An events file.
        size: Its size in bytes. Defaults to `None`: its size now.

    Returns:
        The offset just past the last whole record, or None when the file
        holds whole records only.
    """
    size = os.path.getsize(path) if size is None else size
    with open(path, "rb") as f:
        return _walk_records(f, size)


def _walk_records(f, size):
    """`truncated_at` of the open binary file `f` of `size` bytes."""
    from ._tensorboard_compat import masked_crc32c

    offset = 0
    while offset < size:
        header = f.read(_RECORD_HEADER.size)
        if len(header) < _RECORD_HEADER.size:
            return offset
        length, checksum = _RECORD_HEADER.unpack(header)
        end = offset + _RECORD_HEADER.size + length + _RECORD_FOOTER
        if masked_crc32c(header[:8]) != checksum or end > size:
            return offset
        f.seek(end)
        offset = end
    return None
