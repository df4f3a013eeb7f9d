"""Training curves redrawn in place in a Jupyter notebook while `fit()` runs."""

import math
import sys
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from . import _figures
from ._validation import (
    check_choice,
    check_int_at_least,
    check_names,
    check_positive_int,
)
from .history_plotter import plot_history
from .history_plotter._history import warn_unlogged_metrics

__all__ = ["LivePlot"]

_LOG_SCALES = ("auto", True, False)


class LivePlot(keras.callbacks.Callback):
    """Redraws the training curves in place, in a Jupyter notebook.

    Each `fit()` shows one image output in the cell that runs it, made with
    `plot_history` and replaced at every epoch end (and, with `batch_freq`,
    during the epoch) through IPython's display handle: the cell never
    fills up with one figure per epoch. Batch redraws show the epoch's
    running logs as a provisional point at the current epoch, replaced by
    the epoch's value when it ends.

    A redraw costs a bounded time: one PNG at a modest `dpi`, at most
    `max_points` epochs drawn (evenly thinned, first and last kept); its
    cost is measured by `bench/live_plot_redraw.py`. Batch redraws are
    skipped when they come less than `min_interval_s` after the previous
    redraw, or so soon that redrawing would take more than `max_overhead`
    of the time (judged by what the last redraw took). Epoch-end redraws
    always happen.

    Outside a Jupyter kernel (a script, a terminal IPython) it draws and
    records nothing and says so in one warning per instance; IPython is
    never imported by this callback when the program has not imported it.

    One instance serves several `fit()` calls: each starts a new output with
    its own curves. In a Keras Tuner search every trial's copy shows its own
    output.

    Args:
        metrics: Names of the metrics to plot, without the `val_` prefix
            (e.g. `["loss", "accuracy"]`). None plots every logged metric.
            Names never logged are reported in one warning that lists the
            available ones. Defaults to `None`.
        batch_freq: Also redraw during an epoch, at every batch whose index
            `batch % batch_freq == 0`; None redraws at epoch ends only.
            Defaults to `None`.
        min_interval_s: Skip a batch redraw that comes less than this many
            seconds after the previous redraw. Defaults to `1.0`.
        max_overhead: The largest fraction of the time that batch redraws
            may take, in (0, 1]: a batch redraw waits until the time since
            the previous one is `(1 - max_overhead) / max_overhead` times
            what that one took. None: no such limit. Defaults to `0.1`.
        max_points: The most epochs drawn per curve (at least 2); a longer
            history is thinned evenly. Defaults to `200`.
        log_scale: `"auto"`, `True` or `False`; see `plot_history`.
            Defaults to `"auto"`.
        dpi: Resolution of the image. Defaults to `72`.

    Attributes:
        history: Dict of the values logged at each epoch end of the current
            `fit()`, `{name: [value per epoch]}`, NaN where a name was not
            logged (like `History.history`).
        epoch: The epoch numbers of those values (like `History.epoch`).
        redraws: How many images the current `fit()` has shown (the first
            display and its updates).

    Raises:
        TypeError: If `metrics` is not None, a string or strings.
        ValueError: If `batch_freq`, `min_interval_s`, `max_overhead`,
            `max_points`, `dpi` or `log_scale` is outside its allowed
            values.

    Example:

    ```python
    import numpy as np
    import keras
    from keras_tb_toolkit.callbacks import LivePlot

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((64, 4)), np.ones((64, 1))
    # In a notebook: one image below the cell, redrawn at every epoch end
    # and every 4th batch. In a script: one warning, nothing drawn.
    live = LivePlot(batch_freq=4)
    model.fit(x, y, validation_data=(x, y), epochs=5, verbose=0,
              callbacks=[live])
    ```
    """

    def __init__(self, metrics=None, batch_freq=None, min_interval_s=1.0,
                 max_overhead=0.1, max_points=200, log_scale="auto", dpi=72):
        super().__init__()
        self.metrics = check_names(metrics, "metrics")
        self.batch_freq = check_positive_int(batch_freq, "batch_freq",
                                             allow_none=True)
        self.min_interval_s = _check_seconds(min_interval_s, "min_interval_s")
        self.max_overhead = _check_fraction(max_overhead, "max_overhead")
        self.max_points = check_int_at_least(max_points, "max_points", 2)
        self.log_scale = check_choice(log_scale, "log_scale", _LOG_SCALES)
        self.dpi = check_positive_int(dpi, "dpi")
        # Once per instance, not per fit: a second fit in the same script
        # has nothing new to say.
        self._warned_no_notebook = False
        self._warned_metrics = False
        self._reset()

    def _reset(self):
        self.history = {}
        self.epoch = []
        self.redraws = 0
        self._in_notebook = False
        self._handle = None
        self._last_redraw = -math.inf
        self._last_cost = 0.0
        self._current_epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()
        self._in_notebook = _in_notebook()
        if not self._in_notebook and not self._warned_no_notebook:
            self._warned_no_notebook = True
            warnings.warn(
                "LivePlot: not running in a Jupyter kernel, so it draws "
                "nothing; use HistoryPlotter or TensorBoard to see the "
                "curves of a script",
                stacklevel=2,
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not self._in_notebook or self.batch_freq is None:
            return
        if batch % self.batch_freq:
            return
        if time.monotonic() - self._last_redraw < self._batch_interval():
            return
        history = {key: list(values) for key, values in self.history.items()}
        epochs = list(self.epoch)
        _record(history, epochs, self._current_epoch, logs or {})
        steps = (self.params or {}).get("steps")
        progress = f", batch {batch + 1}" + (f"/{steps}" if steps else "")
        self._redraw(history, epochs, self._title(self._current_epoch)
                     + progress)

    def on_epoch_end(self, epoch, logs=None):
        if not self._in_notebook:
            return
        _record(self.history, self.epoch, epoch, logs or {})
        self._redraw(self.history, self.epoch, self._title(epoch))

    def figure(self):
        """The figure of the last epoch's curves, as the notebook shows it.

        Returns:
            A `matplotlib.figure.Figure` (see `plot_history`), or None
            before the first epoch end or outside a notebook.
        """
        metrics = self._metrics_to_plot(self.history)
        if metrics is not None and not metrics:
            return None
        history, epochs = _thinned(self.history, self.epoch, self.max_points)
        return plot_history(history, metrics, epochs, self.log_scale,
                            title=self._title(self.epoch[-1]), dpi=self.dpi)

    def _title(self, epoch):
        epochs = (self.params or {}).get("epochs")
        return f"epoch {epoch + 1}" + (f"/{epochs}" if epochs else "")

    def _batch_interval(self):
        """Seconds a batch redraw waits after the end of the previous one."""
        if self.max_overhead is None:
            return self.min_interval_s
        # Drawing for `cost` after waiting `wait` takes cost / (wait + cost)
        # of the time.
        wait = self._last_cost * (1 - self.max_overhead) / self.max_overhead
        return max(self.min_interval_s, wait)

    def _redraw(self, history, epochs, title):
        metrics = self._metrics_to_plot(history)
        if metrics is not None and not metrics:
            return
        start = time.monotonic()
        history, epochs = _thinned(history, epochs, self.max_points)
        figure = plot_history(history, metrics, epochs, self.log_scale,
                              title=title, dpi=self.dpi)
        from IPython import display  # Imported by the kernel already.

        image = display.Image(data=_png(figure), format="png")
        if self._handle is None:
            self._handle = display.display(image, display_id=True)
        else:
            self._handle.update(image)
        self.redraws += 1
        self._last_redraw = time.monotonic()
        self._last_cost = self._last_redraw - start

    def _metrics_to_plot(self, history):
        """The metrics to draw (None: all, empty: none yet); warns once about
        requested ones not logged by an epoch end."""
        if not history:
            return []
        if self.metrics is None:
            return None
        logged = [name for name in self.metrics
                  if name in history or "val_" + name in history]
        # Before the first epoch end, validation metrics are not logged yet.
        if (len(logged) < len(self.metrics) and self.epoch
                and not self._warned_metrics):
            self._warned_metrics = True
            warn_unlogged_metrics("LivePlot", self.metrics, logged,
                                  f"Logged: {sorted(self.history)}", stacklevel=4)
        return logged


def _in_notebook():
    """Whether this runs in a Jupyter kernel, where IPython can display."""
    # A kernel imports IPython before any user code runs: a script that has
    # not imported it is not in a notebook, and never pays for importing it.
    if "IPython" not in sys.modules:
        return False
    import IPython

    shell = IPython.get_ipython()
    # A terminal IPython has a shell but no kernel, and no rich display.
    return getattr(shell, "kernel", None) is not None


def _check_seconds(value, name):
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0):
        raise ValueError(
            f"`{name}` must be a number of seconds >= 0, received: {value!r}"
        )
    return float(value)


def _check_fraction(value, name):
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0 < value <= 1):
        raise ValueError(
            f"`{name}` must be None or a fraction in (0, 1], "
            f"received: {value!r}"
        )
    return float(value)


def _scalar(value):
    """`value` as a float when it is one number (Python, NumPy or a 0-d
    tensor), else None: custom-loop logs may hold anything."""
    if isinstance(value, (bool, str, bytes)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _record(history, epochs, epoch, logs):
    """Appends the numbers of `logs` at `epoch`, padding the others with
    None (not logged), which `plot_history` tells apart from a NaN value."""
    epochs.append(epoch)
    for key, value in logs.items():
        number = _scalar(value)
        if number is not None:
            history.setdefault(key, [None] * (len(epochs) - 1))
            history[key].append(number)
    for values in history.values():
        if len(values) < len(epochs):
            values.append(None)


def _thinned(history, epochs, max_points):
    """At most `max_points` evenly spaced epochs, the first and last kept."""
    if len(epochs) <= max_points:
        return history, epochs
    keep = np.unique(np.linspace(0, len(epochs) - 1, max_points).round())
    keep = keep.astype(int)
    return ({key: np.asarray(values)[keep] for key, values in history.items()},
            np.asarray(epochs)[keep])


def _png(figure):
    """The PNG bytes of `figure` at its own dpi."""
    # `figure_to_image` renders under the lock the plotting callbacks'
    # worker threads share: matplotlib's font cache is not thread-safe.
    pixels = _figures.figure_to_image(figure)[0]
    return tf.io.encode_png(pixels).numpy()
