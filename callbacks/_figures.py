"""Figure drawing and figure output shared by the plotting callbacks.

Figures are made with `matplotlib.figure.Figure` directly, never with
`pyplot`: no window opens, no GUI backend is needed and no figure is kept in
pyplot's global registry (a figure is freed as soon as it is unreferenced).
Each figure is built by a `*_axes` function and filled by a `fill_*` one, so
that `ReusedFigure` can redraw it with new data; `FigureWorker` draws off
the training thread.
"""

import concurrent.futures
import math
import os
import tempfile
import threading
import warnings

import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Size of one metric's panel in a history figure, in inches.
_PANEL_SIZE = (4.0, 3.0)
_MAX_COLUMNS = 3
# Margins in inches: (left, right, bottom, top, between columns, between
# rows). Fixed margins instead of a layout engine, which would double the
# drawing time that every logged epoch pays.
_HISTORY_MARGINS = (0.6, 0.15, 0.5, 0.35, 0.65, 0.7)
# Above this many classes the counts no longer fit in the cells.
_MAX_ANNOTATED_CLASSES = 30
# Width of one character of a tick label, in inches, to size the margins.
_CHARACTER_WIDTH = 0.075
# Matplotlib is not documented as thread-safe, and the callbacks draw on
# their own worker threads: one drawing at a time.
_DRAW_LOCK = threading.Lock()


def wants_log_scale(name, values, log_scale):
    """Whether the axes of metric `name` showing `values` use a log y-scale.

    Only loss-like metrics (a name containing "loss") qualify, and only when
    every finite value is positive. `log_scale` is "auto" (log when the values
    span more than a decade), True (log whenever possible) or False.
    """
    if log_scale is False or "loss" not in name:
        return False
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0 or finite.min() <= 0:
        return False
    return bool(log_scale is True or finite.max() / finite.min() > 10)


def history_layout(series, log_scale="auto"):
    """What fixes the axes and lines of a history figure, as a tuple of
    `(name, has train values, has validation values, log y-scale)`."""
    layout = []
    for name, (train, validation) in series.items():
        shown = [v for v in (train, validation) if v is not None]
        log = wants_log_scale(name, np.concatenate(shown), log_scale)
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
    """Sets the lines of a figure made by `history_axes` to `series`."""
    epochs = np.asarray(epochs)
    for axes, (train, validation) in zip(figure.axes, series.values()):
        values = [v for v in (train, validation) if v is not None]
        for line, points in zip(axes.get_lines(), values):
            # Skipping missing epochs (NaN) joins the points that exist, so
            # validation every k epochs still draws a line.
            logged = np.isfinite(points)
            line.set_data(epochs[logged], points[logged])
        axes.relim()
        axes.autoscale_view()


def confusion_matrix_figure(matrix, class_names, title=None, dpi=100):
    """Draws a confusion matrix (rows: true class, columns: predicted class).

    Cells are shaded by the fraction of their row (the recall view), so that
    rare classes stay readable, and annotated with their non-zero counts.
    """
    figure = confusion_matrix_axes(class_names, title, dpi)
    fill_confusion_matrix(figure, matrix)
    return figure


def confusion_matrix_axes(class_names, title=None, dpi=100):
    """An empty confusion matrix figure; see `fill_confusion_matrix`."""
    num_classes = len(class_names)
    label_width = _CHARACTER_WIDTH * max(len(name) for name in class_names)
    left = 0.6 + label_width
    bottom = 0.55 + 0.75 * label_width  # Labels are rotated by 45 degrees.
    side = max(3.0, 0.4 * num_classes)
    # Whole quarter inches: exact in binary, so the size in pixels does not
    # depend on rounding.
    width = math.ceil((left + side + 0.2) * 4) / 4
    height = math.ceil((bottom + side + 0.4) * 4) / 4
    figure = Figure(figsize=(width, height), dpi=dpi)
    axes = figure.add_axes(
        (left / width, bottom / height, side / width, side / height)
    )
    axes.imshow(np.zeros((num_classes, num_classes)), cmap="Blues",
                vmin=0.0, vmax=1.0)
    ticks = np.arange(num_classes)
    axes.set_xticks(ticks, labels=class_names, rotation=45, ha="right",
                    rotation_mode="anchor")
    axes.set_yticks(ticks, labels=class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if num_classes <= _MAX_ANNOTATED_CLASSES:
        for row, column in np.ndindex(num_classes, num_classes):
            axes.text(column, row, "", ha="center", va="center", fontsize=8)
    axes.set_title(title or "confusion matrix (shade: fraction of row)",
                   fontsize=9)
    return figure


def fill_confusion_matrix(figure, matrix):
    """Shows `matrix` in a figure made by `confusion_matrix_axes`."""
    matrix = np.asarray(matrix)
    axes = figure.axes[0]
    fractions = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axes.images[0].set_data(fractions)
    for text, count, fraction in zip(axes.texts, matrix.flat, fractions.flat):
        # Zero cells stay blank: easier to read, and text is what costs
        # most to draw (a trained model has mostly zeros off the diagonal).
        text.set_text(str(count) if count else "")
        text.set_color("white" if fraction > 0.5 else "black")


def figure_to_image(figure):
    """Renders `figure` at its own dpi as a uint8 RGBA tensor [1, h, w, 4].

    The shape is the one `tf.summary.image` expects, which encodes it as
    PNG. Rendering into the Agg buffer skips a PNG encode and decode.
    """
    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(figure)
    with _DRAW_LOCK:
        canvas.draw()
        pixels = np.array(canvas.buffer_rgba())
    return tf.constant(pixels[None])


class ReusedFigure:
    """Keeps the last figure and refills it while its layout is unchanged.

    Refilling the lines or cells of a drawn figure and drawing it again
    costs about half of building and drawing a new one, and a figure is
    drawn at every logged epoch. Not thread-safe: one user thread only. A
    deep copy is empty.
    """

    def __init__(self):
        self._layout = None
        self._figure = None

    def __deepcopy__(self, memo):
        return ReusedFigure()

    def image(self, layout, build, fill):
        """`figure_to_image` of the figure `build()` made for `layout` (or
        of the kept one when `layout` is the same), after `fill(figure)`."""
        if layout != self._layout:
            self._figure, self._layout = build(), layout
        fill(self._figure)
        return figure_to_image(self._figure)


def save_figure(figure, path):
    """Saves `figure` to `path` (format from the extension) atomically.

    The figure is written to a temporary file in the same directory and then
    moved over `path`, so a reader never sees a half-written file.
    """
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    extension = os.path.splitext(name)[1]
    handle, temporary = tempfile.mkstemp(
        prefix=f".{name}.", suffix=extension, dir=directory
    )
    try:
        with os.fdopen(handle, "wb") as file, _DRAW_LOCK:
            figure.savefig(file, format=extension[1:])
        # mkstemp makes the file private (0600); plots are meant to be shared.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


class FigureWorker:
    """Runs figure drawing and writing on one background thread, in order.

    Drawing a figure takes a tenth of a second or more of Python; on a
    thread of its own it overlaps with training, which releases the GIL while
    TensorFlow computes. The thread starts with the first task; `close()`
    waits for every task and stops it. A task that fails is reported by one
    warning (the first failure only), in the calling thread, never raised:
    a figure must not stop training. A deep copy (KerasTuner copies the
    callbacks of each trial) is a new, idle worker.
    """

    def __init__(self, owner):
        self.owner = owner
        self._executor = None
        self._futures = []
        self._warned = False

    def __deepcopy__(self, memo):
        return FigureWorker(self.owner)

    def submit(self, function, *args):
        """Queues `function(*args)` after the tasks already queued."""
        self.report_failures()
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="figure-worker"
            )
        self._futures.append(self._executor.submit(function, *args))

    def report_failures(self, wait=False):
        """Warns about the first failed task; with `wait`, waits for all."""
        if wait:
            concurrent.futures.wait(self._futures)
        done = [future for future in self._futures if future.done()]
        self._futures = [f for f in self._futures if not f.done()]
        failures = [f.exception() for f in done if f.exception() is not None]
        if failures and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.owner}: could not draw or write a figure, training "
                f"goes on: {failures[0]!r}",
                stacklevel=3,
            )

    def close(self):
        """Waits for every task, reports failures and stops the thread."""
        self.report_failures(wait=True)
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
