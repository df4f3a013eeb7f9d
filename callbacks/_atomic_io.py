"""Crash-safe file writes: plots, Projector files and checkpoints.

A file becomes visible under its final name only once its bytes are on disk:
it is written to a temporary file in the same directory, flushed and
fsync'ed, moved over the final name with `os.replace` (atomic on POSIX and
Windows), and the directory is fsync'ed so that the rename itself survives a
power loss. A process killed at any instant leaves either the old file or the
new one, never a torn one; at worst a temporary file (`TEMP_PREFIX`), which
the checkpoint callback deletes on its next start. `write_atomically` does
this for any file; `commit_file` is the last step for a temporary file
written by someone else (Keras saving a checkpoint).

On a URL (`gs://`, `ram://`: see `_fs`) there is no fsync and a rename may
be a copy and a delete, so none is relied on: `write_atomically` writes the
object whole under its final name, a temporary file is a local one
(`tempfile`), and `commit_file` uploads it under a name not yet taken and
reads it back to verify its sha256 and size. Permission bits are the file
system's own there.
"""

import errno
import hashlib
import io
import os
import secrets
import tempfile

from . import _fs

TEMP_PREFIX = ".ktb-tmp-"
_CHUNK = 1 << 20


def reserve_temp(directory, final_name, private=False):
    """Creates an empty temporary file beside `final_name`; returns its path.

    The temporary name ends with `final_name`, so its extension (which Keras
    checks when saving) is kept. The file gets the permissions of any new
    file, 0666 less the process umask, as TensorFlow's own writers do, so
    that a TensorBoard run by another account can read what it shows;
    `private` files get 0600 (owner only), as `tempfile` makes them. For a
    `directory` on a URL the temporary file is a local one (0600), since
    Keras and h5py write only to local files; `commit_file` uploads it.
    """
    if not _fs.is_local(directory):
        fd, path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=f"-{final_name}")
        os.close(fd)
        return path
    directory = _fs.local_path(directory)
    while True:
        path = os.path.join(
            directory, f"{TEMP_PREFIX}{secrets.token_hex(4)}-{final_name}"
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600 if private else 0o666)
        except FileExistsError:
            continue  # Another writer drew the same name: draw again.
        os.close(fd)
        return path


def file_digest(path, sync=False):
    """Returns `(sha256 hex digest, size in bytes)`; fsyncs when `sync`
    (a local file only)."""
    digest = hashlib.sha256()
    size = 0
    with _fs.open_file(path, "r+b" if sync else "rb") as f:
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

    On a URL, the local `temp_path` is uploaded to `final_path`, which must
    not exist yet (nothing is overwritten), then read back: a copy whose
    sha256 or size differ raises `OSError` (`EIO`). The caller removes
    `temp_path` afterwards in either case.

    Returns:
        `(sha256 hex digest, size)` of the committed file.
    """
    if not _fs.is_local(final_path):
        return _upload_verified(temp_path, final_path)
    digest = file_digest(temp_path, sync=True)
    os.replace(temp_path, final_path)
    fsync_dir(os.path.dirname(final_path))
    return digest


def _upload_verified(local, url):
    if _fs.exists(url):
        raise FileExistsError(errno.EEXIST, "exists, not overwritten", url)
    digest = file_digest(local)
    with open(local, "rb") as source, _fs.open_file(url, "wb") as target:
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            target.write(chunk)
    found = file_digest(url)
    if found != digest:
        raise OSError(
            errno.EIO, f"read back {found[1]} bytes that do not match the "
            f"{digest[1]} written (sha256)", url,
        )
    return digest


def write_atomically(path, content, mode=None, private=False):
    """Atomically and durably replaces the file at `path`.

    On a URL the file is written whole in one object write (see the module
    docstring); `mode` and `private` apply to local files only.

    Args:
        path: the file to write; its directory must exist.
        content: bytes, a str (written as UTF-8), or a callable that writes
            to the binary file object it is given.
        mode: permission bits to set, overriding `private`. Defaults to
            `None`: those of any new file (0666 less the umask).
        private: owner-only permissions (0600) instead. Defaults to
            `False`.
    """
    if not _fs.is_local(path):
        _fs.write_bytes(path, _as_bytes(content))
        return
    path = _fs.local_path(path)
    directory, name = os.path.split(path)
    temp_path = reserve_temp(directory, name, private)
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


def _as_bytes(content):
    if isinstance(content, str):
        return content.encode()
    if callable(content):
        buffer = io.BytesIO()
        content(buffer)
        return buffer.getvalue()
    return content


def remove_temp_files(directory):
    """Deletes temporary files left by a write that was interrupted."""
    for name in _fs.listdir(directory):
        if name.startswith(TEMP_PREFIX):
            remove_quietly(_fs.join(directory, name))


def remove_quietly(path):
    """Deletes `path`, local or a URL; a missing file is not an error."""
    _fs.remove_quietly(path)
