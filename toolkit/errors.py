"""Errors of the toolkit.

Each subclasses a builtin so callers can keep catching `ValueError` or
`OSError`; the CLI turns them into a one-line message and exit status 2.
"""


class ToolkitError(Exception):
    """Base class of the errors the CLI reports as usage errors."""


class DataError(ToolkitError, ValueError):
    """A data set name, file or array that cannot be used."""


class ConfigError(ToolkitError, ValueError):
    """An argument (epochs, batch size, API style...) outside what is allowed."""


class LogDirError(ToolkitError, OSError):
    """A log directory that cannot be created or written."""


class ReportError(ToolkitError, ValueError):
    """A log directory with nothing to report: no event files or no scalars."""


class RunLockedError(ToolkitError, RuntimeError):
    """A run directory that another process is training."""
