"""The work behind `plot_history` and `HistoryPlotter`: series and figure.

A history dict (`{"loss": [...], "val_loss": [...]}`) becomes aligned
`(train, validation)` series per metric (`history_series`), then a figure
with one axes per metric. The figure is built by `history_axes` and filled
by `fill_history`, so that `_figures.ReusedFigure` can redraw it with new
values while the layout (`history_layout`) is unchanged.
"""

import collections.abc
import math
import warnings

import keras
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._validation import check_names

VALIDATION_PREFIX = "val_"
# Size of one metric's panel in a history figure, in inches.
_PANEL_SIZE = (4.0, 3.0)
_MAX_COLUMNS = 3
# Margins in inches: (left, right, bottom, top, between columns, between
# rows). Fixed margins instead of a layout engine, which would double the
# drawing time that every logged epoch pays.
_HISTORY_MARGINS = (0.6, 0.15, 0.5, 0.35, 0.65, 0.7)
_NONFINITE = "nonfinite"  # The gid of the marks of NaN and inf values.


def history_series(history, metrics=None, epochs=None):
    """Checks the arguments of `plot_history`; returns `(series, epochs)`.

    `series` maps each selected metric name to its `(train, validation)`
    float arrays (None when absent), masked where the metric was not logged
    (None in `history`, or past the end of a shorter series) and padded to
    the length of `epochs`. A NaN or infinite value is kept, unmasked: it
    is a value the model logged, and is shown.
    """
    if isinstance(history, keras.callbacks.History):
        if epochs is None:
            epochs = history.epoch
        history = history.history
    if not isinstance(history, collections.abc.Mapping):
        raise TypeError(
            "`history` must be a dict of per-epoch values or a "
            f"keras.callbacks.History, received: {history!r}"
        )
    values = {key: _as_series(key, series) for key, series in history.items()}
    length = max((len(series) for series in values.values()), default=0)
    if length == 0:
        raise ValueError(
            f"`history` must hold at least one value, received: {history!r}"
        )
    epochs = np.arange(length) if epochs is None else np.asarray(epochs)
    if epochs.ndim != 1 or len(epochs) < length:
        raise ValueError(
            f"`epochs` must be a 1-D sequence of at least {length} epoch "
            f"numbers (the longest series), received: {epochs!r}"
        )
    available = metric_names(values)
    if not available:
        raise ValueError(
            "`history` must name at least one metric (a key other than "
            f"{VALIDATION_PREFIX!r}), received keys: {sorted(history)}"
        )
    selected = available if metrics is None else check_names(metrics, "metrics")
    unknown = [name for name in selected if name not in available]
    if unknown:
        raise ValueError(
            f"`metrics` names metrics not in `history`: {unknown}. "
            f"Available: {available}"
        )

    def padded(key):
        if key not in values:
            return None
        count = length - len(values[key])
        missing = np.ma.masked_array(np.full(count, np.nan), [True] * count)
        return np.ma.concatenate([values[key], missing])

    series = {
        name: (padded(name), padded(VALIDATION_PREFIX + name))
        for name in selected
    }
    return series, epochs[:length]


def metric_names(history):
    """Metric names of a history dict, without `val_`, the loss first."""
    names = {}
    for key in history:
        if key.startswith(VALIDATION_PREFIX):
            key = key[len(VALIDATION_PREFIX):]
        if key:
            names[key] = None
    return sorted(names, key=lambda name: name != "loss")


def _as_series(key, series):
    """`series` as a float array masked where an entry is None."""
    try:
        series = list(np.asarray(series, dtype=object).reshape(-1))
        missing = [value is None for value in series]
        values = [np.nan if value is None else value for value in series]
        return np.ma.masked_array(np.asarray(values, dtype=float), missing)
    except (TypeError, ValueError):
        raise TypeError(
            f"`history[{key!r}]` must be a sequence of numbers, "
            f"received: {series!r}"
        ) from None


def wants_log_scale(name, values, log_scale):
    """Whether the axes of metric `name` showing `values` use a log y-scale.

    Only loss-like metrics (a name containing "loss") qualify, and only when
    every finite value is positive. `log_scale` is "auto" (log when the values
    span more than a decade), True (log whenever possible) or False.
    """
    if log_scale is False or "loss" not in name:
        return False
    finite = np.ma.getdata(values).astype(float)
    finite = finite[np.isfinite(finite) & ~np.ma.getmaskarray(values)]
    if finite.size == 0 or finite.min() <= 0:
        return False
    return bool(log_scale is True or finite.max() / finite.min() > 10)


def history_layout(series, log_scale="auto"):
    """What fixes the axes and lines of a history figure, as a tuple of
    `(name, has train values, has validation values, log y-scale)`."""
    layout = []
    for name, (train, validation) in series.items():
        shown = [v for v in (train, validation) if v is not None]
        log = wants_log_scale(name, np.ma.concatenate(shown), log_scale)
        layout.append((name, train is not None, validation is not None, log))
    return tuple(layout)


def history_figure(series, epochs, log_scale="auto", title=None, dpi=100):
    """Draws one axes per metric with its training and validation curves.

    Args:
        series: Ordered mapping `metric name -> (train values or None,
            validation values or None)`; each values array is aligned with
            `epochs` and holds NaN where the metric was not logged.
        epochs: 1-D array of the epoch numbers (x coordinates).
        log_scale: See `wants_log_scale`.
        title: Optional figure title.
        dpi: Resolution used when the figure is rendered.

    Returns:
        A `matplotlib.figure.Figure` with `len(series)` axes.
    """
    figure = history_axes(history_layout(series, log_scale), title, dpi)
    fill_history(figure, series, epochs)
    return figure


def history_axes(layout, title=None, dpi=100):
    """A history figure with its axes and empty lines; see `fill_history`."""
    columns = min(len(layout), _MAX_COLUMNS)
    rows = math.ceil(len(layout) / columns)
    width, height = _PANEL_SIZE[0] * columns, _PANEL_SIZE[1] * rows
    figure = Figure(figsize=(width, height), dpi=dpi)
    left, right, bottom, top, between_columns, between_rows = (
        _HISTORY_MARGINS)
    if title:
        top += 0.3
    axes_width = (width - left - right
                  - (columns - 1) * between_columns) / columns
    axes_height = (height - bottom - top
                   - (rows - 1) * between_rows) / rows
    figure.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=between_columns / axes_width,
        hspace=between_rows / axes_height,
    )
    for index, (name, train, validation, log) in enumerate(layout):
        axes = figure.add_subplot(rows, columns, index + 1)
        for shown, label in ((train, "train"), (validation, "validation")):
            if shown:
                axes.plot([], [], marker="o", markersize=3, label=label)
        if log:
            axes.set_yscale("log")
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
        axes.legend(loc="best")
    if title:
        figure.suptitle(title, y=1 - 0.1 / height, va="top")
    return figure


def fill_history(figure, series, epochs):
    """Sets the lines of a figure made by `history_axes` to `series`.

    Each epoch whose value is NaN or infinite gets a red dotted line and a
    note in the axes, so that a diverged run never looks like a healthy
    curve.
    """
    epochs = np.asarray(epochs)
    for axes, (train, validation) in zip(figure.axes, series.values()):
        for artist in [*axes.lines, *axes.texts]:
            if artist.get_gid() == _NONFINITE:
                artist.remove()  # Marks of the previous redraw.
        named = [(v, n) for v, n in ((train, "train"), (validation, "validation"))
                 if v is not None]
        notes = []
        for line, (points, label) in zip(axes.get_lines(), named):
            data = np.ma.getdata(points)
            logged = ~np.ma.getmaskarray(points)
            # Skipping epochs not logged joins the points that exist, so
            # validation every k epochs still draws a line.
            finite = logged & np.isfinite(data)
            line.set_data(epochs[finite], data[finite])
            bad = logged & ~np.isfinite(data)
            for epoch, value in zip(epochs[bad], data[bad]):
                notes.append(f"{label} {value} at epoch {epoch}")
                axes.axvline(epoch, color="red", linestyle=":", gid=_NONFINITE)
        if notes:
            axes.text(0.02, 0.98, "\n".join(notes[:4] + ["..."] * (len(notes) > 4)),
                      transform=axes.transAxes, va="top", color="red",
                      fontsize=8, gid=_NONFINITE)
        axes.relim()
        axes.autoscale_view()


def warn_unlogged_metrics(owner, requested, logged, available, stacklevel):
    """Warns that some of the `requested` metrics are not among `logged`.

    HistoryPlotter and LivePlot accept metric names before anything is
    logged, so a typo can only show once training has logged something.
    """
    missing = [name for name in requested if name not in logged]
    warnings.warn(
        f"{owner}: `metrics` names metrics that were not logged: {missing}. "
        f"{available}",
        stacklevel=stacklevel + 1,
    )
