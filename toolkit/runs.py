"""Run directories: `<logdir>/<experiment>/<run>/`, unique, never overwritten."""

import datetime
import os
import re

from .errors import ConfigError, LogDirError

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
    """
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


def existing_run_dir(logdir, experiment, run_name):
    """The directory of a run to resume; it must exist."""
    path = os.path.join(os.fspath(logdir), experiment, run_name)
    if not os.path.isdir(path):
        raise ConfigError(
            f"--resume: no run {run_name!r} under "
            f"{os.path.join(os.fspath(logdir), experiment)} to resume"
        )
    return path


def check_logdir(logdir):
    """Fails unless `logdir` is an existing directory."""
    path = os.fspath(logdir)
    if not os.path.exists(path):
        raise LogDirError(f"LOGDIR: {path} does not exist")
    if not os.path.isdir(path):
        raise LogDirError(
            f"LOGDIR: {path} is a file, not a directory; pass the directory "
            "that holds the event files"
        )
    return path
