"""Run directories: `<logdir>/<experiment>/<run>/`, unique, never overwritten.

A run directory is locked while a process trains it (`RunLock`, in
`_run_lock`), so that two `ktb train --resume` of one run cannot train the
same epochs into it at once.

A log directory may be a URL (`gs://bucket/logs`), reached through
`tf.io.gfile`. There a new run's name is checked free and then created,
not created exclusively as on a local disk: two processes naming the same
run in the same instant could share it (give `--run-name`s that differ).
"""

import datetime
import os
import re

from . import _remote
from ._run_lock import (
    LOCK_FILE,
    SETTLE_S,
    UNWRITTEN_LOCK_S,
    RunLock,
    check_unlocked,
    held_message,
    is_stale,
    read_lock,
)
from .errors import ConfigError, LogDirError

__all__ = [
    "LOCK_FILE",
    "SETTLE_S",
    "UNWRITTEN_LOCK_S",
    "RunLock",
    "check_logdir",
    "check_run_name",
    "check_unlocked",
    "check_writable",
    "create_run_dir",
    "existing_run_dir",
    "held_message",
    "is_stale",
    "read_lock",
]

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_run_name(name, argument="--run-name"):
    """Run names are one path component of letters, digits, '.', '_', '-'."""
    if name is not None and not _RUN_NAME.match(name):
        raise ConfigError(
            f"{argument}: {name!r} is not a valid name; use letters, digits, "
            "'.', '_' and '-', starting with a letter or digit"
        )
    return name


def check_writable(logdir, argument="--logdir"):
    """Fails unless `logdir` exists as a writable directory or can be created.

    Nothing is created: the check walks up to the nearest existing ancestor.
    A URL is asked once whether it exists, which tells that its file system
    answers; whether it may be written shows at the first write.

    Raises:
        LogDirError: a local `logdir` that cannot be created or written.
        FileSystemError: a URL on a file system this TensorFlow lacks or
            cannot reach (see `callbacks._fs`).
    """
    if _remote.is_url(logdir):
        return _remote.check_url(os.fspath(logdir), argument)
    path = os.path.abspath(os.fspath(logdir))
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise LogDirError(
            f"{argument}: {logdir} cannot be created: {probe} is a file, "
            "not a directory"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise LogDirError(
            f"{argument}: {logdir} is not writable ({probe} denies writing)"
        )
    return path


def create_run_dir(logdir, experiment, run_name=None, prefix="run"):
    """Creates and returns a new, empty run directory.

    With `run_name`, an existing directory of that name is an error; without
    it, the name is `<prefix>-<start time>`, suffixed `-2`, `-3`... until it
    is new.
    """
    parent = os.path.join(os.fspath(logdir), experiment)
    if _remote.is_url(parent):
        return _create_url_run_dir(parent, run_name, prefix)
    try:
        os.makedirs(parent, exist_ok=True)
        if run_name is not None:
            path = os.path.join(parent, run_name)
            try:
                os.mkdir(path)
            except FileExistsError:
                raise ConfigError(
                    f"--run-name: {path} already exists; runs are never "
                    "overwritten: choose another name (or --resume it)"
                ) from None
            return path
        stamp = datetime.datetime.now().strftime(f"{prefix}-%Y%m%d-%H%M%S")
        for attempt in range(1, 10_000):
            name = stamp if attempt == 1 else f"{stamp}-{attempt}"
            try:
                os.mkdir(os.path.join(parent, name))
            except FileExistsError:
                continue
            return os.path.join(parent, name)
    except OSError as error:
        raise LogDirError(
            f"--logdir: cannot create a run directory under {parent}: "
            f"{error.strerror or error}"
        ) from None
    raise LogDirError(f"--logdir: no free run name under {parent}")


def _create_url_run_dir(parent, run_name, prefix):
    """`create_run_dir` under a URL: a free name is looked for, then made."""
    import tensorflow as tf

    if run_name is not None:
        path = os.path.join(parent, run_name)
        if _remote.exists(path):
            raise ConfigError(
                f"--run-name: {path} already exists; runs are never "
                "overwritten: choose another name (or --resume it)"
            )
    else:
        stamp = datetime.datetime.now().strftime(f"{prefix}-%Y%m%d-%H%M%S")
        names = (stamp if n == 1 else f"{stamp}-{n}" for n in range(1, 10_000))
        path = next((os.path.join(parent, name) for name in names
                     if not _remote.exists(os.path.join(parent, name))), None)
        if path is None:
            raise LogDirError(f"--logdir: no free run name under {parent}")
    try:
        with _remote.os_errors(path):
            tf.io.gfile.makedirs(path)
    except OSError as error:
        raise LogDirError(
            f"--logdir: cannot create a run directory under {parent}: "
            f"{error.strerror or error}"
        ) from None
    return path


def existing_run_dir(logdir, experiment, run_name):
    """The directory of a run to resume; it must exist."""
    path = os.path.join(os.fspath(logdir), experiment, run_name)
    if not _remote.isdir(path):
        raise ConfigError(
            f"--resume: no run {run_name!r} under "
            f"{os.path.join(os.fspath(logdir), experiment)} to resume"
        )
    return path


def check_logdir(logdir):
    """Fails unless `logdir` is an existing directory, local or a URL.

    Raises:
        LogDirError: `logdir` is missing or is a file.
        FileSystemError: a URL on a file system this TensorFlow lacks or
            cannot reach (see `callbacks._fs`).
    """
    path = _remote.check_url(os.fspath(logdir), "LOGDIR")
    if not _remote.exists(path):
        raise LogDirError(f"LOGDIR: {path} does not exist")
    if not _remote.isdir(path):
        raise LogDirError(
            f"LOGDIR: {path} is a file, not a directory; pass the directory "
            "that holds the event files"
        )
    return path
