"""Reading a log directory for `ktb report`, with TensorBoard's own reader.

Event files are read by `plugin_event_multiplexer.EventMultiplexer`, the
loader behind TensorBoard's Python data path, so a report shows what the
Scalars and HParams dashboards show. Only scalar summaries are kept in full;
images, histograms and other tensors keep one sample per tag (they are still
parsed, but not accumulated). Runs are read one after another by default:
parsing holds the GIL, and on a local disk `bench/report_read.py` measured
no consistent gain from threads (within +-25%, either way); more threads can
help on a network file system.

A TensorBoard "run" is a directory holding event files. A report run groups
the Keras layout `<run>/train` and `<run>/validation` (and events written in
`<run>` itself, such as a trial's hparams session) into one `RunData`, whose
`scalars` are keyed by subset: "train", "validation", or "" for the run
directory itself.

A run whose events file ends in a cut record (`_event_files`) keeps the
values read up to the cut, and says so in `RunData.incomplete`. A trial
whose hparams session ended in failure keeps its reason in
`RunData.failure`. Runs are read one TensorBoard run at a time, so that a
caller can show progress.
"""

import dataclasses
import math
import os

from ._event_files import truncated_files
from ._remote import os_errors
from ._report_hparams import failure_reason, trial_hparams
from .errors import ConfigError, ReportError
from .runs import check_logdir  # noqa: F401  (report re-exports it)

# Subdirectories that `keras.callbacks.TensorBoard` writes inside a run.
SUBSETS = ("train", "validation")
# Keras prefixes its per-epoch scalars; the metric is what follows.
_EPOCH_PREFIX = "epoch_"
# Per-batch and per-iteration scalars are on another x axis than epochs.
_NOT_EPOCH_METRIC = ("batch_",)
_NOT_EPOCH_SUFFIX = ("_vs_iterations",)
# Metrics whose names contain one of these words are better when lower.
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae")
# The text summary that `write_session_end` (toolkit.tuning) writes in a
# trial's run directory: "SUCCESS", or "FAILED: <reason>".


class ReportIOError(OSError):
    """A file the report reads or writes was refused by the system.

    A read-only or unreadable directory, a full disk. Not a `ToolkitError`:
    the arguments were right, the system refused, so the CLI exits with
    status 1, not 2. The message names the file and the reason.
    """


@dataclasses.dataclass(frozen=True)
class RunData:
    """The scalars and hyperparameters of one run.

    Attributes:
        name: Path of the run directory relative to the log directory, with
            "/" separators ("." when the log directory is the run).
        scalars: `{subset: {tag: ((step, value), ...)}}`, steps ascending.
        hparams: `{name: value}` of the run's hparams session; empty when
            the run is not a trial of a search.
        failure: Why the trial failed, when its hparams session ended with
            a failure status; None otherwise.
        incomplete: `((events file, bytes read, file size), ...)` of the
            files whose tail is not a whole record (a run killed mid-write,
            or a file cut short by a copy): they were read only up to
            `bytes read`, so the run's last values may be missing.
    """

    name: str
    scalars: dict
    hparams: dict
    failure: str | None = None
    incomplete: tuple = ()

    @property
    def failed(self):
        return self.failure is not None

    def metric_series(self, metric, subset):
        """`((step, value), ...)` of `metric` in `subset`, or `()`."""
        tags = self.scalars.get(subset, {})
        for tag in (_EPOCH_PREFIX + metric, metric):
            if tag in tags:
                return tags[tag]
        return ()

    def final(self, metric, subset):
        """`(step, value)` last logged for `metric` in `subset`, or None."""
        series = self.metric_series(metric, subset)
        return series[-1] if series else None

    def best(self, metric, subset):
        """`(step, value)` of the best value of `metric` in `subset`, or None.

        The first of equal values wins; NaN is never best unless all are.
        """
        series = self.metric_series(metric, subset)
        if not series:
            return None
        sign = 1.0 if lower_is_better(metric) else -1.0
        return min(series, key=lambda item: (math.isnan(item[1]), sign * item[1]))


@dataclasses.dataclass(frozen=True)
class LogData:
    """Everything `ktb report` draws, read from one log directory.

    Attributes:
        logdir: The directory that was read, as given.
        runs: `RunData` of the runs holding scalars or an hparams session
            (a trial that failed before its first epoch has no scalars),
            sorted by name.
        hparam_names: Hyperparameter names, in the order the search's
            experiment config declares them, then any others sorted.
    """

    logdir: str
    runs: tuple
    hparam_names: tuple

    @property
    def trials(self):
        """The runs that carry an hparams session."""
        return tuple(run for run in self.runs if run.hparams)

    def subsets(self):
        """Subsets present in any run: train, validation, then others."""
        present = {subset for run in self.runs for subset in run.scalars}
        known = [subset for subset in SUBSETS if subset in present]
        return tuple(known + sorted(present.difference(SUBSETS)))

    def metrics(self):
        """Sorted names of the metrics logged per epoch in any run."""
        return sorted({
            metric_name(tag)
            for run in self.runs
            for tags in run.scalars.values()
            for tag in tags
            if is_epoch_metric(tag)
        })

    def records(self):
        """Every scalar as `(run, subset, tag, step, value)`, sorted."""
        return sorted(
            (run.name, subset, tag, step, value)
            for run in self.runs
            for subset, tags in run.scalars.items()
            for tag, series in tags.items()
            for step, value in series
        )


def metric_name(tag):
    """"epoch_accuracy" -> "accuracy"; other tags are their own name."""
    return tag[len(_EPOCH_PREFIX):] if tag.startswith(_EPOCH_PREFIX) else tag


def is_epoch_metric(tag):
    """False for Keras' per-batch and per-iteration scalars."""
    return not (tag.startswith(_NOT_EPOCH_METRIC) or tag.endswith(_NOT_EPOCH_SUFFIX))


def lower_is_better(metric):
    return any(word in metric for word in _LOWER_IS_BETTER)


def choose_metric(data, metric=None):
    """The metric to report: `metric`, else accuracy, else loss, else the first.

    Raises:
        ConfigError: `metric` is not logged in any run; the message lists
            the metrics that are.
        ReportError: no run logs a per-epoch metric.
    """
    available = data.metrics()
    if not available:
        raise ReportError(
            f"LOGDIR: {data.logdir} holds only per-batch scalars; log per-epoch "
            "ones (keras.callbacks.TensorBoard does) to report them"
        )
    if metric is not None:
        if metric not in available:
            raise ConfigError(
                f"--metric: {metric!r} is not logged under {data.logdir}; "
                f"available: {', '.join(available)}"
            )
        return metric
    for preferred in ("accuracy", "loss"):
        if preferred in available:
            return preferred
    return available[0]


def read_logdir(logdir, threads=1, progress=None):
    """Reads the scalars and hparams sessions of every run under `logdir`.

    Args:
        logdir: A log root (`logs`), an experiment, a search or one run.
        threads: Runs reloaded at once, by TensorBoard's multiplexer.
            Defaults to `1`.
        progress: Called as `progress(done, total)` with the TensorBoard
            runs (directories of event files) read so far: once with 0
            before the first, then after each. Defaults to `None`.

    Returns:
        A `LogData`.

    Raises:
        LogDirError: `logdir` is missing or is a file.
        ReportError: no event files, or no scalars, under `logdir`.
        ReportIOError: an event file or directory cannot be read.
    """
    path = check_logdir(logdir)
    from tensorboard.backend.event_processing import (
        plugin_event_accumulator as accumulator,
        plugin_event_multiplexer,
    )

    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        # One sample per tag for images, histograms...: parsed, not kept.
        size_guidance={accumulator.TENSORS: 1},
        tensor_size_guidance={"scalars": 0},
    )
    with os_errors(path):
        multiplexer.AddRunsFromDirectory(path)
    if not multiplexer.Runs():
        raise ReportError(
            f"LOGDIR: no TensorBoard event files under {path}; pass a log "
            "directory written by `ktb train` or keras.callbacks.TensorBoard "
            "(for example: logs)"
        )
    truncated = _reload(multiplexer, path, threads, progress)
    scalars, hparams, failures, declared = {}, {}, {}, []
    for tb_run, tags in multiplexer.PluginRunToTagToContent("scalars").items():
        run, subset = _split_run(tb_run)
        scalars.setdefault(run, {})[subset] = {
            tag: _series(multiplexer.Tensors(tb_run, tag)) for tag in tags
        }
    for tb_run, tags in multiplexer.PluginRunToTagToContent("hparams").items():
        run, _ = _split_run(tb_run)
        session, names, failed = trial_hparams(tags)
        if session is not None:  # not a search's experiment config only
            hparams.setdefault(run, {}).update(session)
        declared.extend(name for name in names if name not in declared)
        if failed:
            failures[run] = failure_reason(multiplexer, tb_run)
    if not any(tags for subsets in scalars.values() for tags in subsets.values()):
        raise ReportError(
            f"LOGDIR: the event files under {path} hold no scalar summaries "
            "to report"
        )
    incomplete = {}
    for tb_run, files in truncated.items():
        incomplete.setdefault(_split_run(tb_run)[0], []).extend(files)
    runs = tuple(
        RunData(
            name=name,
            scalars=scalars.get(name, {}),
            hparams=hparams.get(name, {}),
            failure=failures.get(name),
            incomplete=tuple(sorted(incomplete.get(name, ()))),
        )
        for name in sorted(set(scalars).union(hparams))
    )
    found = {name for run in runs for name in run.hparams}
    names = [name for name in declared if name in found]
    names += sorted(found.difference(names))
    return LogData(logdir=path, runs=runs, hparam_names=tuple(names))


def _reload(multiplexer, logdir, threads, progress):
    """Reads every run, `threads` at a time; returns its truncated files.

    `EventMultiplexer.Reload` would read them too, but says nothing until
    it is done: run by run, `progress` can show how far it got.
    """
    import concurrent.futures

    run_paths = multiplexer.RunPaths()
    tb_runs = sorted(run_paths)

    def load(tb_run):
        try:
            # TensorFlow's file systems raise their own errors, on a URL.
            with os_errors(run_paths[tb_run]):
                multiplexer.GetAccumulator(tb_run).Reload()
                return tb_run, truncated_files(run_paths[tb_run], logdir)
        except OSError as error:
            where = error.filename or run_paths[tb_run]
            raise ReportIOError(f"cannot read {where}: {error.strerror or error}") from error

    if progress is not None:
        progress(0, len(tb_runs))
    truncated = {}
    with concurrent.futures.ThreadPoolExecutor(max(threads, 1)) as pool:
        for done, (tb_run, files) in enumerate(pool.map(load, tb_runs), start=1):
            if files:
                truncated[tb_run] = files
            if progress is not None:
                progress(done, len(tb_runs))
    return truncated


def _split_run(tb_run):
    """"exp/run1/train" -> ("exp/run1", "train"); "exp/run1" -> ("exp/run1", "")."""
    parts = tb_run.replace(os.sep, "/").split("/")
    if parts[-1] in SUBSETS:
        return "/".join(parts[:-1]) or ".", parts[-1]
    return "/".join(parts), ""


def _series(events):
    from tensorboard.util import tensor_util

    return tuple(
        (int(event.step), float(tensor_util.make_ndarray(event.tensor_proto)))
        for event in sorted(events, key=lambda event: event.step)
    )
