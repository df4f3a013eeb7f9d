"""Training curves as a matplotlib figure, in TensorBoard and as files."""

import numbers

import keras
import numpy as np
import tensorflow as tf

from .. import _figures
from .. import _fs
from .._copying import CopiesConfiguration
from .._summary import EpochSteps, RunWriters, is_chief
from .._validation import (
    check_bool,
    check_choice,
    check_int_at_least,
    check_log_dir,
    check_names,
    check_positive_int,
)
from .._writable import LogDirError, prove_writable
from . import _history

__all__ = ["HistoryPlotter", "plot_history"]

_LOG_SCALES = ("auto", True, False)
_FORMATS = ("png", "svg", "pdf")


def plot_history(history, metrics=None, epochs=None, log_scale="auto",
                 title=None, dpi=100):
    """Draws training curves: one axes per metric, with its `val_` twin.

    A pure function: it returns a new `matplotlib.figure.Figure` (made
    without `pyplot`, so nothing is shown and no global state changes). The
    loss comes first, then the other metrics in the order of `history`.
    Values not logged (None) are skipped, so a validation curve logged
    every few epochs is still drawn as a line. A NaN or infinite value is
    never hidden: its epoch gets a red dotted line and a note in the axes.

    Args:
        history: A `keras.callbacks.History` (as returned by `fit`) or a
            dict mapping log names to per-epoch values, e.g.
            `{"loss": [...], "val_loss": [...]}`. A series shorter than the
            others is aligned on the first epoch.
        metrics: Names of the metrics to draw (without the `val_` prefix),
            e.g. `["loss"]`. None draws every metric. Defaults to `None`.
        epochs: Epoch number of each entry (the x coordinates). None uses
            `History.epoch` or `0, 1, 2, ...`. Defaults to `None`.
        log_scale: `"auto"` uses a log y-scale for a loss whose values are
            positive and span more than a decade, `True` for every positive
            loss, `False` never. Defaults to `"auto"`.
        title: Optional figure title. Defaults to `None`.
        dpi: Resolution of the figure when rendered. Defaults to `100`.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        TypeError: If `history` is not a dict or `History`, or holds values
            that are not numbers.
        ValueError: If `history` is empty or names no metric, `metrics`
            names a metric that is not in it, `epochs` is shorter than the
            longest series, or `log_scale` is not one of its choices.

    Example:

    ```python
    from keras_tb_toolkit.callbacks import plot_history

    figure = plot_history({"loss": [1.0, 0.5, 0.05],
                           "val_loss": [1.2, 0.7, 0.09]})
    assert figure.axes[0].get_yscale() == "log"  # spans over a decade
    figure.savefig("curves.png")
    ```
    """
    check_choice(log_scale, "log_scale", _LOG_SCALES)
    check_positive_int(dpi, "dpi")
    series, epochs = _history.history_series(history, metrics, epochs)
    return _history.history_figure(series, epochs, log_scale, title, dpi)


class HistoryPlotter(CopiesConfiguration, keras.callbacks.Callback):
    """Plots the training curves to TensorBoard Images and to files.

    Collects the logs of every `on_epoch_end` itself (so it also works in a
    custom training loop driven by `keras.callbacks.CallbackList`), draws
    them with `plot_history` and writes the figure as the image `history`
    of `<log_dir>/train` at the end of every epoch where `epoch % freq == 0`
    (Keras' `histogram_freq` rule, so epoch 0 is always written; step =
    epoch, 0-based), flushed at once so TensorBoard shows it while training
    runs. At the end of training it saves the full figure as
    `<log_dir>/plots/history.<format>` (written to a temporary file, then
    renamed, so a reader never sees half a file).

    One instance is one run: a second `fit()` continues the curves, since
    the model keeps training. Its epochs are numbered after the last one
    recorded (an `initial_epoch` already past it is kept as is), so no image
    step is written twice, and the saved files are replaced by the figure of
    the whole run. Use a new `log_dir` for a new model; in a Keras Tuner
    search, every trial gets a deep copy, so give each trial its own
    `log_dir` as KerasTuner does for `TensorBoard`.

    Args:
        log_dir: The run directory (the one given to
            `keras.callbacks.TensorBoard`).
        freq: Write the image at the end of epochs where
            `epoch % freq == 0`; `0` writes no image, only the files at the
            end (as `histogram_freq=0` writes no histogram). Defaults to `1`.
        metrics: Names of the metrics to plot, without the `val_` prefix
            (e.g. `["loss", "accuracy"]`). None plots every logged metric.
            Names never logged are reported in one warning that lists the
            available ones. Defaults to `None`.
        log_scale: `"auto"`, `True` or `False`; see `plot_history`.
            Defaults to `"auto"`.
        formats: File formats saved at the end of training, among `"png"`,
            `"svg"` and `"pdf"`; None saves no file. Defaults to
            `("png", "svg")`.
        dpi: Resolution of the image and of the PNG file. Defaults to `100`.
        wait_for_files: Whether `on_train_end` waits until the files are
            saved. With `False`, `fit` returns while the worker thread draws
            them (a search's next trial starts meanwhile); `wait()`, the next
            `fit` and the interpreter's exit wait for them. Defaults to
            `True`.

    Attributes:
        history: Dict of every logged value, `{name: [value per epoch]}`,
            NaN where a name was not logged (like `History.history`).
        epoch: The epoch numbers of those values (like `History.epoch`).

    Raises:
        TypeError: If `log_dir` is not a path or `metrics`/`formats` are not
            strings.
        ValueError: If `freq` is negative, `dpi` is not a positive integer, or
            `log_scale` or a format is not one of the allowed values.

    Example:

    ```python
    import os
    import numpy as np
    import keras
    from keras_tb_toolkit.callbacks import HistoryPlotter

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((8, 4)), np.ones((8, 1))
    model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0,
              callbacks=[HistoryPlotter("logs/run")])
    print(sorted(os.listdir("logs/run/plots")))  # history.png, history.svg
    ```
    """

    def __init__(self, log_dir, freq=1, metrics=None, log_scale="auto",
                 formats=("png", "svg"), dpi=100, wait_for_files=True):
        super().__init__()
        self.log_dir = check_log_dir(log_dir)
        self.freq = check_int_at_least(freq, "freq", 0)
        self.wait_for_files = check_bool(wait_for_files, "wait_for_files")
        self.metrics = check_names(metrics, "metrics")
        self.log_scale = check_choice(log_scale, "log_scale", _LOG_SCALES)
        formats = check_names(formats, "formats") or ()
        for file_format in formats:
            check_choice(file_format, "formats", _FORMATS)
        self.formats = formats
        self.dpi = check_positive_int(dpi, "dpi")
        self._writers = RunWriters(self.log_dir)
        self._worker = _figures.FigureWorker("HistoryPlotter")
        self._figure = _figures.ReusedFigure()  # Used by the worker only.
        self.epoch = []
        self.history = {}
        self._steps = EpochSteps()
        self._warned_metrics = False

    def on_train_begin(self, logs=None):
        # The curves of earlier fits are kept on purpose (see the class
        # docstring); only the epoch numbering of this fit is reset.
        self._steps.begin()
        self.wait()  # The files of an earlier fit, when it did not wait.
        if is_chief(self.model):
            self._writers.hold("train")
            if self.formats:
                prove_writable(_fs.join(self.log_dir, "plots"))

    def on_epoch_end(self, epoch, logs=None):
        step = self._steps.step(epoch)
        self._record(step, logs or {})
        metrics = self._metrics_to_plot()
        if (not self.freq or step % self.freq or not metrics
                or not is_chief(self.model)):
            return
        # The worker draws from a snapshot while training goes on.
        history = {key: list(series) for key, series in self.history.items()}
        self._worker.submit(self._write_image, history, list(self.epoch),
                            metrics, step)

    def on_train_end(self, logs=None):
        metrics = self._metrics_to_plot()
        if metrics and self.formats and is_chief(self.model):
            # Drawn on the worker, after the epochs' images, from a snapshot.
            history = {key: list(series) for key, series in self.history.items()}
            self._worker.submit(self._save_files, history, list(self.epoch), metrics)
        # The writers close once the worker's queued images are written.
        self._worker.submit(self._writers.close)
        if self.wait_for_files:
            self.wait()

    def wait(self):
        """Blocks until every queued image and file is written.

        `on_train_end` calls it unless `wait_for_files=False`; the next
        `fit` calls it before training.

        Raises:
            LogDirError: a figure or file could not be written.
        """
        self._worker.close()

    def _save_files(self, history, epochs, metrics):
        """Runs on the worker thread."""
        series, epochs = _history.history_series(history, metrics, epochs)
        layout = _history.history_layout(series, self.log_scale)
        _figures.draw_shared(
            ("history", layout, self.dpi),
            lambda: _history.history_axes(layout, dpi=self.dpi),
            lambda figure: _history.fill_history(figure, series, epochs),
            self._save_formats,
        )

    def _save_formats(self, figure):
        for file_format in self.formats:
            path = _fs.join(self.log_dir, "plots", f"history.{file_format}")
            try:
                _figures.save_figure(figure, path)
            except (OSError, tf.errors.OpError) as error:
                # Written atomically (whole on a URL): an earlier file
                # there is whole.
                reason = (getattr(error, "strerror", None)
                          or getattr(error, "message", None) or error)
                message = (f"HistoryPlotter could not save {path!r}: "
                           f"{reason}; a history.{file_format} saved "
                           "there before is left whole.")
                code = getattr(error, "errno", None)
                raise (LogDirError(code, message) if code
                       else LogDirError(message)) from error

    def _write_image(self, history, epochs, metrics, step):
        """Runs on the worker thread."""
        series, epochs = _history.history_series(history, metrics, epochs)
        layout = _history.history_layout(series, self.log_scale)
        image = self._figure.image(
            layout,
            lambda: _history.history_axes(layout, dpi=self.dpi),
            lambda figure: _history.fill_history(figure, series, epochs),
        )
        with self._writers.writing("train"):
            tf.summary.image("history", image, step=step)
        self._writers.flush()  # Shown while training runs, not at its end.

    def _record(self, step, logs):
        for key, value in logs.items():
            number = _as_number(value)
            if number is None:
                continue
            if key not in self.history:
                self.history[key] = [None] * len(self.epoch)
            self.history[key].append(number)
        self.epoch.append(step)
        for series in self.history.values():
            if len(series) < len(self.epoch):
                series.append(None)  # Not logged, unlike a NaN value.

    def _metrics_to_plot(self):
        """The metrics to draw; warns once about requested ones not logged."""
        available = _history.metric_names(self.history)
        if self.metrics is None:
            return available
        metrics = [name for name in self.metrics if name in available]
        if len(metrics) < len(self.metrics) and not self._warned_metrics:
            self._warned_metrics = True
            _history.warn_unlogged_metrics(
                "HistoryPlotter", self.metrics, available,
                f"Available: {available}", stacklevel=3)
        return metrics


def _as_number(value):
    """`value` as a float if it is a scalar number, else None."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return float(value)
    try:
        array = np.asarray(value)
    except Exception:  # Any object may sit in custom-loop logs.
        return None
    if array.shape != () or array.dtype.kind not in "fiu":
        return None
    return float(array)
