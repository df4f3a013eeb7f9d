"""Argument checks shared by the callbacks.

Every message names the argument, the value received and what is allowed, so
that a bad constructor call fails before training starts.
"""

import numbers
import os

from . import _fs


def check_log_dir(log_dir, name="log_dir"):
    """Returns `log_dir` as a string path; nothing is created yet.

    A `file://` URL becomes the plain path it names. Any other URL must be
    on a file system this TensorFlow has and that answers (`_fs`), else a
    `FileSystemError` (a `ValueError`) names the argument and the value.
    """
    if isinstance(log_dir, os.PathLike):
        log_dir = os.fspath(log_dir)
    if not isinstance(log_dir, str) or not log_dir:
        raise TypeError(
            f"`{name}` must be a non-empty path (str or os.PathLike), "
            f"received: {log_dir!r}"
        )
    log_dir = _fs.local_path(log_dir)
    if not _fs.is_local(log_dir):
        _fs.check_reachable(log_dir, f"`{name}`")
    if _fs.exists(log_dir) and not _fs.isdir(log_dir):
        raise ValueError(
            f"`{name}` must be a directory, received the path of a file: "
            f"{log_dir!r}"
        )
    return log_dir


def check_positive_int(value, name, allow_none=False):
    """Returns `value` if it is an int >= 1 (or None when allowed)."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 1
    ):
        allowed = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(f"`{name}` must be {allowed}, received: {value!r}")
    return int(value)


def check_int_at_least(value, name, minimum, alternative=""):
    """Returns `value` if it is an int >= `minimum`.

    `alternative` names what else the caller accepts, e.g. `"'epoch' or "`,
    for the message.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(
            f"`{name}` must be {alternative}an integer >= {minimum}, "
            f"received: {value!r}"
        )
    return int(value)


def check_bool(value, name):
    """Returns `value` if it is True or False (not merely truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False, received: {value!r}")
    return value


def check_choice(value, name, allowed):
    """Returns `value` if it is one of `allowed`, of the same type: `1` is
    not `True` here, though Python holds them equal."""
    if not any(type(value) is type(a) and value == a for a in allowed):
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(
            f"`{name}` must be one of {choices}, received: {value!r}"
        )
    return value


def check_names(value, name):
    """Returns a tuple of strings from None, one string or a sequence."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        names = None
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(
            f"`{name}` must be None, a string or a non-empty sequence of "
            f"strings, received: {value!r}"
        )
    return names
