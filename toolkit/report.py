"""`ktb report`: one figure and a text summary from a log directory.

The figure, drawn with `matplotlib.figure.Figure` (no pyplot, no window),
has the curves of the chosen metric for every run, one axes per subset
(train, validation) side by side, the legend beside them; the final values
of every run compared in a bar chart, best first; and, for a search, the
trials ranked with the hyperparameters that vary between them in a table.
Run names are shown less the folders all runs share. What is left out (runs
beyond the caps, failed trials, runs without the metric) is counted, and
runs whose events file was cut short are named, in the figure and in the
summary.

Example:

    from keras_tb_toolkit.toolkit import report

    data = report.read_logdir("logs")
    metric = report.choose_metric(data)          # accuracy, else loss
    path, summary = report.write_report("logs", out="logs/report.svg")
    print(summary)
"""

import os
import tempfile
import uuid

from . import _remote
from ._report_data import (
    LogData,
    ReportIOError,
    RunData,
    check_logdir,
    choose_metric,
    read_logdir,
)
from ._report_figure import DPI, WIDTH, figure_size, report_figure
from ._report_ranking import Ranking, rank, rank_runs
from ._report_text import summary_text
from .errors import ConfigError

__all__ = [
    "DPI",
    "FORMATS",
    "LogData",
    "Ranking",
    "ReportIOError",
    "RunData",
    "WIDTH",
    "choose_metric",
    "figure_size",
    "rank",
    "rank_runs",
    "read_logdir",
    "report_figure",
    "summary_text",
    "write_report",
]

FORMATS = (".png", ".svg")


def check_out(out):
    """Fails unless `out` is a .png/.svg path in an existing directory.

    A URL must be on a file system TensorFlow has and reaches; its
    "directory" is not asked for, as object stores have none.
    """
    path = os.fspath(out)
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise ConfigError(
            f"--out: {path!r} must end in {' or '.join(FORMATS)}"
        )
    if _remote.is_url(path):
        _remote.check_url(path, "--out")
        if _remote.isdir(path):
            raise ConfigError(f"--out: {path} is a directory")
        return path
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"--out: directory {directory} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"--out: {path} is a directory")
    return path


def check_writable(out):
    """Fails with `ReportIOError` unless a file can be made beside `out`.

    Tried before the log directory is read, which can take minutes: a file
    is created and removed, as `os.access` says yes to root on a read-only
    directory. Not with `callbacks._atomic_io`, which writes the figure:
    importing `callbacks` imports TensorFlow, seconds this check must not
    wait for. A URL is probed the same way, with an object written and
    deleted through `tf.io.gfile`.
    """
    if _remote.is_url(out):
        probe = f"{os.path.dirname(out)}/.ktb-report-probe-{uuid.uuid4().hex}"
        try:
            _remote.write_object(probe, b"")
            _remote.remove(probe)
        except OSError as error:
            raise _write_error(out, error) from None
        return
    directory = os.path.dirname(os.path.abspath(out))
    try:
        fd, probe = tempfile.mkstemp(prefix=".ktb-report-probe-", dir=directory)
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        raise _write_error(out, error) from None


def _write_error(out, error):
    return ReportIOError(
        f"cannot write {out}: {error.strerror or error}; pass --out with a file "
        "in a writable directory"
    )


def write_report(logdir, out=None, metric=None, *, all_hparams=False, all_metrics=False,
                 progress=None):
    """Reads `logdir`, draws its report to `out` and returns `(out, summary)`.

    Args:
        logdir: A log root, experiment, search or run directory.
        out: A .png or .svg path. Defaults to `<logdir>/report.png`.
        metric: The metric drawn and ranked. Defaults to accuracy when
            logged, else loss.
        all_hparams: Show every hyperparameter, not only those that vary.
            Defaults to `False`.
        all_metrics: List the final value of every scalar in the summary.
            Defaults to `False`.
        progress: `progress(done, total)` while the runs are read, see
            `read_logdir`. Defaults to `None`.

    Both `logdir` and `out` may be URLs TensorFlow reaches (`gs://`...):
    the events are read and the figure written through `tf.io.gfile`.

    Raises:
        ConfigError: bad `out` or unknown `metric`.
        FileSystemError: `logdir` or `out` is a URL on a file system this
            TensorFlow lacks or cannot reach (see `callbacks._fs`).
        LogDirError, ReportError: see `read_logdir`.
        ReportIOError: `out` cannot be written.
    """
    check_logdir(logdir)
    out = check_out(os.path.join(logdir, "report.png") if out is None else out)
    check_writable(out)
    # Imports TensorFlow (seconds): after the checks, which answer at once.
    from ..callbacks._figures import save_figure

    data = read_logdir(logdir, progress=progress)
    metric = choose_metric(data, metric)
    figure = report_figure(data, metric, all_hparams)
    try:
        # save_figure creates the file's folder: a bare name has none. On a
        # URL it writes one whole object, and TensorFlow raises its errors.
        with _remote.os_errors(out):
            save_figure(figure, out if _remote.is_url(out) else os.path.abspath(out))
    except OSError as error:
        raise _write_error(out, error) from error
    return out, summary_text(data, metric, all_hparams, all_metrics)

